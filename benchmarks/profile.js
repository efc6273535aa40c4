'use strict'
// Where a configuration's time goes: `node benchmarks/profile.js <config> <payload> <route>`.
//
// Runs one configuration exactly as run.js measures it (its own pinned server process, browser-like
// clients, warm-up first), records V8's CPU profile (the profiler behind `node --cpu-prof`) in the
// server over the measured window only, and prints microseconds per request: by area (this plugin,
// node:crypto, Fastify, socket writes, GC…) and by function. The profile itself is written to
// benchmarks/.out/ for Chrome DevTools (Performance panel, "Load profile").
//
// Sampling slows the server, so compare profiles with each other, not with run.js's req/s.

const fs = require('node:fs')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { clientsFor, load, runOn, startRedis, startServer, startSpinners, usePinning } = require('./run.js')
const { CONFIGS, ROUTES, takes } = require('./server.js')
const { SIZES, SHAPES } = require('./payloads.js')

const HELP = `usage: node benchmarks/profile.js <config> <payload> <route> [options]
  --duration <s>  seconds profiled (default 10)
  --warmup <s>    unprofiled load first (default 3)
  --top <n>       functions listed (default 25)
  --no-pin        do not pin the server to CPU 0 and this process to CPU 1
  --no-spin       do not keep the CPUs from idling (as run.js)
  --node <bin|major>  profile on this Node binary (as run.js; also BENCH_NODE)
example: node benchmarks/profile.js ours-cookie 100B-real /rw --node 26
configurations: ${CONFIGS.map((c) => c.name).join(', ')}; payloads: <size>-<shape> with sizes ${Object.keys(SIZES).join(', ')} and shapes ${SHAPES.join(', ')}; a bare size means -real (bare and cookie have none: write -); routes: ${ROUTES.join(', ')}`

const CONNECTIONS = 10

async function main () {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      top: { type: 'string', default: '25' },
      'no-pin': { type: 'boolean', default: false },
      'no-spin': { type: 'boolean', default: false },
      node: { type: 'string' },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help) return console.log(HELP)
  const elsewhere = runOn(values.node ?? process.env.BENCH_NODE)
  if (elsewhere !== undefined) return await elsewhere
  const [name, payloadArg = '', route] = positionals
  const config = CONFIGS.find((c) => c.name === name)
  const payload = config?.payloads === null ? '-' : payloadArg in SIZES ? `${payloadArg}-real` : payloadArg
  let ok = config !== undefined && ROUTES.includes(route)
  try {
    ok &&= config.payloads === null || takes(config, payload)
  } catch {
    ok = false
  }
  if (!ok) {
    console.error(HELP)
    process.exitCode = 2
    return
  }
  const duration = Number(values.duration)
  const warmup = Number(values.warmup)
  const top = Number(values.top)
  console.log(usePinning(!values['no-pin']))
  console.log(startSpinners(!values['no-spin']))

  const redis = config.redis ? await startRedis() : undefined
  let server
  try {
    server = await startServer(config.name, payload, redis?.port)
    const session = config.payloads !== null
    await load(server.port, route, await clientsFor(server.port, route, CONNECTIONS, payload, session), warmup, CONNECTIONS)
    const jars = await clientsFor(server.port, route, CONNECTIONS, payload, session)
    const started = await server.profile('start')
    const { result } = await load(server.port, route, jars, duration, CONNECTIONS)
    const stopped = await server.profile('stop')
    const requests = stopped.served - started.served
    const file = path.join(__dirname, '.out', `${config.name}-${payload}-${route.replace(/\W/g, '') || 'root'}.cpuprofile`)
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, JSON.stringify(stopped.profile))
    console.log(`${config.label}, ${route}, payload ${payload}: ${requests} requests in ${duration} s ` +
      `(${Math.round(requests / duration)} req/s while sampled), non-2xx ${result.non2xx}; profile in ${path.relative(process.cwd(), file)}\n`)
    report(summarize(stopped.profile, requests), top)
  } finally {
    await server?.stop()
    await redis?.stop()
  }
}

/** Self time per function and per area, in µs per request, from a .cpuprofile. */
function summarize (profile, requests) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const parents = new Map()
  for (const n of profile.nodes) for (const child of n.children ?? []) parents.set(child, n.id)
  const self = new Map()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const byFunction = new Map()
  const byArea = new Map()
  let busy = 0
  for (const [id, micros] of self) {
    const frame = nodes.get(id).callFrame
    if (frame.functionName === '(idle)') continue
    busy += micros
    const where = location(frame)
    const fn = `${frame.functionName || '(anonymous)'}  ${where}`
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + micros)
    // A native function (a binding such as the cipher's initiv) counts toward the area of the
    // JavaScript that called it, except the few that area() names on their own.
    let a = area(frame)
    for (let up = parents.get(id); a === 'native' && up !== undefined; up = parents.get(up)) a = area(nodes.get(up).callFrame)
    if (a === 'native') a = 'other native functions'
    byArea.set(a, (byArea.get(a) ?? 0) + micros)
  }
  const perRequest = (m) => [...m].map(([k, v]) => [k, v / requests]).sort((x, y) => y[1] - x[1])
  return { busy: busy / requests, byArea: perRequest(byArea), byFunction: perRequest(byFunction) }
}

function location (frame) {
  if (frame.url === '') return '(native)'
  const url = frame.url.replace(/^file:\/\//, '')
  const short = url.includes('node_modules/')
    ? url.slice(url.lastIndexOf('node_modules/') + 'node_modules/'.length)
    : path.relative(path.join(__dirname, '..'), url)
  return `${short}:${frame.lineNumber + 1}`
}

// Self time of a native frame belongs to whatever called it, but a few natives are worth naming:
// socket writes (on loopback they include the kernel's delivery to the receiver) and the GC.
function area (frame) {
  const { url, functionName } = frame
  if (functionName === '(garbage collector)') return 'garbage collection'
  if (functionName === '(program)') return 'V8 and native code outside JS functions'
  if (url === '' && /^(writev|writeBuffer|writeUtf8String|writeLatin1String|writeAsciiString)$/.test(functionName)) return 'socket writes (syscalls)'
  if (url === '') return 'native'
  // Packages first: some of them have a dist/lib/ too.
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg !== null) return pkg[1]
  if (url.includes('/benchmarks/')) return 'benchmark routes'
  if (url.includes('/dist/lib/') || url.includes('/lib/')) return 'fastify-encrypted-session'
  if (url.startsWith('node:internal/crypto')) return 'node:crypto'
  if (/^node:(internal\/)?(_?http|internal\/http)/.test(url)) return 'node:http'
  if (/^node:(internal\/)?(net|stream|internal\/streams|internal\/stream_base)/.test(url)) return 'node:net and streams'
  return 'node (other)'
}

function report ({ busy, byArea, byFunction }, top) {
  console.log(`sampled CPU: ${busy.toFixed(1)} µs per request\n`)
  console.log('| area | µs/req | share |\n|---|--:|--:|')
  for (const [name, micros] of byArea) console.log(`| ${name} | ${micros.toFixed(1)} | ${(100 * micros / busy).toFixed(0)} % |`)
  console.log('\n| function (self time) | µs/req | share |\n|---|--:|--:|')
  for (const [name, micros] of byFunction.slice(0, top)) console.log(`| \`${name}\` | ${micros.toFixed(1)} | ${(100 * micros / busy).toFixed(0)} % |`)
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
