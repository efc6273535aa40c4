// A stored value is never trusted before authentication, and is bound to its session and version:
// whatever is found under a session's key, the outcome is that session's data or an empty session.
import t, { type Test } from 'tap'
import { createHmac, hkdfSync } from 'node:crypto'
import { Redis } from 'ioredis'
import { build, sessionCookie, engine, KEY1 } from './helpers/app.js'
import { CountingStore } from './helpers/counting-store.js'
import { RedisStore } from '../lib/stores/redis.js'
import { redisCommand, startRedis } from './helpers/redis.js'

const BIG = 'x'.repeat(6000)

function storeKeyOf (sid: string): string {
  const k = Buffer.from(hkdfSync('sha256', Buffer.from(KEY1.key, 'base64url'), Buffer.alloc(0), 'fastify-encrypted-session store-key v1', 32))
  return createHmac('sha256', k).update(sid).digest('base64url')
}

function routes (app: import('fastify').FastifyInstance): void {
  app.post('/put', async (req) => {
    for (const [k, v] of Object.entries(req.body as object)) req.session.set(k, v)
    return { id: req.session.id }
  })
  app.get('/read', async (req) => ({ data: req.session.data() }))
}

async function twoSessions (t: Tap, store: CountingStore) {
  const { app } = await build(t, { store }, routes)
  const a = await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG, owner: 'alice' } })
  const b = await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG, owner: 'bob' } })
  return {
    app,
    alice: { token: sessionCookie(a)!.value, key: storeKeyOf(a.json().id) },
    bob: { token: sessionCookie(b)!.value, key: storeKeyOf(b.json().id) }
  }
}
type Tap = Test

async function expectEmpty (t: Tap, app: import('fastify').FastifyInstance, token: string, reason: string, name: string): Promise<void> {
  const before = engine(app).metrics.rejected[reason as 'store_invalid']
  const res = await app.inject({ url: '/read', cookies: { session: token } })
  t.equal(res.statusCode, 200, `${name}: no error`)
  t.same(res.json().data, {}, `${name}: empty session, never another user's data`)
  t.equal(engine(app).metrics.rejected[reason as 'store_invalid'], before + 1, `${name}: counted as ${reason}`)
}

t.test('a value swapped between two sessions is refused', async (t) => {
  const store = new CountingStore()
  const { app, alice, bob } = await twoSessions(t, store)
  await store.put(alice.key, (await store.raw(bob.key))!)
  await expectEmpty(t, app, alice.token, 'store_invalid', 'bob\'s value under alice\'s key')
})

t.test('an older version put back is refused', async (t) => {
  const store = new CountingStore()
  const { app, alice } = await twoSessions(t, store)
  const v1 = (await store.raw(alice.key))!
  const v2cookie = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { owner: 'alice2' }, cookies: { session: alice.token } }))!.value
  await store.put(alice.key, { version: 2, value: v1.value })
  await expectEmpty(t, app, v2cookie, 'store_invalid', 'version 1 value relabelled as version 2')
  await store.put(alice.key, v1)
  await expectEmpty(t, app, v2cookie, 'store_invalid', 'version 1 entry restored whole')
})

t.test('a flipped byte, garbage, an empty or oversized value, a missing entry', async (t) => {
  const store = new CountingStore()
  const { app, alice } = await twoSessions(t, store)
  const good = (await store.raw(alice.key))!
  const i = good.value.length - 30
  const flipped = good.value.slice(0, i) + (good.value[i] === 'A' ? 'B' : 'A') + good.value.slice(i + 1)
  await store.put(alice.key, { version: 1, value: flipped })
  await expectEmpty(t, app, alice.token, 'store_invalid', 'flipped byte')
  await store.put(alice.key, { version: 1, value: 'garbage' })
  await expectEmpty(t, app, alice.token, 'store_invalid', 'garbage')
  await store.put(alice.key, { version: 1, value: '' })
  await expectEmpty(t, app, alice.token, 'store_invalid', 'empty')
  await store.put(alice.key, { version: 1, value: 'A'.repeat(200_000) })
  await expectEmpty(t, app, alice.token, 'store_invalid', 'oversized')
  await store.delete(alice.key)
  await expectEmpty(t, app, alice.token, 'store_missing', 'missing')
})

t.test('on Redis: wrong type, garbage and evicted entries are empty sessions', async (t) => {
  const server = await startRedis(t)
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(() => client.disconnect())
  const { app } = await build(t, { store: new RedisStore({ client, prefix: 's:' }) }, routes)
  const res = await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } })
  const token = sessionCookie(res)!.value
  const key = `s:${storeKeyOf(res.json().id)}`
  t.equal((await app.inject({ url: '/read', cookies: { session: token } })).json().data.blob, BIG)

  await redisCommand(server.port, ['DEL', key])
  await redisCommand(server.port, ['HSET', key, 'f', 'v'])
  await expectEmpty(t, app, token, 'store_missing', 'a hash where the string was')
  await redisCommand(server.port, ['DEL', key])
  await redisCommand(server.port, ['SET', key, 'not-a-session', 'EX', '60'])
  await expectEmpty(t, app, token, 'store_invalid', 'garbage string')
  await redisCommand(server.port, ['SET', key, '1:', 'EX', '60'])
  await expectEmpty(t, app, token, 'store_invalid', 'empty value')
  await redisCommand(server.port, ['DEL', key])
  await expectEmpty(t, app, token, 'store_missing', 'evicted')
})
