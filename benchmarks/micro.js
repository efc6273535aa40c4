'use strict'
// Micro-benchmarks of the seal and open path, next to raw node:crypto AES-256-GCM on the same
// number of bytes, so the table shows what the JWE framing, base64url, JSON and claim checks add
// on top of the cipher itself.
//
//   npm run build && node benchmarks/micro.js [--time <ms per task>]
//
// Levels, from the outside in:
//   manager.seal(data) / manager.open(token)  the whole path a request takes: claims, JSON, JWE
//   codec.seal(plaintext) / codec.open(token)  the JWE layer only: AES-GCM + base64url + header
//   raw seal / raw open                        createCipheriv / createDecipheriv and nothing else

const { createCipheriv, createDecipheriv, randomBytes } = require('node:crypto')
const { parseArgs } = require('node:util')
// BENCH_PLUGIN: another build to measure (absolute path to its index.js), as in server.js.
const plugin = require(process.env.BENCH_PLUGIN || '../dist/lib/index.js')

const SIZES = { '100B': 100, '1KB': 1024, '2.7KB': 2700, '16KB': 16384 }

async function main () {
  const { values } = parseArgs({ options: { time: { type: 'string', default: '1000' } } })
  const time = Number(values.time)
  if (!Number.isFinite(time) || time < 10) throw new Error('--time must be a number of milliseconds, at least 10')
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

  const bench = new Bench({ time, warmupTime: Math.min(250, time) })
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
      bench.add(name, () => { sink = fn() })
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
  }

  console.log(`node ${process.version}, ${time} ms per task; plaintext = claims JSON around one string field of the given size`)
  await bench.run()
  if (sink === undefined) throw new Error('no task ran')

  const byName = new Map(bench.tasks.map((t) => [t.name, t.result]))
  const µs = (name) => byName.get(name)?.latency?.p50 * 1000
  const lines = [
    '| payload | plaintext B | op | level | µs/op (median) | mean µs ± rme | ops/s | × raw |',
    '|---|--:|---|---|--:|--:|--:|--:|'
  ]
  for (const r of rows) {
    const res = byName.get(r.name)
    if (res?.error) throw res.error
    const raw = µs(`${r.op} raw ${r.size}`)
    lines.push(`| ${r.size} | ${r.plaintextBytes} | ${r.op} | ${r.level} | ${µs(r.name).toFixed(2)} | ` +
      `${(res.latency.mean * 1000).toFixed(2)} ± ${res.latency.rme.toFixed(1)}% | ${Math.round(res.throughput.mean)} | ${(µs(r.name) / raw).toFixed(2)} |`)
  }
  console.log(lines.join('\n'))
  console.log('\n16KB: manager rows are absent because such a token is larger than a cookie (maxCookieSize); ' +
    'codec rows show the cost of the sealed value a store would hold.')
  await app.close()
  await kwApp.close()
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
