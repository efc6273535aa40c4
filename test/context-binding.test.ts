// A token made for one cookie name or one app is refused under another, even with the same keys:
// the binding is the "aud" claim, inside the authenticated plaintext.
import t from 'tap'
import Fastify from 'fastify'
import { build, sessionCookie, plugin, KEY1 } from './helpers/app.js'

t.test('a token for another cookie name is refused', async (t) => {
  const app = Fastify()
  await app.register(plugin, [
    { keys: KEY1.entry, cookieName: 'a', sessionName: 'sessionA', cookie: { secure: false } },
    { keys: KEY1.entry, cookieName: 'b', sessionName: 'sessionB', cookie: { secure: false } }
  ])
  app.post('/a', async (req) => { (req as any).sessionA.set('who', 'a'); return 'ok' })
  app.get('/b', async (req) => ({ who: (req as any).sessionB.get('who') ?? null }))
  t.teardown(() => app.close())
  const tokenA = sessionCookie(await app.inject({ method: 'POST', url: '/a' }), 'a')!.value
  const res = await app.inject({ url: '/b', cookies: { b: tokenA } })
  t.same(res.json(), { who: null })
  t.equal(app.encryptedSession.get('sessionB').metrics.rejected.context, 1)
})

t.test('a token for another app (audience) is refused', async (t) => {
  const shop = await build(t, { audience: 'shop' })
  const admin = await build(t, { audience: 'admin' })
  const token = sessionCookie(await shop.app.inject({ method: 'POST', url: '/incr' }))!.value
  t.same((await shop.app.inject({ url: '/read', cookies: { session: token } })).json().n, 1)
  t.same((await admin.app.inject({ url: '/read', cookies: { session: token } })).json().n, null)
  t.equal(admin.app.encryptedSession.get().metrics.rejected.context, 1)
})
