// A route can opt out of session handling entirely (health checks, static files).
import t from 'tap'
import { build, engine, KEY1 } from './helpers/app.js'
import { joseToken } from './helpers/jose.js'
import { CountingStore } from './helpers/counting-store.js'

t.test('config.encryptedSession: false: no load, no store call, no Set-Cookie', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, (app) => {
    app.get('/health', { config: { encryptedSession: false } }, async (req) => {
      req.session.set('touched', true)
      return { isNew: req.session.isNew }
    })
  })
  const token = await joseToken(KEY1, { dat: { n: 1 }, skid: 'k1' })
  const res = await app.inject({ url: '/health', cookies: { session: token } })
  t.same(res.json(), { isNew: true }, 'the route sees a fresh, unsaved session')
  t.equal(res.headers['set-cookie'], undefined)
  t.same(store.calls, [])
  t.equal(engine(app).metrics.opened, 0)
})
