// Offload against a real redis-server and a real 3-master Redis Cluster: cookie-only sessions send
// the server no command at all, and every key the plugin writes has a TTL.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { Cluster, Redis } from 'ioredis'
import { build, sessionCookie } from './helpers/app.js'
import { RedisStore } from '../lib/stores/redis.js'
import { commandCount, redisCommand, resetCommandStats, startCluster, startRedis } from './helpers/redis.js'

const BIG = 'x'.repeat(6000)

function routes (app: FastifyInstance): void {
  app.post('/put', async (req) => {
    for (const [k, v] of Object.entries(req.body as object)) req.session.set(k, v)
    return 'ok'
  })
  app.get('/read', async (req) => ({ data: req.session.data() }))
  app.get('/', async () => 'no session')
}

const total = (counts: Map<string, number>): number => [...counts.values()].reduce((a, b) => a + b, 0)

t.test('standalone: cookie-only sessions cost zero Redis commands; offloaded ones one per read', async (t) => {
  const server = await startRedis(t)
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1, enableOfflineQueue: false })
  t.teardown(() => client.disconnect())
  await once(client, 'ready')
  const { app } = await build(t, { store: new RedisStore({ client }) }, routes)
  await resetCommandStats(server.port)

  const small = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { a: 1 } }))!.value
  for (let i = 0; i < 5; i++) await app.inject({ url: '/read', cookies: { session: small } })
  await app.inject({ url: '/' })
  const afterSmall = await commandCount(server.port)
  // INFO and CONFIG are the harness's own commands; everything else would be the plugin's.
  afterSmall.delete('info')
  afterSmall.delete('config|resetstat')
  t.equal(total(afterSmall), 0, `no store command for cookie-only sessions (saw ${JSON.stringify([...afterSmall])})`)

  const big = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } }))!.value
  await resetCommandStats(server.port)
  const read = await app.inject({ url: '/read', cookies: { session: big } })
  t.equal(read.json().data.blob, BIG)
  const afterRead = await commandCount(server.port)
  // The instance that wrote the value asks Redis only whether it is still there (the check script,
  // whose GETRANGE reads the value's first bytes); the value itself does not come back.
  t.equal(afterRead.get('getrange'), 1, 'one check of the stored value by the instance that wrote it')
  t.equal(afterRead.get('get') ?? 0, 0, 'and no GET: the value did not cross the network')

  // Another instance (same keys, nothing cached) fetches the value: one GET.
  const other = await build(t, { store: new RedisStore({ client }) }, routes)
  await resetCommandStats(server.port)
  const fresh = await other.app.inject({ url: '/read', cookies: { session: big } })
  t.equal(fresh.json().data.blob, BIG)
  const afterFresh = await commandCount(server.port)
  t.equal(afterFresh.get('get'), 1, 'one GET per offloaded read by an instance that has not seen the value')
  t.equal(afterFresh.get('getrange') ?? 0, 0)

  const keys = await redisCommand(server.port, ['KEYS', 'sess:*']) as string[]
  t.equal(keys.length, 1)
  for (const key of keys) {
    const ttl = await redisCommand(server.port, ['TTL', key]) as number
    t.ok(ttl > 86000 && ttl <= 86400, `key has a TTL equal to the remaining lifetime (${ttl})`)
  }
})

t.test('cluster: sessions spread over the masters and read back through a Cluster client', async (t) => {
  const cluster = await startCluster(t)
  const client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } })
  t.teardown(() => client.disconnect())
  await once(client, 'ready')
  const { app } = await build(t, { store: new RedisStore({ client, prefix: 'c:' }) }, routes)
  const tokens: string[] = []
  for (let i = 0; i < 12; i++) {
    const res = await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG, i } })
    t.equal(res.statusCode, 200)
    tokens.push(sessionCookie(res)!.value)
  }
  for (const [i, token] of tokens.entries()) {
    t.equal((await app.inject({ url: '/read', cookies: { session: token } })).json().data.i, i)
  }
  const perNode = await Promise.all(cluster.nodes.map(async (n) => Number(await redisCommand(n.port, ['DBSIZE']))))
  t.equal(perNode.reduce((a, b) => a + b, 0), 12)
  t.ok(perNode.filter((n) => n > 0).length >= 2, `keys on several masters (${perNode.join(', ')})`)
  for (const n of cluster.nodes) {
    for (const key of await redisCommand(n.port, ['KEYS', '*']) as string[]) {
      t.ok(Number(await redisCommand(n.port, ['TTL', key])) > 0, 'every key expires')
    }
  }
})

function once (emitter: { once: (e: string, f: () => void) => unknown }, event: string): Promise<void> {
  return new Promise((resolve) => { emitter.once(event, resolve) })
}
