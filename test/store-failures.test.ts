// What a request sees when the store behind offloaded sessions fails, on real redis-server processes
// (no mocks): stopped, restarted on the same port, stalled, full, evicting, and a Redis Cluster
// failing over. The contract: requests that do not need the store are unaffected; a request that
// does gets a coded 503 with Retry-After within storeTimeout and no Set-Cookie (the browser keeps
// its cookie); logout still clears the cookie; nobody ever gets a 500 or another user's data; and
// recovery needs no restart of the app.
import t from 'tap'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { RedisStore } from '../lib/stores/redis.js'
import { build, engine, sessionCookie } from './helpers/app.js'
import {
  clusterNodes, failoverDone, redisCommand, replicaCaughtUp, startCluster, startRedis, startRedisOnPort, type RedisServer
} from './helpers/redis.js'

// Any promise the plugin or the client lets go unhandled is a bug; the last subtest checks this.
const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => { unhandled.push(reason) })

// Generous enough that a loaded CI machine (tap runs two files at once) does not time out reads
// that are not meant to; the stall tests scale their pauses from it.
const STORE_TIMEOUT = 1000
/** How long a request that needs a failed store may take: a bound, not a performance target. */
const BOUND = STORE_TIMEOUT + 500

/**
 * The client options the README recommends for fail-fast behaviour: no offline queue (a command
 * sent while disconnected fails at once instead of waiting for a reconnect), few retries, short
 * connect and command timeouts; ioredis' default retryStrategy keeps reconnecting in the background.
 */
const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 500,
  commandTimeout: STORE_TIMEOUT
}

type Client = Redis | Cluster

function whenEvent (client: Client, event: string): Promise<void> {
  return new Promise((resolve) => client.once(event, () => resolve()))
}

async function connect (t: tap.Test, port: number): Promise<Redis> {
  const client = new Redis(port, '127.0.0.1', { ...FAIL_FAST })
  // Connection errors are expected here; without a listener ioredis prints each one.
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  if (client.status !== 'ready') await whenEvent(client, 'ready')
  return client
}

interface Fixture {
  app: FastifyInstance
  client: Client
}

async function appWith (t: tap.Test, client: Client, more?: (app: FastifyInstance) => void): Promise<Fixture> {
  const { app } = await build(t, { store: new RedisStore({ client }), storeTimeout: STORE_TIMEOUT }, (app) => {
    routes(app)
    more?.(app)
  })
  return { app, client }
}

/** Every session gets a unique tag, so a response can always tell whose data it carries. */
const blobOf = (tag: string): string => `${tag}:${'x'.repeat(6000)}`

function routes (app: FastifyInstance): void {
  app.get('/', async () => 'no session here')
  app.get('/read', async (req) => ({ id: req.session.id, isNew: req.session.isNew, data: req.session.data() }))
  // ~6 KB: never fits in a cookie, so the session is offloaded.
  app.post('/big', async (req) => {
    const { tag } = req.body as { tag: string }
    req.session.set('tag', tag)
    req.session.set('blob', blobOf(tag))
    return { id: req.session.id }
  })
  app.post('/small', async (req) => {
    const { tag } = req.body as { tag: string }
    req.session.set('tag', tag)
    req.session.set('blob', undefined)
    return { id: req.session.id }
  })
  app.post('/logout', async (req) => {
    req.session.delete()
    return { ok: true }
  })
}

type Response = Awaited<ReturnType<FastifyInstance['inject']>>

const withCookie = (cookie: string | undefined): Record<string, string> =>
  cookie === undefined ? {} : { cookie: `session=${cookie}` }

function post (app: FastifyInstance, url: string, tag: string, cookie?: string): Promise<Response> {
  return app.inject({ method: 'POST', url, payload: { tag }, headers: withCookie(cookie) })
}

function read (app: FastifyInstance, cookie: string): Promise<Response> {
  return app.inject({ url: '/read', headers: withCookie(cookie) })
}

/** A new offloaded session tagged `tag`; returns its cookie value and id. */
async function offload (t: tap.Test, app: FastifyInstance, tag: string): Promise<{ cookie: string, id: string }> {
  const before = engine(app).metrics.offloaded
  const res = await post(app, '/big', tag)
  t.equal(res.statusCode, 200, `offload ${tag}: 200`)
  const cookie = sessionCookie(res)
  t.ok(cookie, `offload ${tag}: a cookie`)
  t.equal(engine(app).metrics.offloaded, before + 1, `offload ${tag}: the data went to the store`)
  return { cookie: cookie!.value, id: (res.json() as { id: string }).id }
}

/** A new session that lives wholly in its cookie. */
async function cookieOnly (t: tap.Test, app: FastifyInstance, tag: string): Promise<string> {
  const before = engine(app).metrics.offloaded
  const res = await post(app, '/small', tag)
  t.equal(res.statusCode, 200, `cookie-only ${tag}: 200`)
  t.equal(engine(app).metrics.offloaded, before, `cookie-only ${tag}: nothing offloaded`)
  return sessionCookie(res)!.value
}

/** The 503 a request gets when it needs a store that failed: coded, retryable, no cookie. */
function assertUnavailable (t: tap.Test, res: Response, what: string): void {
  t.equal(res.statusCode, 503, `${what}: 503`)
  t.equal(res.headers['retry-after'], '1', `${what}: Retry-After`)
  t.equal((res.json() as { code?: string }).code, 'FST_ENCSESS_STORE_UNAVAILABLE', `${what}: coded`)
  t.equal(res.headers['set-cookie'], undefined, `${what}: no Set-Cookie, the browser keeps its cookie`)
}

interface ReadBack { status: number, tag: string | undefined, blobOk: boolean, isNew: boolean }

async function readBack (app: FastifyInstance, cookie: string): Promise<ReadBack> {
  const res = await read(app, cookie)
  if (res.statusCode !== 200) return { status: res.statusCode, tag: undefined, blobOk: false, isNew: false }
  const body = res.json() as { isNew: boolean, data: { tag?: string, blob?: string } }
  const tag = body.data.tag
  return { status: 200, tag, blobOk: tag !== undefined && body.data.blob === blobOf(tag), isNew: body.isNew }
}

/** Reads `cookie` and checks it gives its own session's data. */
async function assertOwnData (t: tap.Test, app: FastifyInstance, cookie: string, tag: string, what: string): Promise<void> {
  const got = await readBack(app, cookie)
  t.equal(got.status, 200, `${what}: 200`)
  t.equal(got.tag, tag, `${what}: its own data`)
  t.ok(got.blobOk, `${what}: all of it`)
}

/** Reads `cookie` and checks it gives an empty new session (not an error, not anyone's data). */
async function assertEmpty (t: tap.Test, app: FastifyInstance, cookie: string, what: string): Promise<void> {
  const res = await read(app, cookie)
  t.equal(res.statusCode, 200, `${what}: 200`)
  const body = res.json() as { isNew: boolean, data: Record<string, unknown> }
  t.same(body.data, {}, `${what}: no data`)
  t.equal(body.isNew, true, `${what}: a new session`)
}

/** A standalone server, a fail-fast client, an app. */
async function standalone (t: tap.Test, extraArgs: string[] = [], more?: (app: FastifyInstance, server: RedisServer) => void): Promise<Fixture & { server: RedisServer }> {
  const server = await startRedis(t, extraArgs)
  const client = await connect(t, server.port)
  return { server, ...await appWith(t, client, more && ((app) => more(app, server))) }
}

/** Stops the server and waits until the client has seen its connection close. */
async function stopStore (server: RedisServer, client: Client): Promise<void> {
  const closed = whenEvent(client, 'close')
  await server.stop()
  await closed
}

async function timed<T> (fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now()
  const value = await fn()
  return [value, performance.now() - started]
}

t.test('store stopped', async (t) => {
  t.test('a request with no cookie succeeds and never touches the store', async (t) => {
    const { server, app, client } = await standalone(t)
    await stopStore(server, client)

    const plain = await app.inject({ url: '/' })
    t.equal(plain.statusCode, 200)
    t.equal(plain.body, 'no session here')
    const res = await app.inject({ url: '/read' })
    t.equal(res.statusCode, 200)
    t.same((res.json() as { data: object }).data, {})
    t.equal(res.headers['set-cookie'], undefined, 'nothing changed, nothing sent')
    t.match(engine(app).metrics.store, { hits: 0, misses: 0, errors: 0, conflicts: 0 }, 'the store was never called')
  })

  t.test('a session that lives wholly in the cookie is read and updated as usual', async (t) => {
    const { server, app, client } = await standalone(t)
    const cookie = await cookieOnly(t, app, 'alice')
    await stopStore(server, client)

    const got = await read(app, cookie)
    t.equal(got.statusCode, 200)
    t.equal((got.json() as { data: { tag: string } }).data.tag, 'alice', 'its data')
    const updated = await post(app, '/small', 'alice-2', cookie)
    t.equal(updated.statusCode, 200, 'an update that still fits the cookie succeeds')
    const next = sessionCookie(updated)
    t.ok(next, 'with a new cookie')
    const again = await read(app, next!.value)
    t.equal((again.json() as { data: { tag: string } }).data.tag, 'alice-2')
    t.match(engine(app).metrics.store, { hits: 0, misses: 0, errors: 0, conflicts: 0 }, 'the store was never called')
  })

  t.test('reading an offloaded session is a coded 503 within storeTimeout', async (t) => {
    const { server, app, client } = await standalone(t)
    const { cookie } = await offload(t, app, 'bob')
    await stopStore(server, client)

    const [res, elapsed] = await timed(() => read(app, cookie))
    assertUnavailable(t, res, 'offloaded read')
    t.ok(elapsed < BOUND, `answered in ${elapsed.toFixed(0)} ms (< ${BOUND} ms)`)
    t.ok(engine(app).metrics.store.errors >= 1, 'counted as a store error')
  })

  t.test('a write that would offload is a coded 503 and sets no cookie', async (t) => {
    const { server, app, client } = await standalone(t)
    const small = await cookieOnly(t, app, 'carol')
    await stopStore(server, client)

    const [fresh, elapsed] = await timed(() => post(app, '/big', 'dave'))
    assertUnavailable(t, fresh, 'new session too large for a cookie')
    t.ok(elapsed < BOUND, `answered in ${elapsed.toFixed(0)} ms (< ${BOUND} ms)`)
    const grown = await post(app, '/big', 'carol-big', small)
    assertUnavailable(t, grown, 'cookie-only session growing past the cookie')
    t.equal(engine(app).metrics.offloaded, 0, 'nothing counted as offloaded')
    const got = await read(app, small)
    t.equal((got.json() as { data: { tag: string } }).data.tag, 'carol', 'the old cookie still holds the old data')
  })

  t.test('logout with an offloaded cookie still clears the cookie', async (t) => {
    const { server, app, client } = await standalone(t)
    const { cookie } = await offload(t, app, 'erin')
    await stopStore(server, client)

    const [res, elapsed] = await timed(() => app.inject({ method: 'POST', url: '/logout', headers: withCookie(cookie) }))
    t.equal(res.statusCode, 200, 'logout succeeds')
    const cleared = sessionCookie(res)
    t.ok(cleared, 'with a Set-Cookie')
    t.equal(cleared?.value, '', 'that empties the cookie')
    t.equal(cleared?.attrs['Max-Age'], '0', 'and expires it')
    t.ok(elapsed < BOUND, `answered in ${elapsed.toFixed(0)} ms (< ${BOUND} ms)`)
  })
})

t.test('recovery: a store back on the same port works again without restarting the app', async (t) => {
  const { server, app, client } = await standalone(t)
  const port = server.port
  const old = await offload(t, app, 'frank')
  await stopStore(server, client)
  assertUnavailable(t, await read(app, old.cookie), 'while the store is down')

  // The same client keeps reconnecting to the same address; 'ready' is the moment it is back.
  const ready = whenEvent(client, 'ready')
  await startRedisOnPort(t, port)
  await ready

  const missingBefore = engine(app).metrics.rejected.store_missing
  await assertEmpty(t, app, old.cookie, 'the old offloaded cookie (its data died with the server)')
  t.equal(engine(app).metrics.rejected.store_missing, missingBefore + 1, 'counted as store_missing')
  const fresh = await offload(t, app, 'grace')
  await assertOwnData(t, app, fresh.cookie, 'grace', 'a new offloaded session')
})

t.test('stalled store (CLIENT PAUSE): reads fail fast, then the same cookie works again', async (t) => {
  const { server, app } = await standalone(t)
  const { cookie } = await offload(t, app, 'heidi')

  await server.pause(STORE_TIMEOUT * 5)
  const [res, elapsed] = await timed(() => read(app, cookie))
  assertUnavailable(t, res, 'offloaded read during the pause')
  t.ok(elapsed < BOUND, `answered in ${elapsed.toFixed(0)} ms (< ${BOUND} ms)`)
  // A paused server holds this command too and answers it when the pause ends: that is the event.
  t.equal(await redisCommand(server.port, ['PING']), 'PONG', 'the pause is over')

  await assertOwnData(t, app, cookie, 'heidi', 'the same cookie after the pause')
})

t.test('a write that times out in a stall leaves the browser a working cookie', async (t) => {
  // The stall starts after the session was read and before it is written, as a slow store would.
  const { server, app } = await standalone(t, [], (app, server) => {
    app.post('/big-stalled', async (req) => {
      await server.pause(STORE_TIMEOUT * 4)
      const { tag } = req.body as { tag: string }
      req.session.set('tag', tag)
      req.session.set('blob', blobOf(tag))
      return { id: req.session.id }
    })
  })
  const { cookie, id } = await offload(t, app, 'ivan')
  const redisKey = `sess:${engine(app).storage!.keyOf(id, engine(app).codec.ring.current.kid)!}`

  const res = await post(app, '/big-stalled', 'ivan-2', cookie)
  assertUnavailable(t, res, 'update during the stall')
  // Redis still runs the write it was holding once the pause ends: the plugin gave up on it, but
  // it may land. Either outcome is fine; what the browser kept must still open its own session.
  t.equal(await redisCommand(server.port, ['PING']), 'PONG', 'the pause is over')
  const stored = String(await redisCommand(server.port, ['GET', redisKey]))
  t.comment(`the refused write ${stored.startsWith('2:') ? 'landed after the 503' : 'did not land'}`)
  const got = await readBack(app, cookie)
  t.equal(got.status, 200, 'the kept cookie: 200')
  t.notOk(got.isNew, 'the kept cookie: still its session, not an empty new one')
  t.ok(got.tag === 'ivan' || got.tag === 'ivan-2', `the kept cookie: its own data, before or after the refused change (${String(got.tag)})`)
  t.ok(got.blobOk, 'the kept cookie: all of it')
  t.equal(engine(app).metrics.rejected.store_invalid, 0, 'not refused as store_invalid')
})

t.test('store full (noeviction): offload writes are a 503, cookie-only sessions still work', async (t) => {
  const { server, app } = await standalone(t, ['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction'])
  const existing = await offload(t, app, 'judy')
  const small = await cookieOnly(t, app, 'ken')

  // Fill it well past maxmemory, so that no buffer Redis frees later brings it back under: a
  // script is checked for memory only before its first write, so one script can overshoot.
  // (Filling with plain SETs stops at the limit, and the first OOM is partly the refused command's
  // own argument, freed right after: the next, smaller write may then fit again.)
  const fill = "for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'filler:' .. i, string.rep('f', 65536)) end return 1"
  await redisCommand(server.port, ['EVAL', fill, '0', '48'])
  const info = String(await redisCommand(server.port, ['INFO', 'memory']))
  const used = Number(/^used_memory:(\d+)/m.exec(info)?.[1])
  t.ok(used > 2 * 1024 * 1024 + 1024 * 1024, `used_memory ${used} is at least 1 MB over maxmemory`)
  await t.rejects(redisCommand(server.port, ['SET', 'probe', 'x']), { message: /^OOM / }, 'Redis refuses writes: out of memory')
  const keys = await redisCommand(server.port, ['DBSIZE'])

  const fresh = await post(app, '/big', 'leo')
  assertUnavailable(t, fresh, 'new offloaded session')
  const grown = await post(app, '/big', 'judy-2', existing.cookie)
  assertUnavailable(t, grown, 'update of an offloaded session')
  t.equal(await redisCommand(server.port, ['DBSIZE']), keys, 'nothing was stored')
  t.equal(engine(app).metrics.offloaded, 1, 'only the session from before the store filled up was offloaded')

  await assertOwnData(t, app, existing.cookie, 'judy', 'the existing offloaded session is still readable')
  const got = await read(app, small)
  t.equal(got.statusCode, 200)
  t.equal((got.json() as { data: { tag: string } }).data.tag, 'ken', 'an existing cookie-only session works')
  const updated = await post(app, '/small', 'ken-2', small)
  t.equal(updated.statusCode, 200, 'a cookie-only update works')
  const next = await read(app, sessionCookie(updated)!.value)
  t.equal((next.json() as { data: { tag: string } }).data.tag, 'ken-2')
  const created = await cookieOnly(t, app, 'mallory')
  t.equal((await read(app, created)).statusCode, 200, 'a new cookie-only session works')
})

t.test('store evicting (allkeys-lru): an evicted session reads as empty, never as an error or as someone else', async (t) => {
  const { server, app } = await standalone(t, ['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru'])
  const storage = engine(app).storage!
  const kid = engine(app).codec.ring.current.kid
  const redisKey = (id: string): string => `sess:${storage.keyOf(id, kid)!}`

  const sessions: Array<{ tag: string, cookie: string, id: string }> = []
  const EARLY = 10
  let evicted: { tag: string, cookie: string, id: string } | undefined
  // Offload until one of the first sessions has been evicted. EXISTS does not touch the LRU clock.
  for (let i = 0; i < 1000 && evicted === undefined; i++) {
    const tag = `user${i}`
    const res = await post(app, '/big', tag)
    if (res.statusCode !== 200) {
      t.fail(`offload ${tag}: ${res.statusCode} ${res.body}`)
      return
    }
    sessions.push({ tag, cookie: sessionCookie(res)!.value, id: (res.json() as { id: string }).id })
    if (i >= EARLY && i % 10 === 0) {
      for (const s of sessions.slice(0, EARLY)) {
        if (await redisCommand(server.port, ['EXISTS', redisKey(s.id)]) === 0) {
          evicted = s
          break
        }
      }
    }
  }
  t.ok(evicted, `an early session was evicted after ${sessions.length} offloads`)
  t.ok(Number(await redisCommand(server.port, ['DBSIZE'])) < sessions.length, 'Redis holds fewer entries than were written')

  const missingBefore = engine(app).metrics.rejected.store_missing
  await assertEmpty(t, app, evicted!.cookie, 'the evicted session')
  t.equal(engine(app).metrics.rejected.store_missing, missingBefore + 1, 'counted as store_missing')

  // Every cookie gives its own data or an empty session; each empty one is a counted miss.
  const before = engine(app).metrics.rejected.store_missing
  let own = 0
  let empty = 0
  const wrong: string[] = []
  for (const s of sessions) {
    const got = await readBack(app, s.cookie)
    if (got.status !== 200) wrong.push(`${s.tag}: ${got.status}`)
    else if (got.tag === undefined && got.isNew) empty++
    else if (got.tag === s.tag && got.blobOk) own++
    else wrong.push(`${s.tag}: got ${String(got.tag)}`)
  }
  t.same(wrong, [], 'no error and no foreign or partial data for any cookie')
  t.ok(own > 0 && empty > 0, `${own} sessions still stored, ${empty} evicted`)
  t.equal(engine(app).metrics.rejected.store_missing - before, empty, 'every empty session is a counted store_missing')
})

// --- Redis Cluster failover -------------------------------------------------------------------

t.test('Redis Cluster: a master dies, its replica takes over, sessions come back', async (t) => {
  const cluster = await startCluster(t, { replicas: 1, nodeTimeout: 2000 })
  const options: ClusterOptions = { enableOfflineQueue: false, redisOptions: { ...FAIL_FAST } }
  const client = new Cluster(cluster.nodes, options)
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  await whenEvent(client, 'ready')
  const { app } = await appWith(t, client)
  const storage = engine(app).storage!
  const kid = engine(app).codec.ring.current.kid
  const port0 = cluster.nodes[0]!.port
  const slotOf = async (id: string): Promise<number> =>
    Number(await redisCommand(port0, ['CLUSTER', 'KEYSLOT', `sess:${storage.keyOf(id, kid)!}`]))

  // The victim: a master with slots, and its replica.
  const nodes = await clusterNodes(port0)
  const victim = nodes.find((n) => n.flags.includes('master') && n.slots.length > 0)
  const replica = nodes.find((n) => n.master === victim?.id)
  if (victim === undefined || replica === undefined) throw new Error(`no master with a replica in:\n${JSON.stringify(nodes)}`)
  const onVictim = (slot: number): boolean => victim.slots.some(([from, to]) => slot >= from && slot <= to)

  // Offloaded sessions until several live on the victim, and a few elsewhere.
  const sessions: Array<{ tag: string, cookie: string, victim: boolean }> = []
  const enough = (): boolean => sessions.filter((s) => s.victim).length >= 4 && sessions.filter((s) => !s.victim).length >= 2
  for (let i = 0; !enough() && i < 100; i++) {
    const { cookie, id } = await offload(t, app, `c${i}`)
    sessions.push({ tag: `c${i}`, cookie, victim: onVictim(await slotOf(id)) })
  }
  const victims = sessions.filter((s) => s.victim)
  t.ok(enough(), `${victims.length} of ${sessions.length} sessions live on the victim`)

  // Replication is asynchronous: wait until the replica has everything written so far.
  await replicaCaughtUp(victim.port, replica.port)
  // One more, written just before the kill: it may or may not reach the replica.
  const late = { tag: 'late', ...await offload(t, app, 'late') }

  const server = cluster.servers.find((s) => s.port === victim.port)!
  const killed = new Promise((resolve) => server.process.once('exit', resolve))
  server.process.kill('SIGKILL')
  await killed

  // The failover window: every response is a 200 with the session's own data (or, for the late
  // one, nothing) or a coded 503; never a 500, never someone else's data.
  const live = cluster.servers.filter((s) => s !== server)
  const seen = new Map<string, number>()
  const bad: string[] = []
  const check = async (s: { tag: string, cookie: string }, lost: boolean): Promise<ReadBack> => {
    const res = await read(app, s.cookie)
    let outcome: string
    let got: ReadBack = { status: res.statusCode, tag: undefined, blobOk: false, isNew: false }
    if (res.statusCode === 503) {
      outcome = (res.json() as { code?: string }).code === 'FST_ENCSESS_STORE_UNAVAILABLE' &&
        res.headers['retry-after'] === '1' && res.headers['set-cookie'] === undefined
        ? '503'
        : `bad 503 ${res.body}`
    } else if (res.statusCode === 200) {
      const body = res.json() as { isNew: boolean, data: { tag?: string, blob?: string } }
      got = { status: 200, tag: body.data.tag, blobOk: body.data.blob === blobOf(s.tag), isNew: body.isNew }
      if (got.tag === s.tag && got.blobOk) outcome = '200 own'
      else if (got.tag === undefined && got.isNew && lost) outcome = '200 empty'
      else outcome = `200 with ${JSON.stringify(body.data.tag)} (expected ${s.tag})`
    } else {
      outcome = `${res.statusCode} ${res.body}`
    }
    seen.set(outcome, (seen.get(outcome) ?? 0) + 1)
    if (outcome.startsWith('bad') || !/^(503|200 own|200 empty)$/.test(outcome)) bad.push(`${s.tag}: ${outcome}`)
    return got
  }

  // No event announces the promotion: poll until every live node says ok and the replica is a master.
  const deadline = Date.now() + 30_000
  for (;;) {
    for (const s of sessions) await check(s, false)
    await check(late, true)
    const { done, infos } = await failoverDone(replica.port, live.map((s) => s.port))
    if (done) break
    if (Date.now() > deadline) throw new Error(`no failover after 30 s:\n${infos.join('\n')}`)
  }
  t.pass(`failed over; responses during the window: ${JSON.stringify(Object.fromEntries(seen))}`)

  // The client learns the new topology on its own; give it a bounded number of rounds.
  const after = Date.now() + 10_000
  for (;;) {
    const results = await Promise.all(sessions.map((s) => check(s, false)))
    if (results.every((r) => r.status === 200)) break
    if (Date.now() > after) break
  }
  for (const s of sessions) {
    await assertOwnData(t, app, s.cookie, s.tag, `${s.tag}${s.victim ? ' (on the failed master)' : ''} after failover`)
  }
  const lateBack = await check(late, true)
  t.equal(lateBack.status, 200, `the session written just before the kill: 200 (${lateBack.tag === 'late' ? 'kept' : 'lost in replication'})`)
  t.same(bad, [], 'never a 500, a malformed 503 or another session\'s data')
  const fresh = await offload(t, app, 'after-failover')
  await assertOwnData(t, app, fresh.cookie, 'after-failover', 'a new offloaded session after failover')
})

t.test('no unhandled rejections in any of the above', async (t) => {
  t.same(unhandled.map(String), [])
})
