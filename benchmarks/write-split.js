'use strict'
// Where a request's server CPU goes, split the way issue "Fast writes" asks: cipher, JSON,
// base64(url), cookies, token cache, the rest of the session plugin, Fastify, node:http, and what
// is left (kernel, GC, V8, Redis).
//
//   node benchmarks/write-split.js <config> <payload> <route> [--node 26] [--duration 10]
//
// Unlike profile.js (V8's sampler, which sees JavaScript only and charges JSON.stringify, base64
// and the cipher's C++ to whatever JavaScript called them), this samples the server process with
// Linux `perf` (cpu-clock, with call stacks) and names every native function: OpenSSL's AES-GCM,
// V8's JSON code, simdutf's base64, llhttp, the kernel's socket path, libsodium, redis-server.
// The server runs with --perf-basic-prof so that perf can name JIT-compiled JavaScript too. A
// sample whose own function says nothing about who wanted the work (a V8 builtin such as a string
// concatenation, memcpy, the allocator) is charged to the nearest JavaScript function up its stack.
//
// With a Redis configuration, redis-server (on the server's core, as in run.js) is sampled too and
// reported as its own row. Needs `perf` and permission to use it (perf_event_paranoid ≤ 2 for
// one's own processes; the kernel's symbols need ≤ 1 or root).

const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { clientsFor, load, runOn, startRedis, startServer, startSpinners, usePinning } = require('./run.js')
const { CONFIGS, ROUTES } = require('./server.js')
const { SIZES } = require('./payloads.js')

const CONNECTIONS = 10
const FREQUENCY = 4999

// Order of the report's rows.
const AREAS = [
  'cipher (AES-GCM / libsodium, randomness)',
  'hashing (HMAC, SHA-256)',
  'JSON (stringify, parse)',
  'base64 / base64url',
  'cookies (parse, serialize)',
  'token cache',
  'session plugin, the rest',
  'Redis client',
  'Fastify',
  'node:http (JS and llhttp)',
  'node:net, streams, libuv',
  'kernel (syscalls: socket I/O, epoll)',
  'garbage collection',
  'V8 and node, not attributable',
  'benchmark routes',
  'redis-server'
]

async function main () {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      node: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'no-spin': { type: 'boolean', default: false },
      raw: { type: 'boolean', default: false },
      // Classify a perf.data file recorded before (e.g. after changing the areas) instead of running.
      analyze: { type: 'string' },
      requests: { type: 'string' }
    }
  })
  if (values.analyze !== undefined) {
    const { byArea, total, raw } = classify(perfScript(values.analyze))
    report(byArea, total, raw, Number(values.requests), values.raw)
    return
  }
  const elsewhere = runOn(values.node ?? process.env.BENCH_NODE)
  if (elsewhere !== undefined) return await elsewhere
  const [name, payloadArg = '', route] = positionals
  const config = CONFIGS.find((c) => c.name === name)
  if (config === undefined || config.payloads === null || !ROUTES.includes(route)) {
    console.error('usage: node benchmarks/write-split.js <session config> <payload, e.g. 100B-real> <route> [--node 26] [--duration s] [--warmup s] [--raw]')
    process.exitCode = 2
    return
  }
  const payload = payloadArg in SIZES ? `${payloadArg}-real` : payloadArg
  const duration = Number(values.duration)
  console.log(usePinning(!values['no-pin']))
  console.log(startSpinners(!values['no-spin']))
  const redis = config.redis ? await startRedis() : undefined
  let server
  try {
    server = await startServer(config.name, payload, redis?.port, [
      '--perf-basic-prof', '--interpreted-frames-native-stack',
      // V8 also writes a log when perf maps are on; keep it out of the working directory.
      '--no-logfile-per-isolate', `--logfile=${path.join(__dirname, '.out', 'v8.log')}`
    ])
    await load(server.port, route, await clientsFor(server.port, route, CONNECTIONS, payload, true), Number(values.warmup), CONNECTIONS)
    const jars = await clientsFor(server.port, route, CONNECTIONS, payload, true)
    const data = path.join(__dirname, '.out', `perf-${config.name}-${payload}-${route.replace(/\W/g, '')}.data`)
    fs.mkdirSync(path.dirname(data), { recursive: true })
    const pids = [server.pid, redis?.pid].filter(Boolean).join(',')
    const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(FREQUENCY), '-g', '-p', pids, '-o', data], { stdio: 'inherit' })
    // perf needs a moment to attach before the load starts.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const before = await server.cpu()
    const { result } = await load(server.port, route, jars, duration, CONNECTIONS)
    const after = await server.cpu()
    perf.kill('SIGINT')
    await new Promise((resolve) => perf.once('exit', resolve))
    const requests = after.served - before.served
    const { byArea, total, raw } = classify(perfScript(data))
    console.log(`\n${config.label}, ${route}, payload ${payload}, Node ${process.version}: ${requests} requests in ${duration} s, non-2xx ${result.non2xx}; ` +
      `server CPU by getrusage ${((after.micros - before.micros) / requests).toFixed(1)} µs/req\n`)
    report(byArea, total, raw, requests, values.raw)
    const usPerSample = 1e6 / FREQUENCY
    // Without permission to sample the kernel (perf_event_paranoid 2), its time is not in the
    // samples; getrusage counts it, so the difference is mostly the kernel's share.
    console.log('\nServer process CPU by getrusage minus its user-space samples (the kernel\'s share when perf cannot sample it): ' +
      `${((after.micros - before.micros) / requests - (total - (byArea.get('redis-server') ?? 0)) * usPerSample / requests).toFixed(1)} µs/req`)
  } finally {
    await server?.stop()
    await redis?.stop()
  }
}

function perfScript (data) {
  return execFileSync('perf', ['script', '-i', data, '-F', 'comm,pid,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] })
}

function report (byArea, total, raw, requests, showRaw) {
  // Samples are taken over a slightly longer window than the load; every one is counted, so the
  // per-request numbers are a shade high, the same for every configuration.
  const usPerSample = 1e6 / FREQUENCY
  console.log('| area | µs/req | share |\n|---|--:|--:|')
  for (const area of AREAS) {
    const n = byArea.get(area) ?? 0
    if (n === 0) continue
    console.log(`| ${area} | ${(n * usPerSample / requests).toFixed(1)} | ${(100 * n / total).toFixed(0)} % |`)
  }
  console.log(`| total sampled | ${(total * usPerSample / requests).toFixed(1)} | 100 % |`)
  if (showRaw) {
    console.log('\nTop leaf symbols by area:')
    for (const [key, n] of [...raw].sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log(`${(n * usPerSample / requests).toFixed(2)}\t${key}`)
  }
}

/** Samples per area from `perf script` output (one block per sample: header line, then frames leaf first). */
function classify (script) {
  const byArea = new Map()
  const raw = new Map()
  let total = 0
  for (const block of script.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l.trim() !== '')
    if (lines.length === 0) continue
    const header = lines[0]
    const frames = lines.slice(1).map(parseFrame)
    // redis-server's threads are named redis-server, bio_*, io_thd_*; the server's node-*, V8*, libuv*.
    const area = /^\s*(redis|bio_|io_thd)/.test(header) ? 'redis-server' : areaOf(frames)
    total++
    byArea.set(area, (byArea.get(area) ?? 0) + 1)
    const leaf = frames[0] ? `${area} <- ${frames[0].sym.slice(0, 100)}` : `${area} <- ?`
    raw.set(leaf, (raw.get(leaf) ?? 0) + 1)
  }
  return { byArea, total, raw }
}

function parseFrame (line) {
  // "\t    7f12ab34 symbol+0x12 (dso)"
  const m = /^\s*[0-9a-f]+\s+(.*?)\s+\(([^)]*)\)\s*$/.exec(line)
  if (m === null) return { sym: line.trim(), dso: '' }
  return { sym: m[1].replace(/\+0x[0-9a-f]+$/, ''), dso: m[2] }
}

// A leaf that names its purpose decides the area; one that does not (builtins, libc, allocator)
// defers to the nearest JavaScript frame above it.
function areaOf (frames) {
  if (frames.length === 0) return 'V8 and node, not attributable'
  const leaf = frames[0]
  const own = nativeArea(leaf)
  if (own !== undefined) return own
  for (const frame of frames) {
    const js = jsArea(frame.sym)
    if (js !== undefined) return js
    // A native frame up the stack that names its purpose (e.g. the JSON serializer calling memcpy).
    const native = nativeArea(frame)
    if (native !== undefined) return native
  }
  return 'V8 and node, not attributable'
}

function nativeArea ({ sym, dso }) {
  if (dso.includes('kernel')) return 'kernel (syscalls: socket I/O, epoll)'
  if (/sodium/.test(dso)) return 'cipher (AES-GCM / libsodium, randomness)'
  if (/^JS:|^LazyCompile:|^Function:|^Builtin:|^Script:/.test(sym)) return undefined
  if (/sha256|sha512|SHA256|HMAC|hmac|node::crypto::Hash|node::crypto::Hmac/.test(sym)) return 'hashing (HMAC, SHA-256)'
  if (/aesni|_gcm|gcm_|gcm128|EVP_|ossl_|OPENSSL|CRYPTO_|RAND_|drbg|getrandom|node::crypto::/.test(sym)) return 'cipher (AES-GCM / libsodium, randomness)'
  if (/[Bb]ase64/.test(sym)) return 'base64 / base64url'
  if (/Json|JSON/.test(sym)) return 'JSON (stringify, parse)'
  if (/llhttp|HTTPParser|node::http/.test(sym)) return 'node:http (JS and llhttp)'
  if (/uv_|uv__|node::StreamBase|node::LibuvStreamWrap|node::TCPWrap|epoll/.test(sym)) return 'node:net, streams, libuv'
  if (/Scaveng|MarkCompact|Marking|Sweep|Evacuat|Heap::|GCTracer|MinorMark|ConcurrentMark|RememberedSet|SlotSet|PagedSpace|Heap::Collect|IncrementalMarking/.test(sym)) return 'garbage collection'
  return undefined
}

function jsArea (sym) {
  if (!/^(JS|LazyCompile|Function|Script|InterpretedFunction):/.test(sym)) return undefined
  if (/\/dist\/lib\/cookie\.js|node_modules\/@fastify\/cookie\/|node_modules\/cookie\//.test(sym)) return 'cookies (parse, serialize)'
  if (/\/dist\/lib\/token-cache\.js/.test(sym)) return 'token cache'
  if (/node:internal\/crypto\/hash|node_modules\/cookie-signature\//.test(sym)) return 'hashing (HMAC, SHA-256)'
  if (/node_modules\/sodium-native\/|node:internal\/crypto\//.test(sym)) return 'cipher (AES-GCM / libsodium, randomness)'
  // @fastify/session stringifies the session with it (to tell whether it changed).
  if (/node_modules\/(safe-stable-stringify|fast-json-stringify|secure-json-parse)\//.test(sym)) return 'JSON (stringify, parse)'
  if (/\/dist\/lib\/|node_modules\/@fastify\/secure-session\/|node_modules\/@fastify\/session\/|node_modules\/connect-redis\//.test(sym)) return 'session plugin, the rest'
  if (/node_modules\/(ioredis|redis|@redis|@ioredis|redis-parser|cluster-key-slot|denque|standard-as-callback)\//.test(sym)) return 'Redis client'
  if (/\/benchmarks\//.test(sym)) return 'benchmark routes'
  if (/node_modules\//.test(sym)) return 'Fastify'
  if (/node:_http|node:http|node:internal\/http/.test(sym)) return 'node:http (JS and llhttp)'
  if (/node:net|node:stream|node:internal\/stream|node:internal\/streams|stream_base|node:internal\/net/.test(sym)) return 'node:net, streams, libuv'
  return undefined
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
