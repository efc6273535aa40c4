'use strict'
// Micro-benchmarks of the seal and open path, next to raw node:crypto AES-256-GCM on the same
// number of bytes, so the table shows what the JWE framing, base64url, JSON and claim checks add
// on top of the cipher itself.
//
//   npm run build && node benchmarks/micro.js [--time <ms per task>] [--rounds <n>] [--turns <n>] [--block <ms>]
//
// On a shared VM the speed of the machine drifts by a third within minutes, so a task timed once
// and its raw counterpart timed seconds later are not comparable. The per-operation table
// therefore runs in rounds (each round all tasks, in an order rotated per round, `time / rounds`
// ms each) and reports medians over rounds. The round trip the target is about is timed
// apart from it, in turns of a few milliseconds (see `interleaved`), with the ratio taken per turn.
//
// Levels, from the outside in:
//   manager.seal(data) / manager.open(token)  the public seal/open: claims, JSON, JWE (seal also
//                                              starts a new session, with a fresh random id)
//   codec.seal(plaintext) / codec.open(token)  the JWE layer only: AES-GCM + base64url + header
//   format floor (round trip only)             a compact JWE with no checks at all (formatTrip)
//   raw seal / raw open                        createCipheriv / createDecipheriv and nothing else
//   secretbox seal / open                      libsodium's crypto_secretbox_easy / _open_easy, the
//                                              primitive @fastify/secure-session seals with (context)

const { createCipheriv, createDecipheriv, createSecretKey, randomBytes } = require('node:crypto')
const path = require('node:path')
const { parseArgs } = require('node:util')
// BENCH_PLUGIN: another build to measure (absolute path to its index.js), as in server.js.
const plugin = require(process.env.BENCH_PLUGIN || '../dist/lib/index.js')

const SIZES = { '100B': 100, '1KB': 1024, '2.7KB': 2700, '16KB': 16384 }

async function main () {
  const { values } = parseArgs({
    options: {
      time: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '5' },
      turns: { type: 'string', default: '500' },
      block: { type: 'string', default: '2' }
    }
  })
  const time = Number(values.time)
  const rounds = Number(values.rounds)
  const turns = Number(values.turns)
  const blockMs = Number(values.block)
  if (!Number.isInteger(turns) || turns < 1 || turns > 100000) throw new Error('--turns must be an integer from 1 to 100000')
  if (!Number.isFinite(blockMs) || blockMs <= 0 || blockMs > 1000) throw new Error('--block must be a number of milliseconds, above 0 and at most 1000')
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
  const roundTrips = [] // { size, levels: { codec, format, raw, secretbox } }, for the interleaved round trip
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

    // A KeyObject, as the codec holds its keys: on Node 20 a Buffer key costs about the same, but
    // on Node 24 a Buffer key made raw 3 to 5 times slower in a probe.
    const key = createSecretKey(randomBytes(32))
    // A fixed IV is fine for timing (never for real use): the codec takes its IVs from a pool
    // refilled once per 512 seals, so IV generation is a negligible share of its cost too.
    const iv = randomBytes(12)
    // GCM's final() returns no bytes (it only computes or checks the tag), so update()'s output is
    // the whole ciphertext or plaintext: no Buffer.concat to flatter the codec against raw.
    const rawSeal = () => {
      const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
      const ct = c.update(plaintext)
      c.final()
      return { ct, tag: c.getAuthTag() }
    }
    const rawOpenOf = ({ ct, tag }) => {
      const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
      d.setAuthTag(tag)
      const out = d.update(ct)
      d.final()
      return out
    }
    const sealed = rawSeal()
    const rawOpen = () => rawOpenOf(sealed)

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
    const boxOpenOf = ({ box, nonce }) => {
      const out = Buffer.allocUnsafe(box.length - sodium.crypto_secretbox_MACBYTES)
      if (!sodium.crypto_secretbox_open_easy(out, box, nonce, sodiumKey)) throw new Error('secretbox open failed')
      return out
    }
    const boxed = boxSeal()
    const boxOpen = () => boxOpenOf(boxed)
    add('secretbox', 'seal', boxSeal)
    add('secretbox', 'open', boxOpen)

    const codecTrip = () => codec.open(codec.seal(plaintext), Infinity)
    const trip = codecTrip()
    if (typeof trip === 'string' || !trip.plaintext.equals(plaintext)) throw new Error(`codec does not round-trip ${size}`)
    const rawTrip = () => rawOpenOf(rawSeal())
    if (!rawTrip().equals(plaintext)) throw new Error(`raw does not round-trip ${size}`)
    const boxTrip = () => boxOpenOf(boxSeal())
    if (!boxTrip().equals(plaintext)) throw new Error(`secretbox does not round-trip ${size}`)
    // The least any compact JWE must do on top of raw: the protected header as AAD both ways, and
    // IV, ciphertext and tag to base64url and back (decoded into buffers allocated once, as the
    // codec does), split at known offsets, checking nothing. Between it and raw is what the format
    // costs on node:crypto; between it and codec, what our checks cost.
    const header = token.slice(0, token.indexOf('.'))
    const aad = Buffer.from(header, 'ascii')
    const ivIn = Buffer.allocUnsafe(12)
    const tagIn = Buffer.allocUnsafe(16)
    const ctIn = Buffer.allocUnsafe(plaintext.length)
    const formatTrip = () => {
      const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
      c.setAAD(aad)
      const ct = c.update(plaintext)
      c.final()
      const sealed = `${header}..${iv.toString('base64url')}.${ct.toString('base64url')}.${c.getAuthTag().toString('base64url')}`
      const at = header.length + 2
      ivIn.write(sealed.slice(at, at + 16), 'base64url')
      tagIn.write(sealed.slice(-22), 'base64url')
      ctIn.write(sealed.slice(at + 17, -23), 'base64url')
      const d = createDecipheriv('aes-256-gcm', key, ivIn, { authTagLength: 16 })
      d.setAAD(aad)
      d.setAuthTag(tagIn)
      const out = d.update(ctIn)
      d.final()
      return out
    }
    if (!formatTrip().equals(plaintext)) throw new Error(`the format floor does not round-trip ${size}`)
    roundTrips.push({ size, levels: { codec: codecTrip, format: formatTrip, raw: rawTrip, secretbox: boxTrip } })
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
  // The target is on the round trip, measured apart from tinybench's table: codec, format
  // floor, raw and secretbox round trips (seal, then open what was sealed) in short blocks, one
  // block of each in turn, and the ratio taken within each turn. Timed seconds apart, as in the
  // table, two tasks pick up the machine's drift (the 100 B ratio moved from 1.12 to 1.76 between
  // the rounds of one pass); a turn lasts a few milliseconds, so drift cancels, and what is left
  // is scattered by GC and preemption, which the median over many turns sets aside.
  const pairs = ['', `Round trip (seal, then open the token just sealed), ${turns} turns of ${blockMs} ms blocks per payload, ` +
    'one block of each level per turn in rotating order:', '',
  '| payload | codec µs | format floor µs | raw µs | codec × raw (median of per-turn ratios) | middle half | format floor × raw | secretbox µs |',
  '|---|--:|--:|--:|--:|--:|--:|--:|']
  for (const { size, levels } of roundTrips) {
    const r = interleaved(levels, blockMs, turns)
    const ratios = (level) => r.perTurn.map((t) => t[level] / t.raw).sort((a, b) => a - b)
    const codec = ratios('codec')
    const q = (f) => codec[Math.min(codec.length - 1, Math.floor(f * codec.length))]
    pairs.push(`| ${size} | ${r.median.codec.toFixed(2)} | ${r.median.format.toFixed(2)} | ${r.median.raw.toFixed(2)} | ` +
      `${median(codec).toFixed(2)} | ${q(0.25).toFixed(2)}–${q(0.75).toFixed(2)} | ${median(ratios('format')).toFixed(2)} | ${r.median.secretbox.toFixed(2)} |`)
  }
  console.log(pairs.join('\n'))
  console.log('\n16KB: manager rows are absent because such a token is larger than a cookie (maxCookieSize); ' +
    'codec rows show the cost of the sealed value a store would hold.')
  await app.close()
  await kwApp.close()
}

/**
 * Times each function of `levels` in blocks of about `blockMs`, one block of each per turn (the
 * order rotated every turn so none always runs first, right after another's garbage), `turns`
 * times. Returns µs per call for every turn, and the median per level.
 */
function interleaved (levels, blockMs, turns) {
  const names = Object.keys(levels)
  const calls = {}
  let sink
  for (const name of names) {
    // Warm up for 50 ms (the JIT settles), then size the block from that pace.
    const fn = levels[name]
    let n = 0
    const start = process.hrtime.bigint()
    while (Number(process.hrtime.bigint() - start) < 50e6) {
      for (let i = 0; i < 10; i++) sink = fn()
      n += 10
    }
    const nsPerCall = Number(process.hrtime.bigint() - start) / n
    calls[name] = Math.max(1, Math.round((blockMs * 1e6) / nsPerCall))
  }
  const perTurn = []
  for (let turn = 0; turn < turns; turn++) {
    const result = {}
    for (let k = 0; k < names.length; k++) {
      const name = names[(turn + k) % names.length]
      const fn = levels[name]
      const count = calls[name]
      const start = process.hrtime.bigint()
      for (let i = 0; i < count; i++) sink = fn()
      result[name] = Number(process.hrtime.bigint() - start) / count / 1000
    }
    perTurn.push(result)
  }
  if (sink === undefined) throw new Error('no round trip ran')
  return { perTurn, median: Object.fromEntries(names.map((name) => [name, median(perTurn.map((t) => t[name]))])) }
}

function median (values) {
  const v = [...values].sort((a, b) => a - b)
  return v.length % 2 === 1 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
