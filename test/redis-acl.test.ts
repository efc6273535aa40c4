// Least-privilege Redis: every key RedisStore touches, staged values included, lies under its
// prefix, so a Redis ACL user limited to `~sess:*` and the store's commands serves every path
// (offload, update, return to the cookie, logout). The stored key layout is unchanged, so a
// session offloaded by an earlier version still loads and can be updated: standalone and Cluster.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import type { FastifyInstance } from 'fastify'
import { Cluster, Redis } from 'ioredis'
import { build, engine, sessionCookie, KEY1 } from './helpers/app.js'
import { claimsOf } from './helpers/claims.js'
import { RedisStore, stagedKeyOf } from '../lib/stores/redis.js'
import { redisCommand, startCluster, startRedis } from './helpers/redis.js'

// The README's ACL line, word for word after "ACL SETUSER sessions".
const ACL = 'on >s3cret resetkeys ~sess:* resetchannels -@all +get +set +del +evalsha +eval +getrange +exists +rename +strlen +info'

function routes (app: FastifyInstance): void {
  app.post('/put', async (req) => {
    for (const [k, v] of Object.entries(req.body as object)) req.session.set(k, v)
    return 'ok'
  })
  app.get('/read', async (req) => ({ data: req.session.data() }))
  app.post('/logout', async (req) => { req.session.delete(); return 'bye' })
}

const BIG = 'x'.repeat(6000)

/** Every path of the store through `client`, asserting each reply; the token of a live offloaded session. */
async function everyPath (t: Test, client: Redis | Cluster, admin: { keys: (pattern: string) => Promise<string[]> }): Promise<void> {
  const { app } = await build(t, { store: new RedisStore({ client }), revocation: true }, routes)
  const first = await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG, v: 1 } })
  t.equal(first.statusCode, 200, 'offloaded write')
  let token = sessionCookie(first)!.value
  const update = await app.inject({ method: 'POST', url: '/put', payload: { v: 2 }, cookies: { session: token } })
  t.equal(update.statusCode, 200, 'compare-and-set update through a staged value')
  token = sessionCookie(update)!.value
  t.same((await app.inject({ url: '/read', cookies: { session: token } })).json().data, { blob: BIG, v: 2 })
  const back = await app.inject({ method: 'POST', url: '/put', payload: { blob: null }, cookies: { session: token } })
  t.equal(back.statusCode, 200, 'back to the cookie: the stored copy is deleted')
  token = sessionCookie(back)!.value
  t.equal((await app.inject({ method: 'POST', url: '/logout', cookies: { session: token } })).statusCode, 200, 'logout tombstone')
  t.equal(engine(app).metrics.store.errors, 0)
  const keys = await admin.keys('*')
  t.ok(keys.length > 0 && keys.every((k) => k.startsWith('sess:')), 'every key under the prefix')
}

t.test('staged values are named under the prefix, with the session key as their hash tag', async (t) => {
  t.equal(stagedKeyOf('sess:abc', ':staged:1', 'sess:'), 'sess:{sess:abc}:staged:1')
  t.equal(stagedKeyOf('{app}:abc', ':staged:1', '{app}:'), '{app}:abc:staged:1', 'a tag of its own is kept')
  t.equal(stagedKeyOf('a{b:abc', ':staged:1', 'a{b:'), '{a{b:abc}:staged:1', 'an unclosed brace: wrapped whole')
  t.equal(stagedKeyOf('abc', ':staged:1', 'sess:'), '{abc}:staged:1', 'a key outside the prefix: wrapped whole')
})

t.test('standalone: an ACL user limited to ~sess:* serves every path', async (t) => {
  const server = await startRedis(t)
  await redisCommand(server.port, ['ACL', 'SETUSER', 'sessions', ...ACL.split(' ')])
  const client = new Redis(server.port, '127.0.0.1', { username: 'sessions', password: 's3cret', maxRetriesPerRequest: 1 })
  t.teardown(() => client.disconnect())
  await once(client, 'ready')
  // The user really is confined: a key outside the prefix is refused.
  await t.rejects(client.set('other:k', '1'), /NOPERM/)
  const admin = new Redis(server.port, '127.0.0.1')
  t.teardown(() => admin.disconnect())
  await everyPath(t, client, admin)
})

t.test('cluster: the same ACL on every node serves every path', async (t) => {
  const cluster = await startCluster(t)
  for (const node of cluster.nodes) await redisCommand(node.port, ['ACL', 'SETUSER', 'sessions', ...ACL.split(' '), '+cluster'])
  const client = new Cluster(cluster.nodes, { redisOptions: { username: 'sessions', password: 's3cret', maxRetriesPerRequest: 1 } })
  t.teardown(() => client.disconnect())
  await once(client, 'ready')
  const admins = cluster.nodes.map((n) => new Redis(n.port, '127.0.0.1'))
  t.teardown(() => { for (const a of admins) a.disconnect() })
  await everyPath(t, client, { keys: async (pattern) => (await Promise.all(admins.map((a) => a.keys(pattern)))).flat() })
})

/**
 * An entry exactly as an earlier version left it: the session's key `sess:<HMAC>` holding
 * `<version>:<sealed value>`, written by hand. A fresh instance loads it and updates it in place.
 */
async function upgraded (t: Test, client: Redis | Cluster, admin: Redis | Cluster): Promise<void> {
  const writer = await build(t, { store: new RedisStore({ client }) }, routes)
  const token = sessionCookie(await writer.app.inject({ method: 'POST', url: '/put', payload: { blob: BIG, v: 1 } }))!.value
  const { sid, ref } = await claimsOf(token, KEY1)
  const key = `sess:${engine(writer.app).storage!.keyOf(sid, 'k1')!}`
  const stored = await admin.get(key)
  t.match(stored, new RegExp(`^${ref}:ey`), 'the layout: sess:<HMAC of the id> holding <version>:<JWE>')
  await admin.del(key)
  await admin.set(key, stored!, 'EX', 3600)
  const { app } = await build(t, { store: new RedisStore({ client }) }, routes)
  t.same((await app.inject({ url: '/read', cookies: { session: token } })).json().data, { blob: BIG, v: 1 }, 'loads')
  const res = await app.inject({ method: 'POST', url: '/put', payload: { v: 2 }, cookies: { session: token } })
  t.equal(res.statusCode, 200, 'and updates')
  t.same((await app.inject({ url: '/read', cookies: { session: sessionCookie(res)!.value } })).json().data, { blob: BIG, v: 2 })
}

t.test('standalone: a session stored before the upgrade loads and updates under the ACL user', async (t) => {
  const server = await startRedis(t)
  await redisCommand(server.port, ['ACL', 'SETUSER', 'sessions', ...ACL.split(' ')])
  const client = new Redis(server.port, '127.0.0.1', { username: 'sessions', password: 's3cret', maxRetriesPerRequest: 1 })
  const admin = new Redis(server.port, '127.0.0.1')
  t.teardown(() => { client.disconnect(); admin.disconnect() })
  await upgraded(t, client, admin)
})

t.test('cluster: a session stored before the upgrade loads and updates', async (t) => {
  const cluster = await startCluster(t)
  const client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } })
  t.teardown(() => client.disconnect())
  await once(client, 'ready')
  await upgraded(t, client, client)
})
