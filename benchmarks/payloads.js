'use strict'
// Session data for the benchmarks, in two shapes per size:
//
// - flat: one string field `v` of the size's length (the benchmark's original payload);
// - real: what a real session holds: a user object with roles and preferences, a counter, a CSRF
//   token, flash messages, a cart of line items, and a note; nested objects and arrays, integers
//   and decimals, booleans and null, short and long strings, some of which need JSON escaping
//   (quotes, backslashes, newlines, a tab, non-ASCII). Its JSON is the size's length give or take
//   a few bytes (UTF-8).
//
// Both are built deterministically, so every configuration, process and run stores the very same
// data. run.js and server.js both require this file; the benchmark checks the data a server hands
// back against `expectedJson`.

/** Sizes: the JSON length of the session data, in bytes. */
const SIZES = {
  '100B': 100,
  '1KB': 1024,
  // About the largest that still fits one cookie with our default maxCookieSize (4000 bytes for the
  // whole Set-Cookie value): ~3.9 KB once sealed, base64url-encoded and given its attributes.
  '2.7KB': 2700,
  // Only where a store holds the data: no browser keeps a 16 KB cookie.
  '16KB': 16384
}
const SHAPES = ['real', 'flat']

/** The payload's name as run.js shows it: `100B-real`, `16KB-flat`… */
const payloadName = (size, shape) => `${size}-${shape}`

// Needs escaping in JSON: quotes, a backslash, a newline and a tab. (JSON.stringify leaves the
// non-ASCII characters as they are, but they are several bytes in UTF-8.)
const ESCAPED = 'Saved "Q3 plan" to C:\\drafts\n\tnext: review — ok'

function flat (bytes) {
  // {"v":"…"} is 8 bytes around the string.
  return { v: 'x'.repeat(Math.max(1, bytes - 8)) }
}

function real (bytes) {
  const data = {
    user: { id: 48213, roles: ['user'], admin: false },
    n: 0,
    flash: [ESCAPED.slice(0, 10)]
  }
  if (bytes >= 512) {
    Object.assign(data.user, {
      name: 'Ada Lovelace',
      email: 'ada.lovelace@example.com',
      roles: ['user', 'editor', 'billing'],
      verified: true,
      manager: null,
      prefs: { theme: 'dark', locale: 'en-GB', tz: 'Europe/London', pageSize: 25, beta: false }
    })
    data.csrf = 'k3Jd9sQ0vXw2LmPz7RtY1uBn4HcE6aFg'
    data.flash = [{ type: 'info', text: ESCAPED }]
    data.cart = []
    data.lastSeen = 1764756000
    data.returnTo = '/account/orders?page=2&sort=-date'
  }
  // Line items until about three quarters of the size, then the note fills the rest.
  for (let i = 0; data.cart !== undefined && jsonBytes(data) < bytes * 0.75; i++) {
    data.cart.push({ sku: `SKU-${10000 + i * 37}`, qty: 1 + (i % 3), price: Math.round(1999 + i * 137.5) / 100, title: `Item ${i} "limited" édition`, gift: i % 4 === 0 })
  }
  const room = bytes - jsonBytes({ ...data, note: '' })
  data.note = note(Math.max(0, room))
  return data
}

const jsonBytes = (value) => Buffer.byteLength(JSON.stringify(value))

// A string whose JSON is `length` bytes or a byte or two less: words, with a newline and a quote
// (each two bytes in JSON) now and then.
function note (length) {
  const words = 'the quick brown fox jumps over the lazy dog and keeps "running"\n'
  let text = ''
  while (JSON.stringify(text).length - 2 < length) text += words[text.length % words.length]
  while (text.length > 0 && JSON.stringify(text).length - 2 > length) text = text.slice(0, -1)
  return text
}

/**
 * The data of a payload, a fresh object each call (so no caller can change another's copy).
 * `custom` is the JSON file that BENCH_PAYLOAD_FILE names (run.js --payload-file sets it).
 */
function payloadData (name) {
  if (name === 'custom') return customPayload(process.env.BENCH_PAYLOAD_FILE)
  const [size, shape] = splitName(name)
  return shape === 'flat' ? flat(SIZES[size]) : real(SIZES[size])
}

/** A user's payload file, or an Error saying why it cannot be one. */
function customPayload (file) {
  if (!file) throw new Error('payload "custom" needs --payload-file <file.json>')
  let data
  try {
    data = JSON.parse(require('node:fs').readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`payload file ${file} is not readable JSON: ${err.message}`)
  }
  const why = checkPayload(data)
  if (why !== undefined) throw new Error(`payload file ${file} cannot be a session payload: ${why}`)
  if (data.n !== undefined && !Number.isSafeInteger(data.n)) throw new Error(`payload file ${file}: "n" is the counter that /rw increments, so it must be an integer or absent`)
  if (dataKeys(data).length === 0) throw new Error(`payload file ${file}: it needs at least one key besides the counter "n"`)
  return data
}

function splitName (name) {
  const dash = name.lastIndexOf('-')
  const size = name.slice(0, dash)
  const shape = name.slice(dash + 1)
  if (!(size in SIZES) || !SHAPES.includes(shape)) throw new Error(`unknown payload "${name}"`)
  return [size, shape]
}

/** The keys a payload's data has besides the counter `n` that /rw increments. */
const dataKeys = (data) => Object.keys(data).filter((k) => k !== 'n')

/** What /check must answer for a session that holds `data`: its JSON without `n`, keys in order. */
function expectedJson (data) {
  const out = {}
  for (const key of dataKeys(data)) out[key] = data[key]
  return JSON.stringify(out)
}

/**
 * Why `data` cannot be a session payload, or undefined: it must be a plain object that survives
 * JSON unchanged (no undefined, functions, NaN, Infinity, -0, class instances, cycles).
 */
function checkPayload (data) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return 'it is not a JSON object'
  let json
  try {
    json = JSON.stringify(data)
  } catch (err) {
    return `it cannot be turned into JSON (${err.message})`
  }
  if (json !== JSON.stringify(JSON.parse(json)) || !sameJson(data, JSON.parse(json))) return 'it does not survive a JSON round trip unchanged'
  return undefined
}

function sameJson (a, b) {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const proto = Object.getPrototypeOf(a)
  if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameJson(a[k], b[k]))
}

module.exports = { SIZES, SHAPES, payloadName, payloadData, splitName, dataKeys, expectedJson, checkPayload }
