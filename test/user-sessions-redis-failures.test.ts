// Failure never widens access: with Redis stopped, frozen (SIGSTOP), restarted empty, or an
// instance's subscriber cut off, a user-bound request is answered 503 (coded, Retry-After) or
// refused, never accepted once it could have been ended; sessions not bound to a user and routes
// that do not touch the session are unaffected throughout.
import t, { type Test } from 'tap'
import type * as LightMyRequest from 'light-my-request'
import { Redis, type RedisOptions } from 'ioredis'
import { RedisStore } from '../lib/stores/redis.js'
import { build, sessionCookie, engine } from './helpers/app.js'
import { refusal, userRoutes, until } from './helpers/users.js'
import { redisCommand, startRedis, startRedisOnPort, type RedisServer } from './helpers/redis.js'
import { STORE_WATCH_BOUND_MS } from '../lib/stores/redis-watch.js'

const STORE_TIMEOUT = 300
const FAIL_FAST: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 300, commandTimeout: STORE_TIMEOUT }
/**
 * How long an instance may take to stop trusting its cache and then give up on the store: an
 * allowance for a loaded machine. While the store is down nothing can be ended, so a request
 * accepted meanwhile is no breach; the bound itself is tested where sessions are ended.
 */
const NOTICE = STORE_WATCH_BOUND_MS + STORE_TIMEOUT + 4000

type App = Awaited<ReturnType<typeof build>>['app']

async function instance (t: Test, redis: RedisServer): Promise<App> {
  const client = new Redis(redis.port, redis.host, FAIL_FAST)
  const subscriber = new Redis(redis.port, redis.host, { ...FAIL_FAST, enableOfflineQueue: true })
  client.on('error', () => {})
  subscriber.on('error', () => {})
  t.teardown(() => { client.disconnect(); subscriber.disconnect() })
  const { app } = await build(t, { store: new RedisStore({ client, subscriber }), userKey: 'user', storeTimeout: STORE_TIMEOUT }, userRoutes)
  if (await until(async () => engine(app).users!.live, 5000) < 0) throw new Error('the watch never became live')
  return app
}

const login = async (app: App, user: string): Promise<string> => sessionCookie(await app.inject({ method: 'POST', url: '/login', body: { user } }))!.value
const me = async (app: App, cookie: string): Promise<LightMyRequest.Response> => await app.inject({ url: '/me', cookies: { session: cookie } })

/** A user-bound session known to b (cached), an unbound one, and a check of the unaffected routes. */
async function setup (t: Test): Promise<{ redis: RedisServer, a: App, b: App, ada: string, visitor: string, unaffected: () => Promise<void> }> {
  const redis = await startRedis(t)
  const a = await instance(t, redis)
  const b = await instance(t, redis)
  const ada = await login(a, 'ada')
  const visitor = sessionCookie(await a.inject({ method: 'POST', url: '/visit' }))!.value
  // b reads ada's record once (then holds it); the store timeout is short on purpose, so on a loaded
  // machine that first read may time out: wait for b to know the session rather than assume it.
  t.ok(await until(async () => (await me(b, ada)).json().user === 'ada', 5000) >= 0, 'b accepts ada\'s session')
  const unaffected = async (): Promise<void> => {
    t.equal((await b.inject({ url: '/free' })).statusCode, 200, 'a route without the session: 200')
    const res = await b.inject({ method: 'POST', url: '/visit', cookies: { session: visitor } })
    t.equal(res.statusCode, 200, 'an unbound session: 200')
  }
  return { redis, a, b, ada, visitor, unaffected }
}

function assertUnavailable (t: Test, res: LightMyRequest.Response): void {
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '1')
  t.equal(res.json().code, 'FST_ENCSESS_STORE_UNAVAILABLE')
  t.equal(res.headers['set-cookie'], undefined)
}

t.test('Redis stopped: user-bound requests 503 once the cache cannot be trusted', async (t) => {
  const { redis, b, ada, unaffected } = await setup(t)
  await redis.stop()
  let last: LightMyRequest.Response | undefined
  t.ok(await until(async () => { last = await me(b, ada); return last.statusCode !== 200 }, NOTICE) >= 0, 'noticed in time')
  assertUnavailable(t, last!)
  await unaffected()
  const logout = await b.inject({ method: 'POST', url: '/logout', cookies: { session: ada } })
  t.equal(logout.statusCode, 200, 'logout still works')
  t.match(sessionCookie(logout)!.raw, /Max-Age=0|Expires=Thu, 01 Jan 1970/, 'and clears the cookie')
})

t.test('Redis frozen (SIGSTOP): 503 within the bound and the store timeout; back to normal on SIGCONT', async (t) => {
  const { redis, b, ada, unaffected } = await setup(t)
  redis.process.kill('SIGSTOP')
  t.teardown(() => { redis.process.kill('SIGCONT') })
  let last: LightMyRequest.Response | undefined
  t.ok(await until(async () => { last = await me(b, ada); return last.statusCode !== 200 }, NOTICE) >= 0, 'noticed in time')
  assertUnavailable(t, last!)
  await unaffected()
  redis.process.kill('SIGCONT')
  t.ok(await until(async () => (await me(b, ada)).json().user === 'ada', 10_000) >= 0, 'accepted again once Redis answers')
})

t.test('Redis restarted with its memory lost: user-bound sessions are refused, not accepted from a cache', async (t) => {
  const { redis, b, ada, unaffected } = await setup(t)
  await redis.stop()
  await startRedisOnPort(t, redis.port)
  let last: LightMyRequest.Response | undefined
  t.ok(await until(async () => { last = await me(b, ada); return last.statusCode === 200 && last.json().user === null }, 10_000) >= 0, 'refused')
  t.equal(engine(b).metrics.rejected.revoked, 1)
  await unaffected()
})

t.test('subscriber cut off while sessions are ended: refused after the reconnect, never accepted', async (t) => {
  const { redis, a, b, ada } = await setup(t)
  await redisCommand(redis.port, ['CLIENT', 'KILL', 'TYPE', 'pubsub'])
  await engine(a).endUserSessions('ada')
  // The announcement was lost with the connection; the bound still holds (it may be met sooner:
  // the instance forgets its cache as soon as it sees the connection close).
  const { took, late } = await refusal(async () => (await me(b, ada)).json().user === 'ada', performance.now(), STORE_WATCH_BOUND_MS)
  t.ok(took >= 0, `not accepted after ${took.toFixed(0)} ms`)
  t.equal(late, 0, 'never accepted past the bound')
  t.ok(await until(async () => (await me(b, ada)).json().user === null, NOTICE) >= 0, 'refused once the store answers')
  t.ok(await until(async () => engine(b).users!.live, 5000) >= 0, 'the watch is live again')
})
