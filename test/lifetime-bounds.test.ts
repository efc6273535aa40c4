// A token's lifetime is bounded by the configuration in force, whatever deadlines it was sealed
// with: a lowered maxAge or idleTimeout shortens live sessions at the next restart, a raised one
// never lengthens them, and an `iat` from the future is refused. Every comparison is tested at its
// boundary on the decrypting path (a fresh instance) and on the token-cache path (a repeat request).
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, engine, sessionCookie, KEY1, nowSeconds } from './helpers/app.js'
import { claimsOf } from './helpers/claims.js'
import { MemoryStore } from '../lib/stores/memory.js'
import { CLOCK_SKEW } from '../lib/lifetime.js'

const T0 = nowSeconds()
const BIG = 'x'.repeat(6000)

/** A fresh app whose clock reads `clock.now`. */
async function app (t: Test, options: Record<string, unknown>, clock: { now: number }): Promise<FastifyInstance> {
  const { app } = await build(t, options, (app) => {
    app.get('/read', async (req) => ({ n: req.session.get('n') ?? null, big: (req.session.get('big') as string | undefined)?.length ?? 0 }))
    app.post('/incr', async (req) => {
      req.session.set('n', ((req.session.get('n') as number | undefined) ?? 0) + 1)
      return 'ok'
    })
    app.post('/big', async (req) => {
      req.session.set('n', 1)
      req.session.set('big', BIG)
      return 'ok'
    })
  })
  engine(app).lifetime.now = () => clock.now
  return app
}

const read = async (a: FastifyInstance, token: string): Promise<number | null> =>
  (await a.inject({ url: '/read', cookies: { session: token } })).json().n

/**
 * Reads `token` at `at` on a fresh instance (decrypting) and then again (token cache): both give
 * `expected`; refusals are counted under `reason` once per path.
 */
async function bothPaths (t: Test, options: Record<string, unknown>, token: string, at: number, expected: number | null, reason?: string): Promise<void> {
  const clock = { now: at }
  const a = await app(t, options, clock)
  const m = engine(a).metrics
  // A first read at a time the token is surely fine puts it in the cache (as the browser keeps it).
  clock.now = Math.min(at, T0)
  if (expected === null && reason !== 'future') {
    t.equal(await read(a, token), 1, 'accepted earlier, so now in the cache')
    clock.now = at
    t.equal(await read(a, token), expected, `cache path at ${at - T0}`)
    t.ok(m.cacheHits >= 1, 'the token cache answered')
    t.equal(m.rejected[reason as 'expired'], 1)
  }
  const fresh = await app(t, options, { now: at })
  const fm = engine(fresh).metrics
  t.equal(await read(fresh, token), expected, `decrypting path at ${at - T0}`)
  t.equal(fm.cacheHits, 0)
  if (reason !== undefined) t.equal(fm.rejected[reason as 'expired'], expected === null ? 1 : 0)
  if (expected !== null) {
    t.equal(await read(fresh, token), expected, `cache path at ${at - T0}`)
    t.equal(fm.cacheHits, 1)
  }
}

async function issue (t: Test, options: Record<string, unknown>, at = T0, route = '/incr'): Promise<string> {
  const a = await app(t, options, { now: at })
  return sessionCookie(await a.inject({ method: 'POST', url: route }))!.value
}

t.test('a lowered maxAge shortens a live cookie session at restart: now == iat + maxAge is refused', async (t) => {
  const token = await issue(t, { maxAge: 3600 })
  t.equal((await claimsOf(token, KEY1)).exp, T0 + 3600)
  await bothPaths(t, { maxAge: 600 }, token, T0 + 599, 1, 'expired')
  await bothPaths(t, { maxAge: 600 }, token, T0 + 600, null, 'expired')
})

t.test('a token at exactly its exp is refused on both paths', async (t) => {
  const token = await issue(t, { maxAge: 600 })
  await bothPaths(t, { maxAge: 600 }, token, T0 + 599, 1, 'expired')
  await bothPaths(t, { maxAge: 600 }, token, T0 + 600, null, 'expired')
})

t.test('a raised maxAge never lengthens a session already issued', async (t) => {
  const token = await issue(t, { maxAge: 600 })
  await bothPaths(t, { maxAge: 7200 }, token, T0 + 600, null, 'expired')
  // A write after the restart re-seals it: still the old deadline.
  const a = await app(t, { maxAge: 7200 }, { now: T0 + 300 })
  const cookie = sessionCookie(await a.inject({ method: 'POST', url: '/incr', cookies: { session: token } }))!
  t.equal((await claimsOf(cookie.value, KEY1)).exp, T0 + 600)
  t.equal(cookie.attrs['Max-Age'], '300')
})

t.test('a re-seal after lowering maxAge carries the shorter deadline', async (t) => {
  const token = await issue(t, { maxAge: 3600 })
  const a = await app(t, { maxAge: 600 }, { now: T0 + 100 })
  const cookie = sessionCookie(await a.inject({ method: 'POST', url: '/incr', cookies: { session: token } }))!
  const claims = await claimsOf(cookie.value, KEY1)
  t.equal(claims.iat, T0)
  t.equal(claims.exp, T0 + 600)
  t.equal(cookie.attrs['Max-Age'], '500')
})

t.test(`an iat more than ${CLOCK_SKEW} s in the future is refused as future`, async (t) => {
  const skewed = await issue(t, {}, T0 + CLOCK_SKEW)
  const beyond = await issue(t, {}, T0 + CLOCK_SKEW + 1)
  await bothPaths(t, {}, skewed, T0, 1, 'future')
  await bothPaths(t, {}, beyond, T0, null, 'future')
  // And from the cache: a token this instance sealed with its clock ahead, read after the clock is put back.
  const clock = { now: T0 + CLOCK_SKEW + 1 }
  const a = await app(t, {}, clock)
  const token = sessionCookie(await a.inject({ method: 'POST', url: '/incr' }))!.value
  clock.now = T0
  t.equal(await read(a, token), null)
  t.equal(engine(a).metrics.cacheHits, 1)
  t.equal(engine(a).metrics.rejected.future, 1)
})

t.test('a token at exactly its idle deadline is refused on both paths', async (t) => {
  const token = await issue(t, { idleTimeout: 600 })
  t.equal((await claimsOf(token, KEY1)).idl, T0 + 600)
  await bothPaths(t, { idleTimeout: 600, rolling: false }, token, T0 + 599, 1, 'idle')
  await bothPaths(t, { idleTimeout: 600, rolling: false }, token, T0 + 600, null, 'idle')
})

t.test('a lowered idleTimeout refuses idle deadlines further ahead than it allows now', async (t) => {
  const token = await issue(t, { idleTimeout: 1800 })
  // idl = T0 + 1800: within 600 + skew of now from T0 + 1140 on.
  await bothPaths(t, { idleTimeout: 600, rolling: false }, token, T0 + 1800 - 600 - CLOCK_SKEW, 1, 'idle')
  const fresh = await app(t, { idleTimeout: 600 }, { now: T0 + 1800 - 600 - CLOCK_SKEW - 1 })
  t.equal(await read(fresh, token), null)
  t.equal(engine(fresh).metrics.rejected.idle, 1)
  // From the cache too: accepted under the old setting, refused once the instance runs the new one.
  const clock = { now: T0 }
  const a = await app(t, { idleTimeout: 1800, rolling: false }, clock)
  t.equal(await read(a, token), 1)
  engine(a).lifetime.idleTimeout = 600
  t.equal(await read(a, token), null)
  t.equal(engine(a).metrics.cacheHits, 1)
  t.equal(engine(a).metrics.rejected.idle, 1)
})

t.test('offloaded sessions: a restart with a lower maxAge refuses them at iat + maxAge', async (t) => {
  const store = new MemoryStore()
  const token = await issue(t, { store, maxAge: 3600 }, T0, '/big')
  t.ok((await claimsOf(token, KEY1)).ref, 'offloaded')
  const readBig = async (a: FastifyInstance): Promise<number> => (await a.inject({ url: '/read', cookies: { session: token } })).json().big
  const clock = { now: T0 + 599 }
  const a = await app(t, { store, maxAge: 600 }, clock)
  t.equal(await readBig(a), BIG.length, 'decrypting path, one second before')
  t.equal(await readBig(a), BIG.length, 'cache path, one second before')
  t.equal(engine(a).metrics.cacheHits, 1)
  clock.now = T0 + 600
  t.equal(await readBig(a), 0, 'cache path, at iat + maxAge')
  t.equal(engine(a).metrics.rejected.expired, 1)
  const b = await app(t, { store, maxAge: 600 }, { now: T0 + 600 })
  t.equal(await readBig(b), 0, 'decrypting path, at iat + maxAge')
  t.equal(engine(b).metrics.rejected.expired, 1)
  // A write before the new deadline re-offloads it with the shorter lifetime.
  const c = await app(t, { store, maxAge: 600 }, { now: T0 + 100 })
  const res = await c.inject({ method: 'POST', url: '/big', cookies: { session: token } })
  const claims = await claimsOf(sessionCookie(res)!.value, KEY1)
  t.ok(claims.ref)
  t.equal(claims.exp, T0 + 600)
})

t.test('offloaded sessions: a lowered idleTimeout and a future iat are refused', async (t) => {
  const store = new MemoryStore()
  const idle = await issue(t, { store, idleTimeout: 1800 }, T0, '/big')
  const a = await app(t, { store, idleTimeout: 600 }, { now: T0 })
  t.equal((await a.inject({ url: '/read', cookies: { session: idle } })).json().big, 0)
  t.equal(engine(a).metrics.rejected.idle, 1)
  const future = await issue(t, { store }, T0 + CLOCK_SKEW + 1, '/big')
  const b = await app(t, { store }, { now: T0 })
  t.equal((await b.inject({ url: '/read', cookies: { session: future } })).json().big, 0)
  t.equal(engine(b).metrics.rejected.future, 1)
})
