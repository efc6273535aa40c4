// Cookie attributes: safe defaults, the Secure rule, prefixed names, and refusal of anything
// outside RFC 6265 at register.
import t from 'tap'
import Fastify from 'fastify'
import { build, sessionCookie, plugin, KEY1, maxAgeNear, withoutMaxAge } from './helpers/app.js'

t.test('defaults: HttpOnly, SameSite=Lax, Path=/, Secure', async (t) => {
  const { app } = await build(t, { cookie: {} })
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!
  t.same(withoutMaxAge(cookie.attrs), { Path: '/', HttpOnly: true, SameSite: 'Lax', Secure: true })
  t.ok(maxAgeNear(cookie.attrs, 86400), 'Max-Age is the whole lifetime of a new session')
})

t.test('secure: "auto" sets Secure only for requests that arrived over HTTPS', async (t) => {
  const { app } = await build(t, { cookie: { secure: 'auto' } })
  const http = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!
  t.equal(http.attrs.Secure, undefined)
  const proxied = Fastify({ trustProxy: true })
  await proxied.register(plugin, { keys: KEY1.entry, cookie: { secure: 'auto' } })
  proxied.post('/incr', async (req) => { req.session.set('n', 1); return 'ok' })
  t.teardown(() => proxied.close())
  const https = sessionCookie(await proxied.inject({ method: 'POST', url: '/incr', headers: { 'x-forwarded-proto': 'https' } }))!
  t.equal(https.attrs.Secure, true)
})

t.test('__Host- and __Secure- names work', async (t) => {
  for (const name of ['__Host-sid', '__Secure-sid']) {
    const { app } = await build(t, { cookieName: name, cookie: { secure: true } })
    const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }), name)!
    t.equal(cookie.attrs.Secure, true)
    t.equal(cookie.attrs.Path, '/')
    const read = await app.inject({ url: '/read', headers: { cookie: `${name}=${cookie.value}` } })
    t.equal(read.json().n, 1, `${name} round-trips`)
  }
})

t.test('other attributes render as given', async (t) => {
  const { app } = await build(t, { cookie: { domain: 'example.test', path: '/app', sameSite: 'strict', partitioned: true, priority: 'high', secure: true } })
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!
  t.same(withoutMaxAge(cookie.attrs), { Domain: 'example.test', Path: '/app', HttpOnly: true, SameSite: 'Strict', Partitioned: true, Priority: 'High', Secure: true })
  t.ok(maxAgeNear(cookie.attrs, 86400))
})

t.test('invalid names and attributes fail register with a coded error', async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ cookieName: 'my session' }, /cookieName.*RFC 6265/],
    [{ cookieName: 'a;b' }, /cookieName/],
    [{ cookieName: 'sess\u00e9' }, /cookieName/],
    [{ cookieName: '' }, /cookieName/],
    [{ cookie: { path: '/a;Domain=evil' } }, /cookie.path/],
    [{ cookie: { path: '/a\nb' } }, /cookie.path/],
    [{ cookie: { domain: 'a b' } }, /cookie.domain/],
    [{ cookie: { sameSite: 'sometimes' } }, /cookie.sameSite/],
    [{ cookie: { sameSite: 'none', secure: false } }, /SameSite=None requires secure/],
    [{ cookie: { secure: 'yes' } }, /cookie.secure/],
    [{ cookie: { httpOnly: 'no' } }, /cookie.httpOnly/],
    [{ cookie: { priority: 'urgent' } }, /cookie.priority/],
    [{ cookieName: '__Host-s', cookie: { secure: false } }, /"__Host-" cookie must be secure/],
    [{ cookieName: '__Secure-s', cookie: { secure: 'auto' } }, /"__Secure-" cookie must be secure/],
    [{ cookieName: '__Host-s', cookie: { secure: true, path: '/x' } }, /"__Host-" cookie must have path "\/" and no domain/],
    [{ cookie: 'secure' }, /"cookie"/]
  ]
  for (const [options, message] of cases) {
    const app = Fastify()
    app.register(plugin, { keys: KEY1.entry, ...options })
    const err = await app.ready().then(() => null, (e: Error & { code: string }) => e)
    t.equal(err?.code, 'FST_ENCSESS_INVALID_OPTION', JSON.stringify(options))
    t.match(err?.message, message)
    await app.close()
  }
})
