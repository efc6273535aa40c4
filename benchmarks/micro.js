'use strict'
// Micro-benchmarks of the seal and open path, next to raw node:crypto AES-256-GCM on the same
// number of bytes, so the table shows what the JWE framing, base64url, JSON and claim checks add
// on top of the cipher itself.
//
//   npm run build && node benchmarks/micro.js [--time <ms per task>] [--rounds <n>]
//
// On a shared VM the speed of the machine drifts by a third within minutes, so a task timed once
// and its raw counterpart timed seconds later are not comparable. The tasks therefore run in
// rounds (each round all tasks, in an order rotated per round, `time / rounds` ms each), and the
// table reports medians over rounds; the round-trip ratio is taken within each round first.
//
// Levels, from the outside in:
//   manager.seal(data) / manager.open(token)  the whole path a request takes: claims, JSON, JWE
//   codec.seal(plaintext) / codec.open(token)  the JWE layer only: AES-GCM + base64url + header
//   raw seal / raw open                        createCipheriv / createDecipheriv and nothing else
//   secretbox seal / open                      libsodium's crypto_secretbox_easy / _open_easy, the
//                                              primitive @fastify/secure-session seals with (context)

const { createCipheriv, createDecipheriv, randomBytes } = require('node:crypto')
const path = require('node:path')
const { parseArgs } = require('node:util')
// BENCH_PLUGIN: another build to measure (absolute path to its index.js), as in server.js.
const plugin = require(process.env.BENCH_PLUGIN || '../dist/lib/index.js')

const SIZES = { '100B': 100, '1KB': 1024, '2.7KB': 2700, '16KB': 16384 }

async function main () {
  const { values } = parseArgs({ options: { time: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '5' } } })
  const time = Number(values.time)
  const rounds = Number(values.rounds)
  if (!Number.isFinite(time) || time < 10) throw new Error('--time must be a number of milliseconds, at least 10')
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) throw new Error('--rounds must be an integer from 1 to 100')
  // tinybench 5 is ESM-only; import() works from CommonJS on every Node this package supports.
  const { Bench } = await import('tinybench')

  const app = require('fastify')({ logger: false })
  // cache: false, or every open after the first would be a cache hit and measure a Map lookup.
  await app.register(plugin, { keys: plugin.generateKey('k1').entry, cookie: { secure: false }, cache: false })
  await app.ready()
  const manager = app.encryptedSession.get()
  const codec = manager.codec
  // The same key with keyManagement 'A256KW': what per-token content keys cost.
  const kwApp = require('fastify')({ logger: false })
  await kwApp.register(plugin, { keys: plugin.generateKey('k1').entry, cookie: { secure: false }, cache: false, keyManagement: 'A256KW' })
  await kwApp.ready()
  const kwCodec = kwApp.encryptedSession.get().codec

  // sodium-native is @fastify/secure-session's dependency, not ours: resolved from its location.
  const sodium = require(require.resolve('sodium-native', { paths: [path.dirname(require.resolve('@fastify/secure-session'))] }))
  const sodiumKey = Buffer.allocUnsafe(sodium.crypto_secretbox_KEYBYTES)
  sodium.randombytes_buf(sodiumKey)

  const tasks = [] // { name, fn }, in table order
  const rows = [] // [size, level, task name]
  let sink // results go here so the work cannot be optimised away

  for (const [size, bytes] of Object.entries(SIZES)) {
    const data = { v: 'x'.repeat(bytes) }
    const token = manager.seal(data)
    // The exact plaintext manager.seal produced (claims + data as JSON), so codec and raw work on
    // the same bytes as the full path.
    const plaintext = codec.open(token, Infinity).plaintext
    const fitsCookie = token.length <= manager.maxTokenLength

    // Fail now rather than time a path that rejects: a refused token is much cheaper to "open".
    if (fitsCookie && manager.open(token)?.get('v')?.length !== bytes) throw new Error(`manager.open does not round-trip ${size}`)
    if (typeof codec.open(token, Infinity) === 'string') throw new Error(`codec.open rejects the ${size} token`)

    const key = randomBytes(32)
    // A fixed IV is fine for timing (never for real use): the codec takes its IVs from a pool
    // refilled once per 512 seals, so IV generation is a negligible share of its cost too.
    const iv = randomBytes(12)
    const rawSeal = () => {
      const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
      const ct = Buffer.concat([c.update(plaintext), c.final()])
      return { ct, tag: c.getAuthTag() }
    }
    const sealed = rawSeal()
    const rawOpen = () => {
      const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
      d.setAuthTag(sealed.tag)
      return Buffer.concat([d.update(sealed.ct), d.final()])
    }

    const add = (level, op, fn) => {
      const name = `${op} ${level} ${size}`
      tasks.push({ name, fn: () => { sink = fn() } })
      rows.push({ size, level, op, name, plaintextBytes: plaintext.length })
    }
    if (fitsCookie) {
      add('manager', 'seal', () => manager.seal(data))
      add('manager', 'open', () => manager.open(token))
    }
    add('codec', 'seal', () => codec.seal(plaintext))
    add('codec', 'open', () => codec.open(token, Infinity))
    const kwToken = kwCodec.seal(plaintext)
    if (typeof kwCodec.open(kwToken, Infinity) === 'string') throw new Error(`A256KW codec.open rejects the ${size} token`)
    add('codec A256KW', 'seal', () => kwCodec.seal(plaintext))
    add('codec A256KW', 'open', () => kwCodec.open(kwToken, Infinity))
    add('raw', 'seal', rawSeal)
    add('raw', 'open', rawOpen)
    // As secure-session does it: a fresh random nonce per seal, output allocated per call.
    const boxSeal = () => {
      const nonce = Buffer.allocUnsafe(sodium.crypto_secretbox_NONCEBYTES)
      sodium.randombytes_buf(nonce)
      const box = Buffer.allocUnsafe(plaintext.length + sodium.crypto_secretbox_MACBYTES)
      sodium.crypto_secretbox_easy(box, plaintext, nonce, sodiumKey)
      return { box, nonce }
    }
    const boxed = boxSeal()
    const boxOpen = () => {
      const out = Buffer.allocUnsafe(boxed.box.length - sodium.crypto_secretbox_MACBYTES)
      if (!sodium.crypto_secretbox_open_easy(out, boxed.box, boxed.nonce, sodiumKey)) throw new Error('secretbox open failed')
      return out
    }
    add('secretbox', 'seal', boxSeal)
    add('secretbox', 'open', boxOpen)
  }

  console.log(`node ${process.version}, ${time} ms per task in ${rounds} rounds; plaintext = claims JSON around one string field of the given size`)
  const perRound = [] // Map of task name -> tinybench result, one per round
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time: time / rounds, warmupTime: Math.min(100, time / rounds) })
    const offset = Math.floor((round * tasks.length) / rounds)
    for (const { name, fn } of [...tasks.slice(offset), ...tasks.slice(0, offset)]) bench.add(name, fn)
    await bench.run()
    for (const task of bench.tasks) if (task.result?.error) throw task.result.error
    perRound.push(new Map(bench.tasks.map((t) => [t.name, t.result])))
  }
  if (sink === undefined) throw new Error('no task ran')

  const median = (values) => {
    const v = [...values].sort((a, b) => a - b)
    return v.length % 2 === 1 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
  }
  const µsIn = (results, name) => results.get(name).latency.p50 * 1000
  const µs = (name) => median(perRound.map((r) => µsIn(r, name)))
  const byName = new Map(tasks.map(({ name }) => [name, {
    mean: median(perRound.map((r) => r.get(name).latency.mean * 1000)),
    rme: median(perRound.map((r) => r.get(name).latency.rme)),
    ops: median(perRound.map((r) => r.get(name).throughput.mean))
  }]))
  const lines = [
    '| payload | plaintext B | op | level | µs/op (median) | mean µs ± rme | ops/s | × raw |',
    '|---|--:|---|---|--:|--:|--:|--:|'
  ]
  for (const r of rows) {
    const res = byName.get(r.name)
    const raw = µs(`${r.op} raw ${r.size}`)
    lines.push(`| ${r.size} | ${r.plaintextBytes} | ${r.op} | ${r.level} | ${µs(r.name).toFixed(2)} | ` +
      `${res.mean.toFixed(2)} ± ${res.rme.toFixed(1)}% | ${Math.round(res.ops)} | ${(µs(r.name) / raw).toFixed(2)} |`)
  }
  console.log(lines.join('\n'))
  // The target is on the round trip: seal + open of the codec within 1.2 × raw's.
  const pairs = ['', '| payload | codec seal+open µs | raw seal+open µs | × raw (median of per-round ratios) | ratio range over rounds | secretbox seal+open µs |', '|---|--:|--:|--:|--:|--:|']
  for (const size of Object.keys(SIZES)) {
    const sumIn = (results, level) => µsIn(results, `seal ${level} ${size}`) + µsIn(results, `open ${level} ${size}`)
    const sum = (level) => median(perRound.map((r) => sumIn(r, level)))
    const ratios = perRound.map((r) => sumIn(r, 'codec') / sumIn(r, 'raw'))
    pairs.push(`| ${size} | ${sum('codec').toFixed(2)} | ${sum('raw').toFixed(2)} | ${median(ratios).toFixed(2)} | ` +
      `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)} | ${sum('secretbox').toFixed(2)} |`)
  }
  console.log(pairs.join('\n'))
  console.log('\n16KB: manager rows are absent because such a token is larger than a cookie (maxCookieSize); ' +
    'codec rows show the cost of the sealed value a store would hold.')
  await app.close()
  await kwApp.close()
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
