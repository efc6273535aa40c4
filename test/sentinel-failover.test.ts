// RedisStore behind Redis Sentinel, for real: a master, a replica and three redis-sentinel
// processes on loopback. The master is killed while requests keep coming; the promises are those
// of the Cluster failover test (test/store-failures.test.ts): during the window every response is
// a 200 with the session's own data or a coded 503 within the store timeout; none is a 500 or
// another session's data; afterwards every session comes back and new ones are offloaded, with
// no restart of the app.
import t from 'tap'
import { once } from 'node:events'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { RedisStore } from '../lib/stores/redis.js'
import { build, engine, sessionCookie, within } from './helpers/app.js'
import { replicaCaughtUp, startRedis } from './helpers/redis.js'
import { MASTER_NAME, roleOf, sentinelsAgree, startSentinel } from './helpers/sentinel.js'

const STORE_TIMEOUT = 1000
/** How long a request that needs a failing store may take: a bound, not a performance target. */
const BOUND = STORE_TIMEOUT + 500

const blobOf = (tag: string): string => `${tag}:`.repeat(Math.ceil(6000 / (tag.length + 1)))

function routes (app: FastifyInstance): void {
  app.post('/big', async (req) => {
    const { tag } = req.body as { tag: string }
    req.session.set('tag', tag)
    req.session.set('blob', blobOf(tag))
    return { id: req.session.id }
  })
  app.get('/read', async (req) => ({ isNew: req.session.isNew, data: req.session.data() }))
}

t.test('Sentinel: the master dies under load, the replica is promoted, sessions come back', async (t) => {
  const master = await startRedis(t)
  const replica = await startRedis(t, ['--replicaof', '127.0.0.1', String(master.port)])
  const sentinels = []
  for (let i = 0; i < 3; i++) sentinels.push(await startSentinel(t, master.port, 1000))
  await sentinelsAgree(sentinels, 1)

  const client = new Redis({
    sentinels,
    name: MASTER_NAME,
    // The README's fail-fast options.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 500,
    commandTimeout: STORE_TIMEOUT
  })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  await once(client, 'ready')
  const { app } = await build(t, { store: new RedisStore({ client }), storeTimeout: STORE_TIMEOUT }, routes)

  const sessions: Array<{ tag: string, cookie: string }> = []
  for (let i = 0; i < 8; i++) {
    const res = await app.inject({ method: 'POST', url: '/big', payload: { tag: `s${i}` } })
    t.equal(res.statusCode, 200)
    sessions.push({ tag: `s${i}`, cookie: sessionCookie(res)!.value })
  }
  t.equal(engine(app).metrics.offloaded, sessions.length, 'every session is offloaded')
  await replicaCaughtUp(master.port, replica.port)

  // The failover is announced on every sentinel's +switch-master channel.
  const watcher = new Redis(sentinels[0]!.port, '127.0.0.1')
  t.teardown(() => watcher.disconnect())
  await watcher.subscribe('+switch-master')
  const switched = new Promise<string>((resolve) => watcher.on('message', (_channel, message: string) => resolve(message)))

  const outcomes = new Map<string, number>()
  const bad: string[] = []
  let slowest = 0
  const check = async (s: { tag: string, cookie: string }): Promise<boolean> => {
    const started = performance.now()
    const res = await app.inject({ url: '/read', cookies: { session: s.cookie } })
    slowest = Math.max(slowest, performance.now() - started)
    let outcome: string
    if (res.statusCode === 503) {
      const ok = res.json().code === 'FST_ENCSESS_STORE_UNAVAILABLE' && res.headers['retry-after'] === '1' && res.headers['set-cookie'] === undefined
      outcome = ok ? '503' : `bad 503 ${res.body}`
    } else if (res.statusCode === 200) {
      const { data } = res.json() as { data: { tag?: string, blob?: string } }
      outcome = data.tag === s.tag && data.blob === blobOf(s.tag) ? '200 own' : `200 with ${JSON.stringify(data.tag)} (expected ${s.tag})`
    } else {
      outcome = `${res.statusCode} ${res.body}`
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
    if (outcome !== '503' && outcome !== '200 own') bad.push(`${s.tag}: ${outcome}`)
    return outcome === '200 own'
  }

  // Load: rounds of reads of every session, running before, during and after the failover.
  // `healthy(n)` resolves once n whole rounds in a row read every session's own data.
  const state = { stop: false, healthyRounds: 0 }
  t.teardown(() => { state.stop = true })
  let waiting: { rounds: number, resolve: () => void } | undefined
  const healthy = (rounds: number): Promise<void> => {
    state.healthyRounds = 0
    return within(new Promise<void>((resolve) => { waiting = { rounds, resolve } }), 15_000)
  }
  const load = (async () => {
    while (!state.stop) {
      const results = await Promise.all(sessions.map(check))
      state.healthyRounds = results.every(Boolean) ? state.healthyRounds + 1 : 0
      if (waiting !== undefined && state.healthyRounds >= waiting.rounds) {
        waiting.resolve()
        waiting = undefined
      }
      // A round of failing requests can complete in microtasks alone: yield, so that timers and
      // the client's reconnection get their turn.
      await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  // Killed while requests are in flight, after the load has read every session at least once.
  await healthy(1)
  const killed = once(master.process, 'exit')
  master.process.kill('SIGKILL')
  await killed
  const message = await within(switched, 30_000)
  const switchedAt = performance.now()
  t.match(message, new RegExp(`^${MASTER_NAME} 127.0.0.1 ${master.port} 127.0.0.1 ${replica.port}$`), 'the replica was promoted')
  t.equal(await roleOf(replica.port), 'master')
  // Recovery without a restart: wait until a whole round after the switch reads every session.
  await healthy(2)
  const recovery = performance.now() - switchedAt
  state.stop = true
  await load

  t.pass(`responses over the failover: ${JSON.stringify(Object.fromEntries(outcomes))}; all back ${Math.round(recovery)} ms after +switch-master`)
  t.same(bad, [], 'never a 500, a malformed 503 or another session\'s data')
  t.ok(slowest <= BOUND, `every request answered within ${BOUND} ms (slowest ${Math.round(slowest)} ms)`)
  for (const s of sessions) t.ok(await check(s), `${s.tag}: its own data after the failover`)
  const fresh = await app.inject({ method: 'POST', url: '/big', payload: { tag: 'after' } })
  t.equal(fresh.statusCode, 200, 'a new session is offloaded to the new master')
  t.ok(await check({ tag: 'after', cookie: sessionCookie(fresh)!.value }))
})
