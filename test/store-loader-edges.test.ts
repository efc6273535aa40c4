// With a store configured, the async loader's edges: two cookies of the name, a session from before
// the store (no skid), and a skid naming no key in the set.
import t from 'tap'
import { build, engine, KEY1 } from './helpers/app.js'
import { joseToken } from './helpers/jose.js'
import { CountingStore } from './helpers/counting-store.js'

t.test('two session cookies with a store: an empty session, counted as duplicate, no store call', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store })
  const token = await joseToken(KEY1, { dat: { n: 1 }, skid: 'k1' })
  const res = await app.inject({ url: '/read', headers: { cookie: `session=${token}; session=${token}` } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().n, null)
  t.equal(res.headers['set-cookie'], undefined)
  t.equal(engine(app).metrics.rejected.duplicate, 1)
  t.same(store.calls, [])
})

t.test('revocation on, a session from before the store (no skid): accepted without a store call', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store, revocation: true })
  const token = await joseToken(KEY1, { dat: { n: 4 } })
  const res = await app.inject({ url: '/read', cookies: { session: token } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().n, 4)
  t.same(store.calls, [])
})

t.test('revocation on, a skid naming no key in the set: refused as store_invalid, an empty session', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store, revocation: true })
  const token = await joseToken(KEY1, { dat: { n: 4 }, skid: 'gone' })
  const res = await app.inject({ url: '/read', cookies: { session: token } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().n, null)
  t.equal(engine(app).metrics.rejected.store_invalid, 1)
  t.same(store.calls, [])
})
