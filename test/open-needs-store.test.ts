// manager.open(token) is synchronous, so it opens only what it can vouch for without the store:
// with revocation on, a session that began with the store configured may have been ended, and
// open() says null rather than hand back a session that logout ended. Cookie-held sessions of a
// registration without revocation open as before.
import t from 'tap'
import { build, engine, sessionCookie } from './helpers/app.js'
import { MemoryStore } from '../lib/stores/memory.js'

t.test('revocation on: open() is null for a live and for an ended session', async (t) => {
  const { app } = await build(t, { store: new MemoryStore(), revocation: true })
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { user: 'ada' } }))!.value
  t.equal(engine(app).open(cookie), null, 'live: cannot be vouched for synchronously')
  await app.inject({ method: 'POST', url: '/logout', cookies: { session: cookie } })
  t.equal(engine(app).open(cookie), null, 'ended: never handed back')
})

t.test('a store without revocation: a cookie-held session opens', async (t) => {
  const { app } = await build(t, { store: new MemoryStore() })
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { user: 'ada' } }))!.value
  t.equal(engine(app).open(cookie)?.get('user'), 'ada')
})
