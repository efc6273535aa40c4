// Property-based fuzzing (fast-check) of everything an attacker controls: the cookie value and the
// whole Cookie header. Three properties:
//   1. a mutated valid token (ours or jose's) is never accepted, by the codec or over HTTP, unless it
//      is byte for byte the original (or, over HTTP, the cookie parser turns it back into it);
//   2. any Cookie header gives a 200 with an empty session or the one genuine session it names,
//      never another user's, never a 5xx, never a warn/error log line;
//   3. one open() costs at most one AES-GCM decryption whatever the input, none when oversized.
//
// Runs: 300 per property by default (CI); FUZZ_RUNS=100000 for a long run (scripts/fuzz-long.sh).
// A failure prints fast-check's seed and path; replay that one property with
//   FUZZ_SEED=<seed> FUZZ_PATH=<path> npx tap test/fuzz.test.ts --grep '<subtest name>'
// (tokens carry fresh random IVs, so a replay has the same shape of input, not the same bytes).
import t, { type Test } from 'tap'
import assert from 'node:assert/strict'
import * as crypto from 'node:crypto'
import fc from 'fast-check'
import { CompactEncrypt, base64url } from 'jose'
import type { FastifyInstance } from 'fastify'
import { build, engine, KEY1, KEY2, generateKey } from './helpers/app.js'
import { joseToken } from './helpers/jose.js'
import type { GeneratedKey } from '../lib/keys/generate.js'
import { KeyRing } from '../lib/keys/keyring.js'
import { parseKeySet } from '../lib/keys/parse.js'
import type { Codec } from '../lib/codec.js'

// ---------------------------------------------------------------------------------------------
// Run configuration

function positiveInt (name: string): number | undefined {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`)
  return n
}

const RUNS = positiveInt('FUZZ_RUNS') ?? 300
const SEED = process.env.FUZZ_SEED === undefined || process.env.FUZZ_SEED === '' ? undefined : Number(process.env.FUZZ_SEED)
if (SEED !== undefined && !Number.isSafeInteger(SEED)) throw new Error(`FUZZ_SEED must be an integer, got ${JSON.stringify(process.env.FUZZ_SEED)}`)
const PATH = process.env.FUZZ_PATH === '' ? undefined : process.env.FUZZ_PATH

function params<T> (): fc.Parameters<T> {
  // includeErrorInReport: the failed assertion's message (which names the input) goes into the report.
  const p: fc.Parameters<T> = { numRuns: RUNS, includeErrorInReport: true }
  if (SEED !== undefined) p.seed = SEED
  if (PATH !== undefined) p.path = PATH
  return p
}

t.comment(`fuzz: ${RUNS} runs per property${SEED === undefined ? '' : `, seed ${SEED}`}`)

// ---------------------------------------------------------------------------------------------
// Mutations of a token string

const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

type Mutation =
  | { op: 'bitflip', seg: number, byte: number, bit: number }
  | { op: 'insert', pos: number, ch: string }
  | { op: 'delete', pos: number }
  | { op: 'substitute', pos: number, ch: string }
  | { op: 'swap', i: number, j: number }
  | { op: 'duplicate', i: number, j: number }
  | { op: 'remove', i: number }
  | { op: 'std-base64', seg: number, pad: boolean }
  | { op: 'pad', seg: number, n: number }
  | { op: 'noncanonical', seg: number, delta: number }
  | { op: 'percent', pos: number, all: boolean, lower: boolean }
  | { op: 'whitespace', pos: number, ws: string, where: 'start' | 'end' | 'inside' }
  | { op: 'truncate', keep: number }

const charArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...B64URL_ALPHABET.split('')),
  fc.constantFrom('.', '=', '+', '/', '%', ';', '"', ',', '\\', ' ', '\t', '\n', '\r', '\0', '\u00a0', '\u00e9', '\u2028', '\ufeff', '\u{1F600}', '\uFF21'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })
)
const whitespaceArb = fc.constantFrom(' ', '  ', '\t', '\n', '\r\n', '\v', '\f', '\u00a0', '\u2028', '\u3000', '\ufeff')
const pos = fc.nat({ max: 10_000 })

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('bitflip' as const), seg: pos, byte: pos, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('insert' as const), pos, ch: charArb }),
  fc.record({ op: fc.constant('delete' as const), pos }),
  fc.record({ op: fc.constant('substitute' as const), pos, ch: charArb }),
  fc.record({ op: fc.constant('swap' as const), i: pos, j: pos }),
  fc.record({ op: fc.constant('duplicate' as const), i: pos, j: pos }),
  fc.record({ op: fc.constant('remove' as const), i: pos }),
  fc.record({ op: fc.constant('std-base64' as const), seg: pos, pad: fc.boolean() }),
  fc.record({ op: fc.constant('pad' as const), seg: pos, n: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constant('noncanonical' as const), seg: pos, delta: pos }),
  fc.record({ op: fc.constant('percent' as const), pos, all: fc.boolean(), lower: fc.boolean() }),
  fc.record({ op: fc.constant('whitespace' as const), pos, ws: whitespaceArb, where: fc.constantFrom('start' as const, 'end' as const, 'inside' as const) }),
  fc.record({ op: fc.constant('truncate' as const), keep: pos })
)
const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 3 })

function percentOf (ch: string, lower: boolean): string {
  const code = ch.charCodeAt(0)
  let out: string
  if (ch.length === 1 && code < 0x80) out = `%${code.toString(16).padStart(2, '0')}`
  else {
    try {
      out = encodeURIComponent(ch)
    } catch {
      out = '%EF%BF%BD' // a lone surrogate has no UTF-8 form
    }
  }
  return lower ? out.toLowerCase() : out.toUpperCase()
}

function applyMutation (token: string, m: Mutation): string {
  const segs = token.split('.')
  const at = (n: number, len: number): number => len === 0 ? 0 : n % len
  switch (m.op) {
    case 'bitflip': {
      const i = at(m.seg, segs.length)
      const bytes = Buffer.from(segs[i]!, 'base64url')
      if (bytes.length === 0) segs[i] = Buffer.from([1 << m.bit]).toString('base64url')
      else {
        bytes[m.byte % bytes.length]! ^= 1 << m.bit
        segs[i] = bytes.toString('base64url')
      }
      return segs.join('.')
    }
    case 'insert': {
      const p = m.pos % (token.length + 1)
      return token.slice(0, p) + m.ch + token.slice(p)
    }
    case 'delete': {
      if (token.length === 0) return token
      const p = m.pos % token.length
      return token.slice(0, p) + token.slice(p + 1)
    }
    case 'substitute': {
      if (token.length === 0) return m.ch
      const p = m.pos % token.length
      return token.slice(0, p) + m.ch + token.slice(p + 1)
    }
    case 'swap': {
      const i = at(m.i, segs.length)
      const j = at(m.j, segs.length)
      const tmp = segs[i]!
      segs[i] = segs[j]!
      segs[j] = tmp
      return segs.join('.')
    }
    case 'duplicate': {
      const i = at(m.i, segs.length)
      segs.splice(m.j % (segs.length + 1), 0, segs[i]!)
      return segs.join('.')
    }
    case 'remove': {
      segs.splice(at(m.i, segs.length), 1)
      return segs.join('.')
    }
    case 'std-base64': {
      const i = at(m.seg, segs.length)
      const std = Buffer.from(segs[i]!, 'base64url').toString('base64')
      segs[i] = m.pad ? std : std.replace(/=+$/, '')
      return segs.join('.')
    }
    case 'pad': {
      const i = at(m.seg, segs.length)
      segs[i] = segs[i]! + '='.repeat(m.n)
      return segs.join('.')
    }
    case 'noncanonical': {
      // Same decoded bytes, different text: set spare low bits of the last character. Only
      // segments whose length mod 4 is 2 (4 spare bits) or 3 (2 spare bits) have any.
      const candidates = segs.map((s, i) => [s, i] as const).filter(([s]) => s.length % 4 === 2 || s.length % 4 === 3)
      if (candidates.length === 0) return token
      const [s, i] = candidates[m.seg % candidates.length]!
      const v = B64URL_ALPHABET.indexOf(s[s.length - 1]!)
      if (v === -1) return token
      const mask = s.length % 4 === 2 ? 0b1111 : 0b11
      segs[i] = s.slice(0, -1) + B64URL_ALPHABET[v ^ (1 + (m.delta % mask))]!
      return segs.join('.')
    }
    case 'percent': {
      if (token.length === 0) return token
      if (m.all) return Array.from(token, (ch) => percentOf(ch, m.lower)).join('')
      const p = m.pos % token.length
      return token.slice(0, p) + percentOf(token[p]!, m.lower) + token.slice(p + 1)
    }
    case 'whitespace': {
      if (m.where === 'start') return m.ws + token
      if (m.where === 'end') return token + m.ws
      const p = m.pos % (token.length + 1)
      return token.slice(0, p) + m.ws + token.slice(p)
    }
    case 'truncate':
      return token.slice(0, m.keep % (token.length + 1))
  }
}

const mutate = (token: string, ms: readonly Mutation[]): string => ms.reduce(applyMutation, token)

// ---------------------------------------------------------------------------------------------
// How the server sees a Cookie header: @fastify/cookie (cookie@2 parseCookie) splits on ';', skips
// pieces without '=', trims spaces and tabs around names and values, percent-decodes values when
// that succeeds, and keeps the first value of a name. The plugin's policy on top of that: exactly
// one cookie named `session` or no session at all.

function trimBlanks (s: string): string {
  return s.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '')
}

function decodeValue (s: string): string {
  if (!s.includes('%')) return s
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

function serverView (header: string, name = 'session'): { count: number, value: string | undefined } {
  let count = 0
  let value: string | undefined
  if (header.length < 2) return { count, value }
  for (const piece of header.split(';')) {
    const eq = piece.indexOf('=')
    if (eq === -1) continue
    if (trimBlanks(piece.slice(0, eq)) !== name) continue
    count++
    if (count === 1) value = decodeValue(trimBlanks(piece.slice(eq + 1)))
  }
  return { count, value }
}

// ---------------------------------------------------------------------------------------------
// Shared app plumbing

interface Who { id: string, isNew: boolean, data: Record<string, unknown> }

function whoRoutes (app: FastifyInstance): void {
  app.get('/who', async (req) => ({ id: req.session.id, isNew: req.session.isNew, data: req.session.data() }))
}

interface Genuine { token: string, id: string, data: Record<string, unknown> }

async function who (app: FastifyInstance, cookie: string): Promise<{ status: number, body: Who | undefined }> {
  const res = await app.inject({ url: '/who', headers: { cookie } })
  return { status: res.statusCode, body: res.statusCode === 200 ? res.json() as Who : undefined }
}

/** The response must carry exactly `expected`'s session, or (expected undefined) a new empty one. */
function assertSession (body: Who, expected: Genuine | undefined, genuine: readonly Genuine[], context: string): void {
  if (expected !== undefined) {
    assert.equal(body.isNew, false, `${context}: the genuine session was not loaded`)
    assert.equal(body.id, expected.id, `${context}: wrong session id`)
    assert.deepEqual(body.data, expected.data, `${context}: wrong session data`)
    return
  }
  assert.equal(body.isNew, true, `${context}: expected an empty session, got ${JSON.stringify(body)}`)
  assert.deepEqual(body.data, {}, `${context}: empty session has data`)
  for (const g of genuine) assert.notEqual(body.id, g.id, `${context}: carries a genuine session's id`)
}

function assertQuietLogs (logs: Record<string, unknown>[], rawLogs: string[], secrets: readonly string[], context: string): void {
  const loud = logs.find((l) => typeof l.level === 'number' && l.level >= 40)
  assert.equal(loud, undefined, `${context}: a warn/error log line: ${JSON.stringify(loud)}`)
  for (const s of secrets) {
    assert.ok(!rawLogs.some((l) => l.includes(s)), `${context}: a cookie value reached the log`)
  }
  logs.length = 0
  rawLogs.length = 0
}

const JSON_HEADER_ORDERS = [['alg', 'enc', 'kid'], ['kid', 'alg', 'enc'], ['enc', 'kid', 'alg']] as const

type Alg = 'dir' | 'A256KW'

/** A jose-sealed token (alg dir or A256KW) whose protected header has its members in `order`. */
async function joseOrdered (key: GeneratedKey, alg: Alg, order: number, claims: Record<string, unknown>): Promise<string> {
  if (alg === 'dir' && order === 0) return joseToken(key, claims)
  const members: Record<string, string> = { alg, enc: 'A256GCM', kid: key.kid }
  const header: Record<string, string> = {}
  for (const name of JSON_HEADER_ORDERS[order]!) header[name] = members[name]!
  const now = Math.floor(Date.now() / 1000)
  const body = { sid: 'AAAAAAAAAAAAAAAAAAAAAA', aud: 'fastify-encrypted-session#session', iat: now, exp: now + 3600, dat: {}, ...claims }
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(body)))
    .setProtectedHeader(header as { alg: Alg, enc: 'A256GCM' })
    .encrypt(base64url.decode(key.key))
}

const dataArb = fc.dictionary(
  fc.string({ maxLength: 8 }),
  fc.oneof(fc.integer(), fc.string({ maxLength: 16 }), fc.boolean(), fc.constant(null)),
  { maxKeys: 4 }
)

type Source =
  | { kind: 'ours', data: Record<string, unknown> }
  | { kind: 'jose', key: 'k1' | 'k2', alg: Alg, order: number, data: Record<string, unknown> }

/** Tokens the app must accept: ours, and jose's with any member order (A256KW only when it is on). */
const sourceArb = (algs: readonly Alg[]): fc.Arbitrary<Source> => fc.oneof(
  fc.record({ kind: fc.constant('ours' as const), data: dataArb }),
  fc.record({
    kind: fc.constant('jose' as const),
    key: fc.constantFrom('k1' as const, 'k2' as const),
    alg: fc.constantFrom(...algs),
    order: fc.integer({ min: 0, max: 2 }),
    data: dataArb
  })
)

const roundTrip = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T

// ---------------------------------------------------------------------------------------------
// 1. Mutated valid tokens are never accepted

// keyManagement 'A256KW' (key wrapping) adds a 40-byte encrypted-key segment and a second header
// form; dir tokens stay valid under it. Both modes are fuzzed.
for (const mode of ['dir', 'A256KW'] as const) {
  t.test(`mutated valid tokens are refused by the codec and give an empty session over HTTP (keyManagement ${mode})`, async (t) => {
  // Two keys: k2 is decrypt-only, so tokens sealed with it take the rotation path when genuine.
    const options = { keys: `${KEY1.entry},${KEY2.entry}`, ...(mode === 'A256KW' ? { keyManagement: 'A256KW' } : {}) }
    const { app, logs, rawLogs } = await build(t, options, whoRoutes)
    const manager = engine(app)
    const keys = { k1: KEY1, k2: KEY2 }
    let unchanged = 0
    let mutatedCount = 0

    async function sealFrom (source: Source): Promise<Genuine> {
      if (source.kind === 'ours') {
        const token = app.encryptedSession.get().seal(source.data)
        const session = app.encryptedSession.get().open(token)
        assert.ok(session !== null, 'our own fresh token opens')
        return { token, id: session.id, data: roundTrip(source.data) }
      }
      const sid = crypto.randomBytes(16).toString('base64url')
      const token = await joseOrdered(keys[source.key], source.alg, source.order, { sid, dat: source.data })
      return { token, id: sid, data: roundTrip(source.data) }
    }

    await fc.assert(fc.asyncProperty(sourceArb(mode === 'dir' ? ['dir'] : ['dir', 'A256KW']), mutationsArb, async (source, mutations) => {
      const original = await sealFrom(source)
      assert.equal(typeof manager.codec.open(original.token, 4096), 'object', 'the unmutated token opens')
      const mutated = mutate(original.token, mutations)
      const shown = JSON.stringify(mutated)

      // Codec level: any other string is refused, with a reason, without throwing.
      const result = manager.codec.open(mutated, 4096)
      if (mutated === original.token) {
        unchanged++
        assert.equal(typeof result, 'object', 'an identical token opens')
      } else {
        mutatedCount++
        assert.equal(typeof result, 'string', `codec accepted a mutated token ${shown} (original ${original.token})`)
      }

      // HTTP level: 200, and the genuine session only when the cookie parser hands the plugin exactly
      // the original (percent-encoding and surrounding blanks are undone by the parser); else empty.
      const header = `session=${mutated}`
      const { status, body } = await who(app, header)
      assert.equal(status, 200, `status ${status} for cookie ${shown}`)
      const view = serverView(header)
      const expected = view.count === 1 && view.value === original.token ? original : undefined
      assertSession(body!, expected, [original], `cookie ${shown}`)
      assertQuietLogs(logs, rawLogs, [original.token.slice(-40)], `cookie ${shown}`)
    }), params())

    if (PATH === undefined) t.ok(mutatedCount > 0, `${mutatedCount} mutated tokens refused (${unchanged} mutations happened to be identity)`)
    t.equal(manager.metrics.rejected.duplicate, 0, 'one cookie per request: never a duplicate')
  })
}

for (const mode of ['dir', 'A256KW'] as const) {
  t.test(`mutations that keep the decoded bytes are refused too (focused re-encodings, keyManagement ${mode})`, async (t) => {
    const { app } = await build(t, mode === 'A256KW' ? { keyManagement: 'A256KW' } : {}, whoRoutes)
    const codec = engine(app).codec
    const reencodings = fc.oneof(
      fc.record({ op: fc.constant('std-base64' as const), seg: pos, pad: fc.boolean() }),
      fc.record({ op: fc.constant('pad' as const), seg: pos, n: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ op: fc.constant('noncanonical' as const), seg: pos, delta: pos }),
      fc.record({ op: fc.constant('percent' as const), pos, all: fc.boolean(), lower: fc.boolean() }),
      fc.record({ op: fc.constant('whitespace' as const), pos, ws: whitespaceArb, where: fc.constantFrom('start' as const, 'end' as const, 'inside' as const) })
    )
    // Payloads of every length mod 3, so the ciphertext has 0, 2 and 4 spare bits in its last character.
    // Our header (the exact-match fast path) and a reordered one (parsed): both must be canonical.
    const current = codec.ring.current
    const reordered = (alg: Alg): string => Buffer.from(`{"kid":"${current.kid}","enc":"A256GCM","alg":"${alg}"}`).toString('base64url')
    const reorderedEntry = {
      ...current,
      header: reordered('dir'),
      aad: Buffer.from(reordered('dir'), 'ascii'),
      kwHeader: reordered('A256KW'),
      kwAad: Buffer.from(reordered('A256KW'), 'ascii')
    }
    await fc.assert(fc.property(fc.string({ maxLength: 40 }), fc.boolean(), reencodings, (text, ours, m) => {
      const token = codec.seal(text, ours ? current : reorderedEntry)
      assert.equal(typeof codec.open(token, 4096), 'object', 'the unmutated token opens')
      const mutated = applyMutation(token, m)
      const result = codec.open(mutated, 4096)
      if (mutated !== token) assert.equal(typeof result, 'string', `codec accepted ${JSON.stringify(mutated)} (original ${token})`)
    }), params())
    t.pass('no re-encoding of a token was accepted')
  })
}

// ---------------------------------------------------------------------------------------------
// 2. Arbitrary Cookie headers

t.test('arbitrary Cookie headers: 200, the one genuine session or an empty one, never another user\'s', async (t) => {
  const { app, logs, rawLogs } = await build(t, {}, whoRoutes)
  const api = app.encryptedSession.get()
  const seed = (data: Record<string, unknown>): Genuine => {
    const token = api.seal(data)
    return { token, id: api.open(token)!.id, data }
  }
  const victim = seed({ owner: 'victim', role: 'admin' })
  const other = seed({ owner: 'other', role: 'user' })
  const genuine = [victim, other]
  // A token for another cookie name under the same key: authenticates, refused as `context`.
  const foreign = await joseToken(KEY1, { aud: 'fastify-encrypted-session#session2', dat: { owner: 'foreign' } })

  const sessionNames = ['session', ' session', '\tsession', '  session']
  const lookAlikes = ['session2', 'SESSION', 'Session', '__Host-session', '__Secure-session', 'xsession', 'my_session',
    'session_', 'sessio', 'session.', 'sess%69on', '"session"', 'session-', 'sessionsession', '']
  // Blanks around the name: a parser trims them, so these are the session cookie too.
  const blankedNames = ['session ', 'session\t', ' session \t']
  const nameArb = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...sessionNames) },
    { weight: 3, arbitrary: fc.constantFrom(...lookAlikes, ...blankedNames) },
    { weight: 1, arbitrary: fc.string({ maxLength: 10 }) }
  )
  const longArb = fc.tuple(fc.constantFrom('A', '%', '=', '"', 'é', victim.token), fc.integer({ min: 1, max: 16 * 1024 }))
    .map(([c, n]) => c.repeat(Math.ceil(n / c.length)).slice(0, n))
  const valueArb = fc.oneof(
    { weight: 4, arbitrary: fc.constant(victim.token) },
    { weight: 2, arbitrary: fc.constant(other.token) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('', foreign, `"${victim.token}"`, ` ${victim.token} `, `${victim.token}\t`,
        Array.from(victim.token, (ch) => percentOf(ch, false)).join(''), `${victim.token};`, `${victim.token}=`)
    },
    { weight: 2, arbitrary: mutationsArb.map((ms) => mutate(victim.token, ms)) },
    { weight: 2, arbitrary: fc.string({ maxLength: 30 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
    { weight: 1, arbitrary: longArb }
  )
  const separatorArb = fc.constantFrom('; ', ';', ';  ', ';\t', ' ;', '; ;', ',', ', ', ';;')
  const pieceArb = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(nameArb, valueArb).map(([n, v]) => `${n}=${v}`) },
    { weight: 1, arbitrary: fc.constantFrom('flag', 'session', '=', '=x', '"', ' ') }
  )
  const structuredArb = fc.tuple(fc.array(fc.tuple(pieceArb, separatorArb), { minLength: 1, maxLength: 6 }), fc.boolean())
    .map(([pieces, trailing]) => pieces.map(([p, s], i) => i < pieces.length - 1 || trailing ? p + s : p).join(''))
  // The victim's cookie exactly once, somewhere among look-alikes: must be the victim's session.
  const victimAmongLookAlikesArb = fc.tuple(
    fc.array(fc.tuple(fc.constantFrom(...lookAlikes), valueArb), { maxLength: 5 }),
    fc.nat(),
    fc.constantFrom(...sessionNames),
    separatorArb
  ).map(([pairs, at, name, sep]) => {
    const pieces = pairs.map(([n, v]) => `${n}=${v}`)
    pieces.splice(at % (pieces.length + 1), 0, `${name}=${victim.token}`)
    return pieces.join(sep)
  })
  // Token soup: names, separators and genuine tokens glued in any order.
  const soupArb = fc.string({
    unit: fc.constantFrom('session', 'session', '=', '=', ';', '; ', ' ', '\t', '"', ',', 'x', '%', victim.token, other.token, '__Host-'),
    maxLength: 12
  })
  const headerArb = fc.oneof(
    { weight: 6, arbitrary: structuredArb },
    { weight: 2, arbitrary: victimAmongLookAlikesArb },
    { weight: 2, arbitrary: soupArb },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: longArb.map((v) => `session=${v}`) }
  )

  const seen = { victim: 0, other: 0, duplicateWithVictim: 0, empty: 0, long: 0 }
  await fc.assert(fc.asyncProperty(headerArb, async (header) => {
    const named = header.replaceAll(victim.token, '<victim>').replaceAll(other.token, '<other>')
    const shown = JSON.stringify(named.length > 300 ? `${named.slice(0, 300)}…(${named.length} chars)` : named)
    const { status, body } = await who(app, header)
    assert.equal(status, 200, `status ${status} for Cookie ${shown}`)
    const view = serverView(header)
    const expected = view.count === 1 ? genuine.find((g) => g.token === view.value) : undefined
    assertSession(body!, expected, genuine, `Cookie ${shown}`)
    assertQuietLogs(logs, rawLogs, [victim.token.slice(-40), other.token.slice(-40)], `Cookie ${shown}`)
    if (expected === victim) seen.victim++
    else if (expected === other) seen.other++
    else seen.empty++
    if (view.count > 1 && header.includes(victim.token)) seen.duplicateWithVictim++
    if (header.length > 4096) seen.long++
  }), params())

  t.comment(`header classes: ${JSON.stringify(seen)}`)
  if (PATH === undefined) t.ok(seen.victim > 0 && seen.duplicateWithVictim > 0 && seen.empty > 0, 'the generator reached the victim alone, the victim with a second session cookie, and refusals')
  if (PATH === undefined) t.ok(engine(app).metrics.rejected.duplicate > 0, 'duplicates were counted as such')
})

// The policy the property checks, on fixed inputs: readable when the property fails.
t.test('duplicate policy on hand-picked headers', async (t) => {
  const { app } = await build(t, {}, whoRoutes)
  const api = app.encryptedSession.get()
  const victim = api.seal({ owner: 'victim' })
  const other = api.seal({ owner: 'other' })
  const cases: [string, 'victim' | 'empty'][] = [
    [`session=${victim}`, 'victim'],
    [` session=${victim}; session2=${other}; SESSION=${other}; __Host-session=${other}`, 'victim'],
    [`session=${victim}; session=${victim}`, 'empty'],
    [`session=${victim}; session=${other}`, 'empty'],
    [`session=${other};\tsession=${victim}`, 'empty'],
    [`session=${victim}; session=`, 'empty'],
    [`session="${victim}"`, 'empty']
  ]
  for (const [header, want] of cases) {
    const { status, body } = await who(app, header)
    t.equal(status, 200)
    t.same(body!.data, want === 'victim' ? { owner: 'victim' } : {}, header.replaceAll(victim, '<victim>').replaceAll(other, '<other>'))
  }
})

// ---------------------------------------------------------------------------------------------
// 3. Bounded cost: no trial decryption. With dir, at most one createDecipheriv per open(); with
// A256KW on, at most one key unwrap plus one AES-GCM decryption; none at all over maxLength.

interface Counting { dir: Codec, wrap: Codec, ring: KeyRing, calls: () => { gcm: number, kw: number, total: number } }

async function countingCodecs (t: Test): Promise<Counting> {
  const calls = { gcm: 0, kw: 0, total: 0 }
  const mocked = t.mockRequire('../lib/codec.js', {
    'node:crypto': {
      ...crypto,
      createDecipheriv: (...args: Parameters<typeof crypto.createDecipheriv>) => {
        calls.total++
        if (String(args[0]).toLowerCase() === 'aes-256-gcm') calls.gcm++
        else calls.kw++
        return crypto.createDecipheriv(...args)
      }
    }
  }) as typeof import('../lib/codec.js')
  // Ten keys: a trial-decrypting codec would show up as up to ten decryptions per token.
  const others = Array.from({ length: 8 }, (_, i) => generateKey(`old${i}`).entry)
  const ring = new KeyRing(parseKeySet([KEY1.entry, ...others, KEY2.entry].join(',')))
  return { dir: new mocked.Codec(ring), wrap: new mocked.Codec(ring, () => {}, true), ring, calls: () => ({ ...calls }) }
}

type Input =
  | { kind: 'raw', text: string }
  | { kind: 'structured', kid: string, order: number, alg: string, enc: string, extra: boolean, ek: Uint8Array | null, iv: Uint8Array, ct: Uint8Array, tag: Uint8Array }
  | { kind: 'sealed', by: Alg, kid: string, size: number, mutations: Mutation[] }

for (const mode of ['dir', 'A256KW'] as const) {
  t.test(`open() does no trial decryption and no decryption work over maxLength (keyManagement ${mode})`, async (t) => {
    const counting = await countingCodecs(t)
    const { ring, calls } = counting
    const codec = mode === 'dir' ? counting.dir : counting.wrap
    const sealers = { dir: counting.dir, A256KW: counting.wrap }
    const kids = ring.kids
    const kidArb = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...kids) }, { weight: 1, arbitrary: fc.constantFrom('stranger', '', 'k1 ', 'K1') })
    const bytes = (typical: number): fc.Arbitrary<Uint8Array> => fc.oneof(
      { weight: 4, arbitrary: fc.uint8Array({ minLength: typical, maxLength: typical }) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: typical + 8 }) }
    )
    const inputArb: fc.Arbitrary<Input> = fc.oneof(
      fc.record({ kind: fc.constant('raw' as const), text: fc.string({ maxLength: 300 }) }),
      fc.record({ kind: fc.constant('raw' as const), text: fc.string({ unit: 'binary', maxLength: 300 }) }),
      fc.record({ kind: fc.constant('raw' as const), text: fc.string({ unit: fc.constantFrom(...B64URL_ALPHABET.split(''), '.', '..'), maxLength: 400 }) }),
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('structured' as const),
          kid: kidArb,
          order: fc.integer({ min: 0, max: 2 }),
          alg: fc.oneof({ weight: 5, arbitrary: fc.constantFrom('dir', 'A256KW') }, { weight: 1, arbitrary: fc.constantFrom('A128KW', 'none', 'DIR') }),
          enc: fc.oneof({ weight: 5, arbitrary: fc.constant('A256GCM') }, { weight: 1, arbitrary: fc.constantFrom('A128GCM', 'A256CBC-HS512') }),
          extra: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
          // null: the segment the alg calls for (empty for dir, 40 bytes for A256KW); else any bytes.
          ek: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: bytes(40) }),
          iv: bytes(12),
          ct: fc.uint8Array({ maxLength: 200 }),
          tag: bytes(16)
        })
      },
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('sealed' as const),
          by: fc.constantFrom<Alg>('dir', 'A256KW'),
          kid: fc.constantFrom(...kids),
          size: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 2900, max: 7000 })),
          mutations: fc.oneof(fc.constant<Mutation[]>([]), fc.array(mutationArb, { minLength: 1, maxLength: 2 }))
        })
      }
    )
    const maxLengthArb = fc.oneof(fc.constant(4096), fc.integer({ min: 0, max: 9000 }))

    function realise (input: Input): string {
      switch (input.kind) {
        case 'raw':
          return input.text
        case 'structured': {
          const members: Record<string, string> = { alg: input.alg, enc: input.enc, kid: input.kid }
          const header: Record<string, string> = {}
          for (const name of JSON_HEADER_ORDERS[input.order]!) header[name] = members[name]!
          if (input.extra) header.zip = 'DEF'
          const b = (u: Uint8Array): string => Buffer.from(u).toString('base64url')
          const ek = input.ek ?? (input.alg === 'A256KW' ? new Uint8Array(40).fill(7) : new Uint8Array(0))
          return `${b(Buffer.from(JSON.stringify(header)))}.${b(ek)}.${b(input.iv)}.${b(input.ct)}.${b(input.tag)}`
        }
        case 'sealed':
          return mutate(sealers[input.by].seal('x'.repeat(input.size), ring.byKid(input.kid)!), input.mutations)
      }
    }

    let decrypted = 0
    let unwrapped = 0
    let oversized = 0
    await fc.assert(fc.property(inputArb, maxLengthArb, (input, maxLength) => {
      const token = realise(input)
      const shown = JSON.stringify(token.length > 200 ? `${token.slice(0, 200)}…(${token.length} chars)` : token)
      const before = calls()
      const result = codec.open(token, maxLength)
      const after = calls()
      const gcm = after.gcm - before.gcm
      const kw = after.kw - before.kw
      assert.ok(gcm <= 1, `${gcm} AES-GCM decryptions for ${shown}`)
      assert.ok(kw <= (mode === 'dir' ? 0 : 1), `${kw} key unwraps for ${shown}`)
      if (mode === 'dir') assert.ok(after.total - before.total <= 1, `more than one createDecipheriv for ${shown}`)
      if (token.length > maxLength) {
        oversized++
        assert.equal(gcm + kw, 0, `decryption work on an input over maxLength (${token.length} > ${maxLength}): ${shown}`)
        assert.equal(result, 'oversized')
      }
      if (typeof result !== 'string') assert.equal(gcm, 1, 'an accepted token was decrypted exactly once')
      if (input.kind === 'sealed' && input.mutations.length === 0 && token.length <= maxLength && (mode === 'A256KW' || input.by === 'dir')) {
        assert.equal(typeof result, 'object', 'an untouched token from the ring opens')
      }
      decrypted += gcm
      unwrapped += kw
    }), params())
    t.comment(`${decrypted} decryptions, ${unwrapped} key unwraps, ${oversized} oversized inputs`)
    if (PATH === undefined) t.ok(decrypted > 0 && oversized > 0 && (mode === 'dir' || unwrapped > 0), 'the generator reached decryption, key unwrapping and the length limit')
  })
}
