// The remaining attribute values render as RFC 6265bis spells them, and a cookie cleared after a
// per-response options() call carries those attributes (a browser only clears a cookie whose
// Path and Domain match), with Secure following the request's scheme under secure: "auto".
import t from 'tap'
import Fastify from 'fastify'
import { build, sessionCookie, plugin, KEY1, withoutMaxAge } from './helpers/app.js'

t.test('sameSite: false leaves SameSite out; priority low and medium', async (t) => {
  for (const [priority, rendered] of [['low', 'Low'], ['medium', 'Medium']] as const) {
    const { app } = await build(t, { cookie: { sameSite: false, priority, secure: false } })
    const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!
    t.same(withoutMaxAge(cookie.attrs), { Path: '/', HttpOnly: true, Priority: rendered }, priority)
  }
})

t.test('a cookie cleared after options() carries the per-response attributes, Secure only over HTTPS with "auto"', async (t) => {
  const app = Fastify({ trustProxy: true })
  await app.register(plugin, { keys: KEY1.entry, cookie: { secure: 'auto' } })
  app.post('/login', async (req) => { req.session.set('user', 'ada'); return 'ok' })
  app.post('/logout', async (req) => {
    req.session.options({ path: '/account', domain: 'example.test' })
    req.session.delete()
    return 'bye'
  })
  t.teardown(() => app.close())
  const value = sessionCookie(await app.inject({ method: 'POST', url: '/login' }))!.value
  for (const [proto, secure] of [['https', true], ['http', undefined]] as const) {
    const res = await app.inject({ method: 'POST', url: '/logout', cookies: { session: value }, headers: { 'x-forwarded-proto': proto } })
    t.equal(res.statusCode, 200)
    const cleared = sessionCookie(res)!
    t.equal(cleared.value, '', proto)
    t.equal(cleared.attrs['Max-Age'], '0')
    t.equal(cleared.attrs.Path, '/account')
    t.equal(cleared.attrs.Domain, 'example.test')
    t.equal(cleared.attrs.Secure, secure, `Secure over ${proto}`)
  }
})
