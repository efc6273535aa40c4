// More faults between the app and a real redis-server: latency added by a small loopback proxy,
// and the server killed (SIGKILL) while a request is waiting on it. Outcomes as in
// store-failures.test.ts: bounded waits, coded 503s, no unhandled rejections, recovery.
import t, { type Test } from 'tap'
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { RedisStore } from '../lib/stores/redis.js'
import { build, sessionCookie } from './helpers/app.js'
import { startRedis, startRedisOnPort } from './helpers/redis.js'

const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => { unhandled.push(reason) })

const STORE_TIMEOUT = 1000
const BIG = 'z'.repeat(6000)

/** A TCP proxy on 127.0.0.1 that delays every chunk in both directions by `delay.ms`. */
async function latencyProxy (t: Test, targetPort: number): Promise<{ port: number, delay: { ms: number } }> {
  const delay = { ms: 0 }
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = netConnect(targetPort, '127.0.0.1')
    sockets.add(client).add(upstream)
    const pipe = (from: Socket, to: Socket): void => {
      from.on('data', (chunk) => { setTimeout(() => { if (!to.destroyed) to.write(chunk) }, delay.ms) })
      from.on('close', () => to.destroy())
      from.on('error', () => to.destroy())
    }
    pipe(client, upstream)
    pipe(upstream, client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return { port: (server.address() as { port: number }).port, delay }
}

function routes (app: FastifyInstance): void {
  app.post('/big', async (req) => { req.session.set('blob', BIG); req.session.set('owner', (req.query as { o?: string }).o ?? 'x'); return 'ok' })
  app.get('/read', async (req) => ({ owner: req.session.get('owner') ?? null, size: String(req.session.get('blob') ?? '').length }))
}

async function clientOn (t: Test, port: number): Promise<Redis> {
  const client = new Redis(port, '127.0.0.1', { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 500 })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  if (client.status !== 'ready') await once(client, 'ready')
  return client
}

t.test('latency below storeTimeout is served; above it is a bounded 503; removing it recovers', async (t) => {
  const server = await startRedis(t)
  const proxy = await latencyProxy(t, server.port)
  const client = await clientOn(t, proxy.port)
  const { app } = await build(t, { store: new RedisStore({ client }), storeTimeout: STORE_TIMEOUT }, routes)
  const token = sessionCookie(await app.inject({ method: 'POST', url: '/big?o=ada' }))!.value

  proxy.delay.ms = 50
  const slow = await app.inject({ url: '/read', cookies: { session: token } })
  t.same(slow.json(), { owner: 'ada', size: 6000 }, '2 × 50 ms of latency is within the timeout')

  proxy.delay.ms = 1200
  const started = performance.now()
  const late = await app.inject({ url: '/read', cookies: { session: token } })
  const took = performance.now() - started
  t.equal(late.statusCode, 503)
  t.equal(late.json().code, 'FST_ENCSESS_STORE_UNAVAILABLE')
  t.equal(late.headers['retry-after'], '1')
  t.equal(late.headers['set-cookie'], undefined)
  t.ok(took < STORE_TIMEOUT + 500, `answered in ${Math.round(took)} ms, bounded by storeTimeout`)

  proxy.delay.ms = 0
  // The late reply of the timed-out GET still arrives and must not confuse the next command.
  await client.ping()
  t.same((await app.inject({ url: '/read', cookies: { session: token } })).json(), { owner: 'ada', size: 6000 })
})

t.test('redis-server killed while a request waits on it: bounded 503, then recovery on restart', async (t) => {
  const server = await startRedis(t)
  const client = await clientOn(t, server.port)
  const { app } = await build(t, { store: new RedisStore({ client }), storeTimeout: STORE_TIMEOUT }, routes)
  const token = sessionCookie(await app.inject({ method: 'POST', url: '/big?o=ada' }))!.value
  // Hold the next command server-side, then kill the server while the read is in flight.
  await server.pause(5000)
  const pending = app.inject({ url: '/read', cookies: { session: token } })
  const exited = once(server.process, 'exit')
  server.process.kill('SIGKILL')
  await exited
  const res = await pending
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'FST_ENCSESS_STORE_UNAVAILABLE')
  t.equal(res.headers['set-cookie'], undefined)

  const again = await startRedisOnPort(t, server.port)
  if (client.status !== 'ready') await once(client, 'ready')
  t.ok(again.port === server.port)
  const after = await app.inject({ url: '/read', cookies: { session: token } })
  t.equal(after.statusCode, 200, 'no restart of the app needed')
  t.same(after.json(), { owner: null, size: 0 }, 'the data died with the unpersisted server: an empty session, never an error')
  t.equal((await app.inject({ method: 'POST', url: '/big?o=new' })).statusCode, 200, 'writes work again')
})

t.test('no unhandled rejections', async (t) => {
  t.same(unhandled, [])
})
