// A key set replaced while a request is under way (a provider refresh) can remove the key an
// identity given up by regenerate() was stored under: no store key can be derived for it, so there
// is nothing to tombstone, and the response still carries the new session.
import t from 'tap'
import { build, engine, KEY2, sessionCookie } from './helpers/app.js'
import { CountingStore } from './helpers/counting-store.js'

t.test('revocation on, regenerate() after its storeKid left the key set: 200, new cookie, no tombstone', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store, revocation: true }, (app) => {
    app.post('/login', async (req) => {
      req.session.set('user', 'ada')
      return { ok: true }
    })
    app.post('/regen', async (req) => {
      req.session.get('user')
      engine(app).replaceKeys(KEY2.entry)
      req.session.regenerate()
      return { ok: true }
    })
  })
  const first = sessionCookie(await app.inject({ method: 'POST', url: '/login' }))!
  store.calls.length = 0
  const res = await app.inject({ method: 'POST', url: '/regen', cookies: { session: first.value } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { ok: true })
  const next = sessionCookie(res)
  t.ok(next !== undefined && next.value !== first.value, 'a new cookie')
  t.notOk(store.calls.includes('end'), 'no tombstone without a store key')
})
