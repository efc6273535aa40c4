// A stored value longer than any the plugin writes (MAX_STORED_LENGTH) is refused as store_invalid
// without being decrypted, and RedisStore does not even fetch it: a script measures it in Redis
// first. The plugin's own writes stay under the bound, or fail with a coded error.
import t from 'tap'
import { once } from 'node:events'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { build, engine, sessionCookie, KEY1 } from './helpers/app.js'
import { claimsOf } from './helpers/claims.js'
import { CountingStore } from './helpers/counting-store.js'
import { RedisStore } from '../lib/stores/redis.js'
import { MAX_STORED_LENGTH } from '../lib/storage.js'
import { infoField, redisCommand, startRedis } from './helpers/redis.js'

function routes (app: FastifyInstance): void {
  app.post('/put', async (req) => {
    for (const [k, v] of Object.entries(req.body as object)) req.session.set(k, v)
    return 'ok'
  })
  app.get('/read', async (req) => ({ size: JSON.stringify(req.session.data()).length }))
}

const outputBytes = async (port: number): Promise<number> =>
  Number(infoField(await redisCommand(port, ['INFO', 'stats']) as string, 'total_net_output_bytes'))

t.test('Redis: a huge value is refused as store_invalid without being fetched', async (t) => {
  const server = await startRedis(t)
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(() => client.disconnect())
  await once(client, 'ready')
  const { app } = await build(t, { store: new RedisStore({ client }) }, routes)
  const token = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { blob: 'x'.repeat(6000) } }))!.value
  const [key] = await client.keys('sess:*') as [string]
  const good = await client.get(key)
  // The right version in front, then 10 MB: what someone with write access to Redis could plant.
  await client.set(key, `1:${'A'.repeat(10 * 1024 * 1024)}`, 'EX', 3600)
  const { app: other } = await build(t, { store: new RedisStore({ client }) }, routes)
  const before = await outputBytes(server.port)
  const started = performance.now()
  const rounds = 10
  for (let i = 0; i < rounds; i++) {
    const res = await app.inject({ url: '/read', cookies: { session: token } })
    t.equal(res.statusCode, 200)
    t.equal(res.json().size, 2, 'an empty session')
  }
  // A fresh instance knows no value yet, so it reads with a plain bounded read instead of a compare.
  const res = await other.inject({ url: '/read', cookies: { session: token } })
  t.equal(res.json().size, 2)
  t.equal(engine(other).metrics.rejected.store_invalid, 1)
  const ms = (performance.now() - started) / (rounds + 1)
  const sent = (await outputBytes(server.port) - before) / (rounds + 1)
  t.comment(`10 MB stored value: ${ms.toFixed(2)} ms and ${Math.round(sent)} bytes from Redis per request`)
  t.ok(sent < 64 * 1024, `Redis sent ${Math.round(sent)} bytes per request, not the value`)
  t.equal(engine(app).metrics.rejected.store_invalid, rounds)
  // A value just at the bound is read (and refused only because it does not decrypt).
  await client.set(key, `1:${'A'.repeat(MAX_STORED_LENGTH)}`, 'EX', 3600)
  const at = await outputBytes(server.port)
  await app.inject({ url: '/read', cookies: { session: token } })
  t.ok(await outputBytes(server.port) - at > MAX_STORED_LENGTH, 'a value at the bound is fetched')
  await client.set(key, good!, 'EX', 3600)
  t.equal((await app.inject({ url: '/read', cookies: { session: token } })).json().size > 6000, true, 'the real value still loads')
})

t.test('any store: an authentic value over the bound is refused without being decrypted', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, routes)
  const token = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { blob: 'x'.repeat(6000) } }))!.value
  const manager = engine(app)
  const { sid } = await claimsOf(token, KEY1)
  const key = manager.storage!.keyOf(sid, 'k1')!
  // Sealed with the session's own key and bound to it: only its length is wrong.
  const seal = (length: number): string => manager.codec.seal(`{"aud":"fastify-encrypted-session#session#store","sid":"${sid}","ver":2,"dat":{"blob":"${'y'.repeat(length)}"}}`)
  // base64url moves in steps of 4 characters: the longest value that still fits.
  let length = Math.floor(MAX_STORED_LENGTH * 3 / 4) - 200
  let fits = seal(length)
  while (fits.length <= MAX_STORED_LENGTH) fits = seal(++length)
  const over = fits
  fits = seal(--length)
  t.ok(fits.length <= MAX_STORED_LENGTH && fits.length > MAX_STORED_LENGTH - 4, 'a value at the bound')
  await store.put(key, { version: 2, value: fits })
  t.ok((await app.inject({ url: '/read', cookies: { session: token } })).json().size > MAX_STORED_LENGTH / 2, 'at the bound: loaded')
  await store.put(key, { version: 2, value: over })
  const res = await app.inject({ url: '/read', cookies: { session: token } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().size, 2, 'over the bound: an empty session')
  t.equal(manager.metrics.rejected.store_invalid, 1)
})

t.test('a session that would be stored over the bound fails with a coded error, nothing written', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, routes)
  // 800 KB of JSON fits Fastify's body limit and seals to about 1.07 M characters.
  const res = await app.inject({ method: 'POST', url: '/put', payload: { blob: 'x'.repeat(800_000) } })
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'FST_ENCSESS_SESSION_TOO_LARGE')
  t.match(res.json().message, /over the 1048576/)
  t.equal(sessionCookie(res), undefined)
  t.same(store.calls, [], 'no write')
})
