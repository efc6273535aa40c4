// @fastify/cookie in either order: registered first (with its own options, such as a secret for
// signed cookies) it is used as it is; registered after us, it fails register with our coded error
// saying to register it first, never Fastify's anonymous "decorator already present".
import t from 'tap'
import Fastify from 'fastify'
import fastifyCookie from '@fastify/cookie'
import { plugin, KEY1, sessionCookie } from './helpers/app.js'

const SECRET = 'a-cookie-signing-secret-of-enough-length'

t.test('registered first with a secret: signed cookies and the session both work', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyCookie, { secret: SECRET })
  await app.register(plugin, { keys: KEY1.entry, cookie: { secure: false } })
  app.post('/login', async (request, reply) => {
    request.session.set('user', 'ada')
    reply.setCookie('theme', 'dark', { signed: true, path: '/' })
    return 'ok'
  })
  app.get('/me', async (request) => ({
    user: request.session.get('user') ?? null,
    theme: request.unsignCookie(request.cookies.theme ?? '')
  }))
  const login = await app.inject({ method: 'POST', url: '/login' })
  t.equal(login.statusCode, 200)
  t.equal(login.payload, 'ok')
  const session = sessionCookie(login)!
  t.match(session.value, /^eyJ/)
  const theme = login.cookies.find((c) => c.name === 'theme')!
  t.match(theme.value, /^dark\./, 'the app\'s secret signed it')
  const me = await app.inject({ url: '/me', headers: { cookie: `session=${session.value}; theme=${theme.value}` } })
  t.equal(me.statusCode, 200)
  t.same(me.json(), { user: 'ada', theme: { valid: true, renew: false, value: 'dark' } })
})

t.test('registered after us: register fails with FST_ENCSESS_COOKIE_ORDER', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(plugin, { keys: KEY1.entry })
  await t.rejects(async () => { await app.register(fastifyCookie, { secret: SECRET }) }, {
    code: 'FST_ENCSESS_COOKIE_ORDER',
    message: /Register @fastify\/cookie with your options before fastify-encrypted-session/
  })
})

t.test('registered after us without await, or in a child context: ready() fails the same way', async (t) => {
  const flat = Fastify()
  t.teardown(() => flat.close())
  flat.register(plugin, { keys: KEY1.entry })
  flat.register(fastifyCookie, { secret: SECRET })
  await t.rejects(async () => { await flat.ready() }, { code: 'FST_ENCSESS_COOKIE_ORDER' })

  const nested = Fastify()
  t.teardown(() => nested.close())
  nested.register(plugin, { keys: KEY1.entry })
  nested.register(async (child) => { await child.register(fastifyCookie) })
  await t.rejects(async () => { await nested.ready() }, { code: 'FST_ENCSESS_COOKIE_ORDER' })
})

t.test('other decorators after us are untouched, and a second session does not re-register cookies', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(plugin, { keys: KEY1.entry, cookie: { secure: false } })
  t.equal(app.decorate('answer', 42), app, 'decorate still chains')
  await app.register(plugin, { keys: KEY1.entry, sessionName: 'admin', cookieName: 'admin', cookie: { secure: false } })
  app.get('/', async (request) => {
    request.session.set('n', 1)
    return { answer: (app as unknown as { answer: number }).answer }
  })
  const res = await app.inject('/')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { answer: 42 })
  t.match(sessionCookie(res)!.value, /^eyJ/)
})
