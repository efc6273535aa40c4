// With revocation, ended sessions are unusable everywhere: a copy of an old cookie is refused even
// when its data lived wholly in the cookie. It costs one store lookup per request with a cookie.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, sessionCookie, engine } from './helpers/app.js'
import { CountingStore } from './helpers/counting-store.js'

function routes (app: FastifyInstance): void {
  app.post('/login', async (req) => { req.session.regenerate(); req.session.set('user', 'ada'); return 'ok' })
  app.get('/me', async (req) => ({ user: req.session.get('user') ?? null }))
  app.post('/logout', async (req) => { req.session.delete(); return 'bye' })
  app.get('/', async () => 'no session')
}

t.test('after delete(), a copied cookie-only cookie is refused', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store, revocation: true }, routes)
  const stolen = sessionCookie(await app.inject({ method: 'POST', url: '/login' }))!.value
  t.same((await app.inject({ url: '/me', cookies: { session: stolen } })).json(), { user: 'ada' })
  await app.inject({ method: 'POST', url: '/logout', cookies: { session: stolen } })
  t.same((await app.inject({ url: '/me', cookies: { session: stolen } })).json(), { user: null })
  t.equal(engine(app).metrics.rejected.revoked, 1)
})

t.test('after regenerate(), the pre-login cookie is refused', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store, revocation: true }, (app) => {
    routes(app)
    app.post('/visit', async (req) => { req.session.set('visited', true); return 'ok' })
  })
  const before = sessionCookie(await app.inject({ method: 'POST', url: '/visit' }))!.value
  const after = sessionCookie(await app.inject({ method: 'POST', url: '/login', cookies: { session: before } }))!.value
  t.same((await app.inject({ url: '/me', cookies: { session: after } })).json(), { user: 'ada' })
  const replay = await app.inject({ url: '/me', cookies: { session: before } })
  t.same(replay.json(), { user: null })
  t.equal(engine(app).metrics.rejected.revoked, 1)
})

t.test('cost: one store lookup per request that carries a cookie, none without', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store, revocation: true }, routes)
  const token = sessionCookie(await app.inject({ method: 'POST', url: '/login' }))!.value
  store.calls.length = 0
  await app.inject({ url: '/me', cookies: { session: token } })
  t.same(store.calls, ['get'])
  await app.inject({ url: '/me' })
  t.same(store.calls, ['get'], 'no cookie, no lookup')
})

t.test('without revocation a copied cookie-only cookie stays valid until it expires (documented)', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, routes)
  const copy = sessionCookie(await app.inject({ method: 'POST', url: '/login' }))!.value
  await app.inject({ method: 'POST', url: '/logout', cookies: { session: copy } })
  t.same((await app.inject({ url: '/me', cookies: { session: copy } })).json(), { user: 'ada' })
  t.same(store.calls, [], 'and cookie-only sessions never touched the store')
})
