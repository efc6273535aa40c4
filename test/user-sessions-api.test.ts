// userKey on one instance (MemoryStore): endUserSessions, endSession and listUserSessions do what
// they say, to cookie-only sessions and every copy of their cookies, and to nobody else.
import t from 'tap'
import { build, sessionCookie, engine } from './helpers/app.js'
import { userRoutes } from './helpers/users.js'
import { CountingStore } from './helpers/counting-store.js'

const login = async (app: Awaited<ReturnType<typeof build>>['app'], user: string | number): Promise<string> =>
  sessionCookie(await app.inject({ method: 'POST', url: '/login', body: { user } }))!.value
const me = async (app: Awaited<ReturnType<typeof build>>['app'], cookie: string): Promise<unknown> =>
  (await app.inject({ url: '/me', cookies: { session: cookie } })).json().user

t.test('endUserSessions ends every session of the user, copies of cookies included, counted as revoked', async (t) => {
  const { app } = await build(t, { store: new CountingStore(), userKey: 'user' }, userRoutes)
  const phone = await login(app, 'ada')
  const laptop = await login(app, 'ada')
  const bob = await login(app, 'bob')
  t.equal(await me(app, phone), 'ada')
  t.equal(await engine(app).endUserSessions('ada'), 2)
  const refused = await app.inject({ url: '/me', cookies: { session: phone } })
  t.equal(refused.statusCode, 200)
  t.equal(refused.json().user, null)
  t.equal(await me(app, laptop), null)
  t.equal(await me(app, phone), null, 'a copy of the same cookie again')
  t.equal(await me(app, bob), 'bob', 'another user is untouched')
  t.equal(engine(app).metrics.rejected.revoked, 3)
  const later = await login(app, 'ada')
  t.equal(await me(app, later), 'ada', 'a session begun afterwards is not affected')
})

t.test('except keeps one session working, given as an id or as a request\'s session', async (t) => {
  const { app } = await build(t, { store: new CountingStore(), userKey: 'user' }, userRoutes)
  const a = await login(app, 'ada')
  const b = await login(app, 'ada')
  const c = await login(app, 'ada')
  const res = await app.inject({ method: 'POST', url: '/others', cookies: { session: a } })
  t.same(res.json(), { ended: 2 })
  t.equal(res.headers['set-cookie'], undefined, 'the kept session needs no new cookie')
  t.equal(await me(app, a), 'ada')
  t.equal(await me(app, b), null)
  t.equal(await me(app, c), null)
  const d = await login(app, 'ada')
  const dId = (await app.inject({ url: '/me', cookies: { session: d } })).json().id
  t.equal(await engine(app).endUserSessions('ada', { except: dId }), 1)
  t.equal(await me(app, d), 'ada')
  t.equal(await me(app, a), null)
})

t.test('listUserSessions lists live sessions with what userMeta attached; endSession ends one', async (t) => {
  const { app } = await build(t, {
    store: new CountingStore(),
    userKey: 'user',
    userMeta: (req: { headers: Record<string, string> }) => ({ device: req.headers['user-agent'] })
  }, userRoutes)
  const first = sessionCookie(await app.inject({ method: 'POST', url: '/login', body: { user: 'ada' }, headers: { 'user-agent': 'phone' } }))!.value
  const second = sessionCookie(await app.inject({ method: 'POST', url: '/login', body: { user: 'ada' }, headers: { 'user-agent': 'laptop' } }))!.value
  const listed = (await app.inject({ url: '/sessions', cookies: { session: second } })).json()
  t.equal(listed.length, 2)
  t.same(listed.map((s: { meta: unknown }) => s.meta), [{ device: 'phone' }, { device: 'laptop' }])
  const firstId = (await app.inject({ url: '/me', cookies: { session: first } })).json().id
  t.equal(listed[0].id, firstId)
  t.ok(listed[0].expiresAt > listed[0].createdAt)
  t.equal(await engine(app).endSession('ada', firstId), true)
  t.equal(await me(app, first), null)
  t.equal(await me(app, second), 'ada')
  t.same((await engine(app).listUserSessions('ada')).map((s) => s.meta), [{ device: 'laptop' }])
  t.equal(await engine(app).endSession('ada', firstId), false, 'already ended: no-op')
})

t.test('a session id of another user, an unknown user: no-ops', async (t) => {
  const { app } = await build(t, { store: new CountingStore(), userKey: 'user' }, userRoutes)
  const bob = await login(app, 'bob')
  await login(app, 'ada')
  const bobId = (await app.inject({ url: '/me', cookies: { session: bob } })).json().id
  t.equal(await engine(app).endSession('ada', bobId), false)
  t.equal(await me(app, bob), 'bob')
  t.equal(await engine(app).endUserSessions('nobody'), 0)
  t.same(await engine(app).listUserSessions('nobody'), [])
  t.equal(await engine(app).endSession('nobody', bobId), false)
})

t.test('numeric ids: 42 and "42" are one user', async (t) => {
  const { app } = await build(t, { store: new CountingStore(), userKey: 'user' }, userRoutes)
  const s = await login(app, 42)
  t.equal((await engine(app).listUserSessions('42')).length, 1)
  t.equal(await engine(app).endUserSessions(42), 1)
  t.equal(await me(app, s), null)
})

t.test('logout removes the session from its user\'s list; so does logging out by data', async (t) => {
  const { app } = await build(t, { store: new CountingStore(), userKey: 'user' }, (app) => {
    userRoutes(app)
    app.post('/forget', async (req) => { req.session.set('user', undefined); return 'ok' })
  })
  const a = await login(app, 'ada')
  const b = await login(app, 'ada')
  await app.inject({ method: 'POST', url: '/logout', cookies: { session: a } })
  t.equal((await engine(app).listUserSessions('ada')).length, 1)
  const res = await app.inject({ method: 'POST', url: '/forget', cookies: { session: b } })
  t.same(await engine(app).listUserSessions('ada'), [])
  const anonymous = sessionCookie(res)!.value
  t.same((await app.inject({ url: '/me', cookies: { session: anonymous } })).json().user, null)
  t.equal(engine(app).metrics.rejected.revoked, 0, 'an unbound session is not refused')
  const visit = await app.inject({ method: 'POST', url: '/visit', cookies: { session: anonymous } })
  t.equal(visit.statusCode, 200)
})

t.test('changing the user without regenerate moves the session to the new user\'s list', async (t) => {
  const { app } = await build(t, { store: new CountingStore(), userKey: 'user' }, (app) => {
    userRoutes(app)
    app.post('/switch', async (req) => { req.session.set('user', 'bob'); return 'ok' })
  })
  const a = await login(app, 'ada')
  const switched = sessionCookie(await app.inject({ method: 'POST', url: '/switch', cookies: { session: a } }))!.value
  t.same(await engine(app).listUserSessions('ada'), [])
  t.equal((await engine(app).listUserSessions('bob')).length, 1)
  t.equal(await engine(app).endUserSessions('ada'), 0)
  t.equal(await me(app, switched), 'bob')
  t.equal(await me(app, a), null, 'the cookie from before the switch names a list it is no longer in')
})

t.test('steady state: a request of a user-bound session costs no store call', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store, userKey: 'user' }, userRoutes)
  const s = await login(app, 'ada')
  await me(app, s)
  store.calls.length = 0
  for (let i = 0; i < 20; i++) t.equal(await me(app, s), 'ada')
  t.same(store.calls, [])
})

t.test('bad user ids passed to the API are coded errors', async (t) => {
  const { app } = await build(t, { store: new CountingStore(), userKey: 'user' }, userRoutes)
  for (const bad of [undefined, null, '', {}, NaN, 'x'.repeat(1025)]) {
    await t.rejects(engine(app).endUserSessions(bad as string), { code: 'FST_ENCSESS_INVALID_USER_ID' })
    await t.rejects(engine(app).listUserSessions(bad as string), { code: 'FST_ENCSESS_INVALID_USER_ID' })
    await t.rejects(engine(app).endSession(bad as string, 'x'), { code: 'FST_ENCSESS_INVALID_USER_ID' })
  }
})

t.test('without userKey the API is a coded error', async (t) => {
  const { app } = await build(t, { store: new CountingStore() }, userRoutes)
  t.throws(() => engine(app).endUserSessions('ada'), { code: 'FST_ENCSESS_INVALID_OPTION' })
})

t.test('the password-change example of docs/users.md: this device stays, with a new id; the others end', async (t) => {
  const { app } = await build(t, { store: new CountingStore(), userKey: 'user' }, (app) => {
    userRoutes(app)
    app.post('/password', async (request) => {
      const userId = request.session.get('user') as string
      request.session.regenerate(['user'])
      await engine(app).endUserSessions(userId, { except: request.session })
      return { ok: true }
    })
  })
  const here = await login(app, 'ada')
  const elsewhere = await login(app, 'ada')
  const res = await app.inject({ method: 'POST', url: '/password', cookies: { session: here } })
  const renewed = sessionCookie(res)!.value
  t.equal(await me(app, renewed), 'ada')
  t.equal(await me(app, here), null, 'the cookie from before the change')
  t.equal(await me(app, elsewhere), null)
  t.equal((await engine(app).listUserSessions('ada')).length, 1)
})
