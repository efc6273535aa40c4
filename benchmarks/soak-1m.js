'use strict'
// The memory target: one million requests against the embedded MemoryStore, with the app in its
// own process, its RSS sampled every second. Half the requests start a new session (no cookie),
// so the store and the token cache are driven to their bounds; a third carry a session large
// enough to be offloaded. The run fails if RSS ever exceeds the bound documented in RESULTS.md.
//
//   npm run build && node benchmarks/soak-1m.js [--requests 1000000] [--bound-mb 512]
//
// Only 127.0.0.1; the run is bounded by --requests and by a wall-clock limit.

const { fork } = require('node:child_process')
const { parseArgs } = require('node:util')
const autocannon = require('autocannon')

async function child () {
  const plugin = require(process.env.BENCH_PLUGIN || '../dist/lib/index.js')
  const app = require('fastify')({ logger: false })
  const store = new plugin.MemoryStore({ maxEntries: 10000, maxBytes: 64 * 1024 * 1024 })
  await app.register(plugin, { keys: plugin.generateKey('k1').entry, cookie: { secure: false }, store })
  const big = 'b'.repeat(6000)
  app.post('/rw', async (req) => {
    const n = (req.session.get('n') ?? 0) + 1
    req.session.set('n', n)
    // Every third session grows past the cookie limit and lives in the store.
    if (n === 1 && Math.random() < 1 / 3) req.session.set('big', big)
    return { n }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  process.on('message', (m) => {
    if (m === 'sample') process.send({ rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed, entries: store.size, bytes: store.calculatedSize })
    if (m === 'stop') app.close().then(() => process.exit(0))
  })
  process.send({ port: app.server.address().port })
}

async function main () {
  const { values } = parseArgs({ options: { requests: { type: 'string', default: '1000000' }, 'bound-mb': { type: 'string', default: '512' } } })
  const amount = Number(values.requests)
  const boundMb = Number(values['bound-mb'])
  const proc = fork(__filename, ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const port = await new Promise((resolve, reject) => {
    proc.once('message', (m) => resolve(m.port))
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
  })
  const samples = []
  const sample = () => new Promise((resolve) => { proc.once('message', resolve); proc.send('sample') })
  const timer = setInterval(async () => { samples.push(await sample()) }, 1000)

  const started = Date.now()
  let instance
  const result = await new Promise((resolve, reject) => {
    instance = autocannon({
      url: `http://127.0.0.1:${port}`,
      connections: 10,
      amount,
      requests: [{
        method: 'POST',
        path: '/rw',
        // Browser-like clients that sometimes lose their cookie: half the requests start afresh.
        setupRequest: (req, context) => {
          if (context.cookie && Math.random() < 0.5) req.headers = { cookie: context.cookie }
          else req.headers = {}
          return req
        },
        onResponse: (status, body, context, headers) => {
          for (let i = 0; i < headers.length; i += 2) {
            if (String(headers[i]).toLowerCase() === 'set-cookie') context.cookie = String(headers[i + 1]).split(';')[0]
          }
        }
      }]
    }, (err, res) => err ? reject(err) : resolve(res))
    // `amount` overrides autocannon's duration, so the wall-clock limit is ours: 30 minutes.
    setTimeout(() => instance.stop(), 30 * 60 * 1000).unref()
  })
  clearInterval(timer)
  samples.push(await sample())
  proc.send('stop')
  const mb = (b) => (b / 1024 / 1024).toFixed(1)
  const maxRss = Math.max(...samples.map((s) => s.rss))
  const last = samples[samples.length - 1]
  console.log(`requests: ${result.requests.total} in ${((Date.now() - started) / 1000).toFixed(0)} s, non-2xx: ${result.non2xx}, errors: ${result.errors}`)
  console.log(`RSS: first ${mb(samples[0].rss)} MB, max ${mb(maxRss)} MB, last ${mb(last.rss)} MB (bound ${boundMb} MB)`)
  console.log(`heap used at the end: ${mb(last.heap)} MB; MemoryStore: ${last.entries} entries, ${mb(last.bytes)} MB`)
  const thirds = Math.floor(samples.length / 3)
  console.log(`RSS max, first third: ${mb(Math.max(...samples.slice(0, thirds).map((s) => s.rss)))} MB; last third: ${mb(Math.max(...samples.slice(-thirds).map((s) => s.rss)))} MB`)
  if (maxRss > boundMb * 1024 * 1024 || result.non2xx > 0 || result.errors > 0) {
    console.error('soak-1m: FAILED (RSS over the bound, or failed requests)')
    process.exitCode = 1
  }
}

// The same file is the load generator and, forked with --child, the server under test.
const entry = process.argv[2] === '--child' ? child : main
entry().catch((err) => { console.error(err); process.exitCode = 1 })
