// userKey on real Redis, two app instances in one process, each with its own client and
// subscriber: what one instance ends is refused by the other within the bound, steady-state
// requests cost no Redis command, and nothing in Redis names a user or a session.
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisStore } from '../lib/stores/redis.js'
import { build, sessionCookie, engine } from './helpers/app.js'
import { refusal, userRoutes, until } from './helpers/users.js'
import { commandCount, redisCommand, startRedis, type RedisServer } from './helpers/redis.js'
import { STORE_WATCH_BOUND_MS } from '../lib/stores/redis-watch.js'

type App = Awaited<ReturnType<typeof build>>['app']

async function instance (t: Parameters<typeof build>[0], redis: RedisServer, subscribe = true): Promise<App> {
  const client = new Redis(redis.port, redis.host)
  const subscriber = subscribe ? new Redis(redis.port, redis.host) : undefined
  t.teardown(() => { client.disconnect(); subscriber?.disconnect() })
  const { app } = await build(t, { store: new RedisStore({ client, subscriber }), userKey: 'user', maxAge: 3600 }, userRoutes)
  return app
}

/** Waits (bounded) until the instance's watch is live: its SUBSCRIBE was answered. */
async function live (app: App): Promise<void> {
  if (await until(async () => engine(app).users!.live, 5000) < 0) throw new Error('the watch never became live')
}

const login = async (app: App, user: string): Promise<string> => sessionCookie(await app.inject({ method: 'POST', url: '/login', body: { user } }))!.value
const me = async (app: App, cookie: string): Promise<unknown> => (await app.inject({ url: '/me', cookies: { session: cookie } })).json().user

t.test('ended on one instance, refused on the other within the bound; other users untouched', async (t) => {
  const redis = await startRedis(t)
  const a = await instance(t, redis)
  const b = await instance(t, redis)
  await live(b)
  const ada = await login(a, 'ada')
  const bob = await login(a, 'bob')
  t.equal(await me(b, ada), 'ada')
  t.equal(await me(b, ada), 'ada', 'from b\'s cache')
  t.equal(await engine(a).endUserSessions('ada'), 1)
  const { took, late } = await refusal(async () => await me(b, ada) === 'ada', performance.now(), STORE_WATCH_BOUND_MS)
  t.ok(took >= 0, `refused on b after ${took.toFixed(1)} ms`)
  t.equal(late, 0, 'never accepted past the bound')
  t.equal(await me(b, bob), 'bob', 'negative control: a session not ended is still accepted')
  t.equal(engine(b).metrics.rejected.revoked >= 1, true)
  const later = await login(a, 'ada')
  t.equal(await me(b, later), 'ada', 'a login after the call works on every instance')
})

t.test('steady state: no Redis command for a user-bound request; without a subscriber, one GET', async (t) => {
  const redis = await startRedis(t)
  const a = await instance(t, redis)
  const deaf = await instance(t, redis, false)
  await live(a)
  const ada = await login(a, 'ada')
  const gets = async (): Promise<number> => (await commandCount(redis.port)).get('get') ?? 0
  // The instance hears its own announcement of the login too, which drops its copy once more.
  t.ok(await until(async () => { const g = await gets(); await me(a, ada); return await gets() === g }, 5000) >= 0, 'warmed up')
  const calls = async (): Promise<Record<string, number>> => Object.fromEntries([...(await commandCount(redis.port)).entries()]
    .filter(([name]) => name !== 'info' && name !== 'ping'))
  const before = await calls()
  for (let i = 0; i < 50; i++) t.equal(await me(a, ada), 'ada')
  t.same(await calls(), before, 'no command but INFO and the watch\'s PINGs')
  const reads = await gets()
  for (let i = 0; i < 10; i++) t.equal(await me(deaf, ada), 'ada')
  t.equal(await gets() - reads, 10)
  await engine(a).endUserSessions('ada')
  t.equal(await me(deaf, ada), null, 'and it is refused at once')
})

t.test('Redis holds no user id, no session id and nothing that opens a session; TTLs bound it', async (t) => {
  const redis = await startRedis(t)
  const a = await instance(t, redis)
  const ids: string[] = []
  for (const user of ['ada.lovelace@example.com', 'charles.babbage@example.com']) {
    const cookie = await login(a, user)
    ids.push((await a.inject({ url: '/me', cookies: { session: cookie } })).json().id)
  }
  const keys = await redisCommand(redis.port, ['KEYS', '*']) as string[]
  t.ok(keys.length >= 2)
  for (const key of keys) {
    const value = String(await redisCommand(redis.port, ['GET', key]))
    // Long enough that a random base64url string does not hold one by chance.
    for (const secret of ['lovelace', 'babbage', 'example.com', ...ids]) {
      t.notOk(key.includes(secret) || value.includes(secret), `${key} holds nothing of ${secret.slice(0, 6)}…`)
    }
    t.equal(engine(a).open(value.replace(/^\d+:/, '')), null, 'a stored value is not a cookie')
    const ttl = Number(await redisCommand(redis.port, ['TTL', key]))
    t.ok(ttl > 0 && ttl <= 3600, `TTL ${ttl}`)
  }
})

t.test('stores with different prefixes may share one subscriber: each hears only its own channel', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.port, redis.host)
  const subscriber = new Redis(redis.port, redis.host)
  t.teardown(() => { client.disconnect(); subscriber.disconnect() })
  const apps: App[] = []
  for (const prefix of ['one:', 'two:']) {
    apps.push((await build(t, { store: new RedisStore({ client, subscriber, prefix }), userKey: 'user' }, userRoutes)).app)
  }
  for (const app of apps) await live(app)
  const [one, two] = apps as [App, App]
  const a1 = await login(one, 'ada')
  const a2 = await login(two, 'ada')
  t.equal(await me(two, a2), 'ada')
  t.equal(await engine(one).endUserSessions('ada'), 1)
  t.equal(await me(one, a1), null)
  t.equal(await me(two, a2), 'ada', 'the other registration\'s user of the same id is another list')
})
