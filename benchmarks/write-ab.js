'use strict'
// In-process A/B of the write path: two builds of the plugin, each in its own Fastify app in this
// process, answer `/rw` (the benchmark's route) through app.inject, with the cookie of each
// response sent back on the next request as a browser would. They run in alternating blocks of
// `--block` requests, `--turns` times, in an order that swaps every turn; each turn's ratio
// (B's CPU per request ÷ A's) is taken between two blocks run milliseconds apart, so a machine
// whose speed drifts (a shared VM) moves both alike. Reports the median and middle half of those
// ratios per payload. No sockets: this measures the plugin plus Fastify's routing, not node:http.
//
//   cp -r dist benchmarks/.out/base/            # the "before" build (inside the repo, for node_modules)
//   npm run build                               # the "after" build
//   node benchmarks/write-ab.js --a benchmarks/.out/base/dist/lib/index.js [--b dist/lib/index.js]
//        [--payloads 100B-real,1KB-real] [--store memory] [--turns 200] [--block 200]

const path = require('node:path')
const { parseArgs } = require('node:util')
const { payloadData } = require('./payloads.js')

async function app (pluginPath, payload, store) {
  const plugin = require(path.resolve(pluginPath))
  const fastify = require('fastify')({ logger: false })
  const options = { keys: plugin.generateKey('k1').entry, cookie: { secure: false } }
  if (store === 'memory') options.store = new plugin.MemoryStore()
  await fastify.register(plugin, options)
  const data = payloadData(payload)
  const first = Object.keys(data).find((k) => k !== 'n')
  fastify.get('/seed', async (req) => {
    for (const key of Object.keys(data)) req.session.set(key, data[key])
    return { ok: true }
  })
  fastify.get('/rw', async (req) => {
    const n = (req.session.get('n') ?? 0) + 1
    req.session.set('n', n)
    return { n, ok: req.session.get(first) !== undefined }
  })
  await fastify.ready()
  const seeded = await fastify.inject({ url: '/seed' })
  let cookie = cookieOf(seeded)
  let n = data.n ?? 0
  return {
    async block (count) {
      for (let i = 0; i < count; i++) {
        const res = await fastify.inject({ url: '/rw', headers: { cookie } })
        if (res.statusCode !== 200 || res.json().n !== ++n) throw new Error(`${pluginPath}: /rw answered ${res.statusCode} ${res.body}`)
        cookie = cookieOf(res)
      }
    }
  }
}

function cookieOf (res) {
  const set = res.headers['set-cookie']
  const line = Array.isArray(set) ? set[0] : set
  if (line === undefined) throw new Error('no Set-Cookie')
  return line.slice(0, line.indexOf(';'))
}

async function cpuOf (fn) {
  const before = process.cpuUsage()
  await fn()
  const used = process.cpuUsage(before)
  return used.user + used.system
}

async function main () {
  const { values } = parseArgs({
    options: {
      a: { type: 'string', default: 'benchmarks/.out/base/dist/lib/index.js' },
      b: { type: 'string', default: 'dist/lib/index.js' },
      payloads: { type: 'string', default: '100B-real,1KB-real,2.7KB-real' },
      store: { type: 'string' },
      turns: { type: 'string', default: '200' },
      block: { type: 'string', default: '200' },
      // For instruction counts (benchmarks/write-ir.sh): only build A, this many requests, no timing.
      requests: { type: 'string' },
      warm: { type: 'string', default: '0' },
      ready: { type: 'boolean', default: false }
    }
  })
  if (values.requests !== undefined) {
    const a = await app(values.a, values.payloads.split(',')[0], values.store)
    // Warmed up first; then, with --ready, says so and waits for a line on stdin, so that a
    // profiler started with collection off (callgrind --instr-atstart=no) counts only what follows.
    await a.block(Number(values.warm))
    if (values.ready) {
      console.log('READY')
      await new Promise((resolve) => process.stdin.once('data', resolve))
    }
    await a.block(Number(values.requests))
    process.exit(0)
  }
  const turns = Number(values.turns)
  const block = Number(values.block)
  console.log(`A = ${values.a}\nB = ${values.b}\nstore: ${values.store ?? 'none (cookie only)'}; ${turns} turns of ${block} /rw requests each; Node ${process.version}\n`)
  console.log('| payload | A µs/req (median) | B µs/req (median) | B ÷ A per turn: median | middle half |\n|---|--:|--:|--:|--:|')
  for (const payload of values.payloads.split(',')) {
    const a = await app(values.a, payload, values.store)
    const b = await app(values.b, payload, values.store)
    // Warm-up: both JIT-compiled before anything is timed.
    for (let i = 0; i < 5; i++) { await a.block(block); await b.block(block) }
    const as = []
    const bs = []
    const ratios = []
    for (let t = 0; t < turns; t++) {
      const [x, y] = t % 2 === 0 ? [a, b] : [b, a]
      const cx = await cpuOf(() => x.block(block))
      const cy = await cpuOf(() => y.block(block))
      const [ca, cb] = t % 2 === 0 ? [cx, cy] : [cy, cx]
      as.push(ca / block)
      bs.push(cb / block)
      ratios.push(cb / ca)
    }
    const q = (list, p) => [...list].sort((m, n) => m - n)[Math.floor(p * (list.length - 1))]
    console.log(`| ${payload} | ${q(as, 0.5).toFixed(1)} | ${q(bs, 0.5).toFixed(1)} | ${q(ratios, 0.5).toFixed(3)} | ${q(ratios, 0.25).toFixed(3)}–${q(ratios, 0.75).toFixed(3)} |`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
