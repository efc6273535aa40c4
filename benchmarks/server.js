'use strict'
// One benchmark target: `node benchmarks/server.js <config> <payload>`.
//
// run.js forks this file once per (configuration, payload) so that every configuration runs in a
// process of its own: no JIT state, heap or event-loop backlog leaks from one configuration into
// the next. The server listens on 127.0.0.1 port 0 and reports the port over IPC; it exits when
// run.js asks it to or when the IPC channel goes away (run.js died), so it can never be left behind.
//
// Required as a module (by run.js) it only exports the configuration table, so the list of what is
// measured lives in one place.

const path = require('node:path')

// BENCH_PLUGIN points at another build of the plugin (an absolute path to its index.js), e.g. to
// compare a branch against main; by default the one `npm run build` just wrote.
const plugin = require(process.env.BENCH_PLUGIN || '../dist/lib/index.js')
const { payloadData, splitName, dataKeys } = require('./payloads.js')

// Session data: sizes and shapes are in payloads.js. A configuration lists the sizes it takes; a
// payload is a size and a shape (`100B-real`), or `custom` (--payload-file), which every
// configuration with a session takes.
const COOKIE_PAYLOADS = ['100B', '1KB', '2.7KB']
const STORE_PAYLOADS = [...COOKIE_PAYLOADS, '16KB']

/**
 * Every configuration measured. `payloads` is null for the baselines, which have no session.
 * `unavailable()` returns why a configuration cannot run in this build, or undefined.
 */
const CONFIGS = [
  { name: 'bare', label: 'Fastify (bare)', payloads: null, setup: setupBare },
  { name: 'cookie', label: 'Fastify + @fastify/cookie', payloads: null, setup: setupCookieOnly },
  { name: 'ours-cookie', label: 'ours, cookie only', payloads: COOKIE_PAYLOADS, setup: setupOurs },
  {
    name: 'ours-memory',
    label: 'ours + MemoryStore',
    payloads: STORE_PAYLOADS,
    setup: setupOurs,
    unavailable: () => typeof plugin.MemoryStore === 'function' ? undefined : 'not available yet (plugin.MemoryStore is not exported)'
  },
  {
    name: 'ours-redis',
    label: 'ours + RedisStore (ioredis)',
    payloads: STORE_PAYLOADS,
    redis: true,
    setup: setupOurs,
    unavailable: () => typeof plugin.RedisStore === 'function' ? undefined : 'not available yet (plugin.RedisStore is not exported)'
  },
  {
    // What revocation costs: one GET per request that carries a cookie, even for cookie-only sessions.
    name: 'ours-redis-revocation',
    label: 'ours + RedisStore + revocation',
    payloads: ['100B'],
    redis: true,
    setup: setupOurs,
    unavailable: () => typeof plugin.RedisStore === 'function' ? undefined : 'not available yet (plugin.RedisStore is not exported)'
  },
  { name: 'secure-session', label: '@fastify/secure-session', payloads: COOKIE_PAYLOADS, setup: setupSecureSession },
  { name: 'session-memory', label: '@fastify/session (memory store)', payloads: STORE_PAYLOADS, setup: setupFastifySession },
  { name: 'session-redis', label: '@fastify/session + connect-redis', payloads: STORE_PAYLOADS, redis: true, setup: setupFastifySession }
]

const ROUTES = ['/', '/read', '/rw']

module.exports = { CONFIGS, ROUTES, takes }

/** Whether a configuration takes a payload (by its full name, e.g. `1KB-real`, or `custom`). */
function takes (config, payload) {
  if (config.payloads === null) return false
  return payload === 'custom' || config.payloads.includes(splitName(payload)[0])
}

// ---------------------------------------------------------------------------------------------
// Configurations. Each one registers its session plugin (if any) and returns a `close` for the
// clients it opened. Routes are added afterwards, identically for all.

async function setupBare () {
  return { session: false }
}

async function setupCookieOnly (app) {
  await app.register(require('@fastify/cookie'))
  return { session: false }
}

async function setupOurs (app, config) {
  const key = plugin.generateKey('k1')
  const options = { keys: key.entry, cookie: { secure: false } }
  let close
  if (config.name === 'ours-memory') {
    options.store = new plugin.MemoryStore()
  } else if (config.name === 'ours-redis' || config.name === 'ours-redis-revocation') {
    const Redis = require('ioredis')
    // lazyConnect + an explicit connect() so a Redis that is not there fails startup loudly
    // instead of queueing commands and timing out during the measurement.
    const client = new Redis({ host: '127.0.0.1', port: redisPort(), lazyConnect: true, maxRetriesPerRequest: 1 })
    // When run.js stops this process, a request its load generator already dropped can still be
    // writing to Redis as the client quits; that EPIPE is harmless, so report it in one line.
    client.on('error', (err) => { process.stderr.write(`server: ioredis: ${err.message}\n`) })
    await client.connect()
    options.store = new plugin.RedisStore({ client })
    if (config.name === 'ours-redis-revocation') options.revocation = true
    close = () => client.quit()
  }
  await app.register(plugin, options)
  return { session: true, close }
}

async function setupSecureSession (app) {
  // The key the way @fastify/secure-session's own genkey.js makes one: 32 random bytes from libsodium.
  // sodium-native is resolved from secure-session's location because it is its dependency, not ours.
  const sodium = require(require.resolve('sodium-native', { paths: [path.dirname(require.resolve('@fastify/secure-session'))] }))
  const key = Buffer.allocUnsafe(sodium.crypto_secretbox_KEYBYTES)
  sodium.randombytes_buf(key)
  await app.register(require('@fastify/secure-session'), {
    key,
    cookieName: 'session',
    cookie: { path: '/', httpOnly: true, secure: false }
  })
  return { session: true }
}

async function setupFastifySession (app, config) {
  let store
  let close
  if (config.name === 'session-redis') {
    const { createClient } = require('redis')
    // connect-redis 11 is an ES module only.
    const { RedisStore } = await import('connect-redis')
    const client = createClient({ socket: { host: '127.0.0.1', port: redisPort(), reconnectStrategy: false } })
    client.on('error', (err) => { process.stderr.write(`server: node-redis: ${err.message}\n`) })
    await client.connect()
    store = new RedisStore({ client })
    close = () => client.quit()
  }
  await app.register(require('@fastify/cookie'))
  // Defaults everywhere else, as a user would start: note `rolling` defaults to true, which re-saves
  // the session and re-sends the cookie on every request that carries one.
  await app.register(require('@fastify/session'), {
    secret: 'benchmark secret of at least thirty-two characters',
    saveUninitialized: false,
    cookie: { secure: false },
    store
  })
  return { session: true, close }
}

function redisPort () {
  const port = Number(process.env.BENCH_REDIS_PORT)
  if (!Number.isInteger(port) || port <= 0) throw new Error('BENCH_REDIS_PORT is not set: run this configuration through run.js')
  return port
}

// ---------------------------------------------------------------------------------------------
// Routes, the same in every configuration:
//   /      never touches the session (what the plugin costs on routes that do not use it)
//   /seed  puts every key of the payload in the session (run.js calls it before measuring, never during)
//   /read  reads one value: the payload's first key (`user` in the realistic shape, `v` in the flat one)
//   /rw    reads that value too and increments the counter `n`, so every response must carry a new session
//   /check answers with the counter and the JSON of everything else the session holds, for run.js
//          to compare with the payload before it measures (never during)
// /read and /rw answer with a few bytes whatever the payload, so the response size is the same
// everywhere.

function addRoutes (app, session, data) {
  app.get('/', async () => ({ ok: true }))
  if (!session) {
    app.get('/seed', async () => ({ ok: true }))
    app.get('/read', async () => ({ ok: false }))
    app.get('/rw', async () => ({ n: 1, ok: false }))
    app.get('/check', async () => ({ n: 0, json: '' }))
    return
  }
  const keys = dataKeys(data)
  const first = keys[0]
  app.get('/seed', async (req) => {
    for (const key of Object.keys(data)) req.session.set(key, data[key])
    return { ok: true }
  })
  app.get('/read', async (req) => ({ ok: req.session.get(first) !== undefined }))
  // For checking the harness only: BENCH_FAIL_RW=<k> makes every k-th /rw a 503 after seeding,
  // which run.js must report as an invalid measurement.
  const failEvery = Number(process.env.BENCH_FAIL_RW) || 0
  let rw = 0
  app.get('/rw', async (req, reply) => {
    if (failEvery > 0 && ++rw % failEvery === 0 && rw > 2) return reply.code(503).send({ error: 'BENCH_FAIL_RW' })
    const n = (req.session.get('n') ?? 0) + 1
    req.session.set('n', n)
    return { n, ok: req.session.get(first) !== undefined }
  })
  app.get('/check', async (req) => {
    const out = {}
    for (const key of keys) out[key] = req.session.get(key)
    return { n: req.session.get('n') ?? 0, json: JSON.stringify(out) }
  })
}

async function main () {
  const [configName, payloadName] = process.argv.slice(2)
  const config = CONFIGS.find((c) => c.name === configName)
  if (config === undefined) throw new Error(`unknown config "${configName}" (known: ${CONFIGS.map((c) => c.name).join(', ')})`)
  if (config.payloads !== null && !takes(config, payloadName)) {
    throw new Error(`config "${configName}" takes payload sizes ${config.payloads.join(', ')}, not "${payloadName}"`)
  }
  const why = config.unavailable?.()
  if (why !== undefined) throw new Error(why)

  const app = require('fastify')({ logger: false })
  const { session, close } = await config.setup(app, config)
  addRoutes(app, session, session ? payloadData(payloadName) : {})
  if (close) app.addHook('onClose', async () => { await close() })
  await app.listen({ host: '127.0.0.1', port: 0 })
  // Requests served, so run.js can divide this process's CPU time by them: CPU µs per request is the
  // server's own cost, which (unlike req/s) does not depend on how the OS shares the cores with the
  // load generator. A 'request' listener costs every configuration the same.
  let served = 0
  app.server.on('request', () => { served++ })

  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    // Bounded: a close that hangs (a stuck keep-alive socket, a Redis quit that never answers)
    // must not keep the process, and with it the 2-core machine, busy.
    setTimeout(() => process.exit(1), 5000).unref()
    app.close().then(() => process.exit(0), () => process.exit(1))
  }
  process.on('message', (msg) => {
    if (msg?.type === 'stop') stop()
    if (msg?.type === 'cpu') process.send({ type: 'cpu', usage: process.cpuUsage(), served })
    if (msg?.type === 'profile') {
      profile(msg.action).then(
        (reply) => process.send({ type: 'profile', served, ...reply }),
        (err) => process.send({ type: 'profile', error: err.message })
      )
    }
  })
  process.on('disconnect', stop)
  process.send({ type: 'ready', port: app.server.address().port })
}

// For profile.js: V8's CPU profiler (what --cpu-prof uses) over just the measured window, through
// the inspector, so start-up and warm-up stay out of the profile. Not used by run.js.
let inspectorSession
async function profile (action) {
  const inspector = require('node:inspector')
  const post = (method, params) => new Promise((resolve, reject) => {
    inspectorSession.post(method, params, (err, result) => err ? reject(err) : resolve(result))
  })
  if (action === 'start') {
    inspectorSession = new inspector.Session()
    inspectorSession.connect()
    await post('Profiler.enable')
    await post('Profiler.setSamplingInterval', { interval: 200 })
    await post('Profiler.start')
    return {}
  }
  const { profile } = await post('Profiler.stop')
  inspectorSession.disconnect()
  return { profile }
}

if (require.main === module) {
  main().catch((err) => {
    if (process.send) process.send({ type: 'error', message: err.message }, () => process.exit(1))
    else {
      console.error(err)
      process.exit(1)
    }
  })
}
