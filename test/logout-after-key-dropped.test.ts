// A key refresh can land while a request is running. If it drops the key a session began under,
// that session's store key can no longer be derived: logout still clears the cookie, and writes no
// tombstone (none is needed: no cookie naming that key can be opened any more).
import t from 'tap'
import { build, engine, sessionCookie, KEY1, KEY2 } from './helpers/app.js'
import { CountingStore } from './helpers/counting-store.js'

t.test('logout in a request during which the begin-time key was dropped', async (t) => {
  const store = new CountingStore()
  let keys = `${KEY1.entry},${KEY2.entry}`
  const { app } = await build(t, { keys: () => keys, keyRefreshInterval: 0, store, revocation: true }, (app) => {
    app.post('/incr', async (req) => { req.session.set('n', 1); return 'ok' })
    app.get('/read', async (req) => ({ n: req.session.get('n') ?? null }))
    app.post('/logout', async (req) => {
      req.session.delete()
      keys = KEY2.entry
      t.equal(await engine(app).refresher!.refresh(), true, 'KEY1 dropped mid-request')
      return 'bye'
    })
  })
  const value = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  store.calls.length = 0
  const res = await app.inject({ method: 'POST', url: '/logout', cookies: { session: value } })
  t.equal(res.statusCode, 200)
  t.equal(sessionCookie(res)!.attrs['Max-Age'], '0', 'the cookie is cleared')
  t.notOk(store.calls.includes('end'), 'no tombstone under a key that cannot be derived')
  t.equal((await app.inject({ url: '/read', cookies: { session: value } })).json().n, null, 'the old cookie opens no more')
})
