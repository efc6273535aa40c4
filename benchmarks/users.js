'use strict'
// Per-user sessions (userKey) in steady state: store round trips per request, counted by Redis
// itself (INFO commandstats), and /read throughput with userKey against the same app without it.
//
//   npm run build && node benchmarks/users.js                      # the recorded run
//   node benchmarks/users.js --requests 2000 --users 20 --duration 1 --rounds 1   # a smoke run
//
// One redis-server (persistence off) and two server processes (this file with --serve): "users"
// (RedisStore with a subscriber, userKey: 'user') and "plain" (the same RedisStore, no userKey).
// Every user logs in once; then `--requests` GET /read requests, spread round-robin over the
// users' cookies, go to "users" while Redis counts every command it runs. The watch's PINGs (one
// per 200 ms per instance, whatever the load) are reported apart. Throughput: `--rounds` pairs of
// autocannon runs of `--duration` seconds, "users" and "plain" back to back (order alternating),
// the ratio taken within each pair and the median reported.

const { fork, spawn } = require('node:child_process')
const net = require('node:net')
const { parseArgs } = require('node:util')

const { values: args } = parseArgs({
  options: {
    serve: { type: 'string' },
    'redis-port': { type: 'string' },
    requests: { type: 'string', default: '10000' },
    users: { type: 'string', default: '100' },
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' }
  }
})

if (args.serve !== undefined) serve(args.serve, Number(args['redis-port'])).catch((err) => { console.error(err); process.exit(1) })
else main().catch((err) => { console.error(err); process.exitCode = 1 })

async function serve (mode, redisPort) {
  const Fastify = require('fastify')
  const { Redis } = require('ioredis')
  const plugin = require('../dist/lib/index.js')
  const client = new Redis(redisPort, '127.0.0.1')
  const subscriber = mode === 'users' ? new Redis(redisPort, '127.0.0.1') : undefined
  const app = Fastify()
  await app.register(plugin, {
    keys: plugin.generateKey('bench').entry,
    cookie: { secure: false },
    store: new plugin.RedisStore({ client, subscriber }),
    ...(mode === 'users' ? { userKey: 'user' } : {})
  })
  app.post('/login', async (req) => {
    req.session.regenerate()
    req.session.set('user', req.body.user)
    req.session.set('name', `User ${req.body.user}`)
    return 'ok'
  })
  app.get('/read', async (req) => ({ user: req.session.get('user') ?? null, name: req.session.get('name') ?? null }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const manager = app.encryptedSession.get()
  if (mode === 'users') {
    while (!manager.users.live) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  process.send({ port: app.server.address().port })
}

async function main () {
  const autocannon = require('autocannon')
  const requests = Number(args.requests)
  const users = Number(args.users)
  const redis = await startRedis()
  const servers = {}
  try {
    for (const mode of ['users', 'plain']) servers[mode] = await startServer(mode, redis.port)
    const cookies = {}
    for (const mode of ['users', 'plain']) {
      cookies[mode] = []
      for (let i = 0; i < users; i++) cookies[mode].push(await login(servers[mode].port, `user${i}`))
    }
    // Warm up: every session once on each instance (the first request of a user reads its record).
    for (const mode of ['users', 'plain']) for (const cookie of cookies[mode]) await get(servers[mode].port, cookie)

    await redisCall(redis.port, ['CONFIG', 'RESETSTAT'])
    let sent = 0
    const check = await autocannon({
      url: `http://127.0.0.1:${servers.users.port}/read`,
      connections: Number(args.connections),
      amount: requests,
      requests: [{ setupRequest: (req) => ({ ...req, headers: { ...req.headers, cookie: cookies.users[sent++ % users] } }) }]
    })
    const stats = await commandStats(redis.port)
    const pings = stats.ping ?? 0
    const others = Object.entries(stats).filter(([name]) => name !== 'ping' && name !== 'info' && !name.startsWith('config'))
    const roundTrips = others.reduce((sum, [, calls]) => sum + calls, 0)
    const ok = check['2xx']

    const ratios = []
    const rps = { users: [], plain: [] }
    for (let round = 0; round < Number(args.rounds); round++) {
      const order = round % 2 === 0 ? ['users', 'plain'] : ['plain', 'users']
      const result = {}
      for (const mode of order) {
        let i = 0
        const run = await autocannon({
          url: `http://127.0.0.1:${servers[mode].port}/read`,
          connections: Number(args.connections),
          duration: Number(args.duration),
          requests: [{ setupRequest: (req) => ({ ...req, headers: { ...req.headers, cookie: cookies[mode][i++ % users] } }) }]
        })
        result[mode] = run.requests.average
        rps[mode].push(run.requests.average)
      }
      ratios.push(result.users / result.plain)
    }
    const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]
    console.log(`node ${process.version}, ${users} users, ${requests} requests to /read with userKey (${ok} answered 2xx, ${check.non2xx} not)`)
    console.log(`store round trips: ${roundTrips} (${others.map(([n, c]) => `${n} ${c}`).join(', ') || 'none'}) = ${(roundTrips / requests).toFixed(4)} per request (target <= 0.05)`)
    console.log(`  besides: ${pings} PINGs of the subscribers' watch (time-driven: 5 per second per instance)`)
    console.log(`/read req/s, median of ${ratios.length} rounds of ${args.duration} s: with userKey ${median(rps.users).toFixed(0)}, without ${median(rps.plain).toFixed(0)}; ratio ${median(ratios).toFixed(3)} (target >= 0.9)`)
    console.log(`  ratios per round: ${ratios.map((r) => r.toFixed(3)).join(', ')}`)
  } finally {
    for (const server of Object.values(servers)) server.child.kill('SIGTERM')
    redis.child.kill('SIGTERM')
  }
}

function startServer (mode, redisPort) {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--serve', mode, '--redis-port', String(redisPort)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.once('message', (m) => resolve({ child, port: m.port }))
    child.once('exit', (code) => reject(new Error(`${mode} server exited (${code})`)))
  })
}

function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function startRedis () {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve, reject) => {
    let log = ''
    child.stdout.on('data', (chunk) => {
      log += chunk
      if (log.includes('Ready to accept connections')) { child.stdout.resume(); resolve() }
    })
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${log}`)))
  })
  return { port, child }
}

/** One command over a fresh connection (RESP), resolving the raw reply text. */
function redisCall (port, words) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let reply = ''
    socket.on('data', (chunk) => {
      reply += chunk
      // A status reply ends at its first CRLF; a bulk string once its announced length has arrived.
      const bulk = /^\$(\d+)\r\n/.exec(reply)
      if ((bulk === null && reply.endsWith('\r\n')) || (bulk !== null && reply.length >= bulk[0].length + Number(bulk[1]) + 2)) {
        socket.end()
        resolve(bulk === null ? reply : reply.slice(bulk[0].length, bulk[0].length + Number(bulk[1])))
      }
    })
    socket.on('error', reject)
    socket.write(`*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`)
  })
}

async function commandStats (port) {
  const info = await redisCall(port, ['INFO', 'commandstats'])
  const stats = {}
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats[match[1]] = Number(match[2])
  return stats
}

async function login (port, user) {
  const res = await fetch(`http://127.0.0.1:${port}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) })
  return res.headers.get('set-cookie').split(';')[0]
}

async function get (port, cookie) {
  const res = await fetch(`http://127.0.0.1:${port}/read`, { headers: { cookie } })
  if ((await res.json()).user === null) throw new Error('a warm-up request was refused')
}
