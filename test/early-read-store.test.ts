// With a store, a session is loaded by the plugin's onRequest hook, which can ask the store. An app
// hook added before the plugin runs before that hook: when it reads request.session, the session
// is opened synchronously. That is fine for a session held whole in its cookie and needing nothing
// from the store; for one that does (revocation on, offloaded data, a user's list), a synchronous
// read cannot know whether it was ended, so it is a coded error saying how to fix the order,
// never a revoked session accepted nor a silently empty one.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { plugin, sessionCookie, KEY1, KEY2 } from './helpers/app.js'
import { MemoryStore } from '../lib/stores/memory.js'

async function appWithEarlyHook (t: { teardown: (fn: () => unknown) => void }, options: Record<string, unknown>): Promise<{ app: FastifyInstance, seen: unknown[] }> {
  const app = Fastify()
  const seen: unknown[] = []
  app.addHook('onRequest', async (req) => {
    if (req.headers['x-early'] === undefined) return
    seen.push(req.session.get('user') ?? null)
    if (req.headers['x-early'] === 'write') req.session.set('early', true)
  })
  await app.register(plugin, { keys: KEY1.entry, cookie: { secure: false }, store: new MemoryStore(), ...options })
  app.post('/login', async (req) => {
    const body = req.body as { user: string, blob?: string }
    req.session.set('user', body.user)
    if (body.blob !== undefined) req.session.set('blob', body.blob)
    return 'ok'
  })
  app.post('/logout', async (req) => {
    req.session.delete()
    return 'ok'
  })
  app.get('/me', async (req) => ({ user: req.session.get('user') ?? null, early: req.session.get('early') ?? null }))
  t.teardown(() => app.close())
  return { app, seen }
}

t.test('revocation on: an early read of a session cookie is FST_ENCSESS_SESSION_NOT_LOADED; a logged-out copy never reads as logged in', async (t) => {
  const { app, seen } = await appWithEarlyHook(t, { revocation: true })
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/login', payload: { user: 'ada' } }))!.value
  const live = await app.inject({ url: '/me', cookies: { session: cookie }, headers: { 'x-early': 'read' } })
  t.equal(live.statusCode, 500)
  t.equal(live.json().code, 'FST_ENCSESS_SESSION_NOT_LOADED')
  t.match(live.json().message, /register fastify-encrypted-session before/i)
  t.equal(sessionCookie(live), undefined, 'no cookie on the error reply')
  t.equal((await app.inject({ url: '/me', cookies: { session: cookie } })).json().user, 'ada', 'without the early read the session loads')

  t.equal((await app.inject({ method: 'POST', url: '/logout', cookies: { session: cookie } })).statusCode, 200)
  const replayed = await app.inject({ url: '/me', cookies: { session: cookie }, headers: { 'x-early': 'read' } })
  t.equal(replayed.statusCode, 500)
  t.equal(replayed.json().code, 'FST_ENCSESS_SESSION_NOT_LOADED')
  t.same(seen, [], 'the early hook never saw the user')
  t.same((await app.inject({ url: '/me', cookies: { session: cookie } })).json(), { user: null, early: null }, 'and the route sees the session ended')
})

t.test('an offloaded session read early is the same coded error, not a silently empty session', async (t) => {
  const { app } = await appWithEarlyHook(t, { maxCookieSize: 1200 })
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/login', payload: { user: 'ada', blob: 'x'.repeat(3000) } }))!.value
  const early = await app.inject({ url: '/me', cookies: { session: cookie }, headers: { 'x-early': 'read' } })
  t.equal(early.statusCode, 500)
  t.equal(early.json().code, 'FST_ENCSESS_SESSION_NOT_LOADED')
  t.equal((await app.inject({ url: '/me', cookies: { session: cookie } })).json().user, 'ada')
})

t.test('a cookie-held session with a store but no revocation reads early, and what the early hook writes is kept', async (t) => {
  const { app, seen } = await appWithEarlyHook(t, {})
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/login', payload: { user: 'ada' } }))!.value
  const res = await app.inject({ url: '/me', cookies: { session: cookie }, headers: { 'x-early': 'write' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { user: 'ada', early: true }, 'the route sees the session the early hook loaded and changed')
  t.same(seen, ['ada'])
  const next = sessionCookie(res)!.value
  t.same((await app.inject({ url: '/me', cookies: { session: next } })).json(), { user: 'ada', early: true }, 'and the change was saved')
})

t.test('no cookie: an early read gets a new session, as without a store', async (t) => {
  const { app, seen } = await appWithEarlyHook(t, { revocation: true })
  const res = await app.inject({ url: '/me', headers: { 'x-early': 'write' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { user: null, early: true })
  t.same(seen, [null])
  t.ok(sessionCookie(res), 'the early write is saved')
})

t.test('a bad cookie read early is an empty session, counted, as anywhere else', async (t) => {
  const { app, seen } = await appWithEarlyHook(t, { revocation: true })
  const res = await app.inject({ url: '/me', cookies: { session: 'not-a-token' }, headers: { 'x-early': 'read' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { user: null, early: null })
  t.same(seen, [null])
  t.equal(app.encryptedSession.get().metrics.rejected.malformed, 1)
})

t.test('a cookie refused early (a kid this instance does not know yet) is loaded again after the key refresh', async (t) => {
  let keys = KEY1.entry
  const app = Fastify()
  const seen: unknown[] = []
  app.addHook('onRequest', async (req) => {
    seen.push(req.session.get('user') ?? null)
  })
  await app.register(plugin, { keys: () => keys, keyRefreshInterval: 0, keyRefreshOnUnknownKid: 60, cookie: { secure: false }, store: new MemoryStore() })
  app.get('/me', async (req) => ({ user: req.session.get('user') ?? null }))
  t.teardown(() => app.close())
  // Another instance already seals with k2.
  const other = Fastify()
  await other.register(plugin, { keys: `${KEY2.entry},${KEY1.entry}`, cookie: { secure: false }, store: new MemoryStore() })
  other.post('/login', async (req) => {
    req.session.set('user', 'ada')
    return 'ok'
  })
  t.teardown(() => other.close())
  const cookie = sessionCookie(await other.inject({ method: 'POST', url: '/login' }))!.value
  keys = `${KEY1.entry},${KEY2.entry}`
  const res = await app.inject({ url: '/me', cookies: { session: cookie } })
  t.same(seen, [null], 'the early hook could not open it yet')
  t.same(res.json(), { user: 'ada' }, 'the plugin\'s hook opened it after the refresh')
})
