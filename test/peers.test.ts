// The plugins Fastify users already run, installed for real and driven through HTTP flows on top of
// this plugin: @fastify/passport (local strategy), @fastify/csrf-protection and @fastify/flash,
// each with the session in the cookie and with the session offloaded to a real Redis.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { Authenticator } from '@fastify/passport'
import { Strategy as LocalStrategy } from 'passport-local'
import fastifyCsrf from '@fastify/csrf-protection'
import fastifyFlash from '@fastify/flash'
import { Redis } from 'ioredis'
import { plugin, sessionCookie, KEY1 } from './helpers/app.js'
import { claimsOf } from './helpers/claims.js'
import { RedisStore } from '../lib/stores/redis.js'
import { startRedis } from './helpers/redis.js'

type Tap = Test
const BIG = 'b'.repeat(5000)

// Each flow runs twice: session in the cookie, and session offloaded to Redis (forced by a large
// value the app keeps across login).
const modes = ['cookie', 'redis'] as const

async function storeFor (t: Tap, mode: typeof modes[number], revocation = false): Promise<Record<string, unknown>> {
  if (mode === 'cookie' && !revocation) return {}
  const server = await startRedis(t)
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(() => client.disconnect())
  return { store: new RedisStore({ client }), revocation }
}

/** A cookie jar of one: follows Set-Cookie like a browser would. */
function jar (app: FastifyInstance) {
  let cookie = ''
  return {
    get value () { return cookie },
    set value (v: string) { cookie = v },
    async request (method: 'GET' | 'POST', url: string, body?: object, headers: Record<string, string> = {}) {
      const res = await app.inject({ method, url, payload: body, headers: { ...headers, ...(cookie ? { cookie: `session=${cookie}` } : {}) } })
      const set = sessionCookie(res)
      if (set) cookie = set.value
      return res
    }
  }
}

async function passportApp (t: Tap, options: Record<string, unknown>): Promise<FastifyInstance> {
  const app = Fastify()
  const passport = new Authenticator({ clearSessionIgnoreFields: ['cart'] })
  await app.register(plugin, { keys: KEY1.entry, cookie: { secure: false }, ...options })
  await app.register(passport.initialize())
  await app.register(passport.secureSession())
  passport.use('local', new LocalStrategy((username, password, done) => {
    done(null, username === 'ada' && password === 'lovelace' ? { id: 'u1', name: 'ada' } : false)
  }))
  passport.registerUserSerializer(async (user: { id: string }) => user.id)
  passport.registerUserDeserializer(async (id: string) => (id === 'u1' ? { id: 'u1', name: 'ada' } : null))
  app.post('/browse', async (req) => {
    req.session.set('cart', ['book', BIG.slice(0, (req.body as { size?: number } | undefined)?.size ?? 10)])
    req.session.set('tracker', 'planted-before-login')
    return 'ok'
  })
  app.post('/login', { preValidation: passport.authenticate('local', { authInfo: false }) }, async (req) => ({ user: (req.user as { name: string }).name }))
  app.get('/private', async (req, reply) => {
    if (!req.isAuthenticated()) return reply.code(401).send({ error: 'login required' })
    return { user: (req.user as { name: string }).name, cart: req.session.get('cart'), tracker: req.session.get('tracker') ?? null }
  })
  app.post('/logout', async (req) => { await req.logout(); return 'bye' })
  t.teardown(() => app.close())
  return app
}

for (const mode of modes) {
  t.test(`@fastify/passport, session in ${mode}: login, protected route, logout, no fixation`, async (t) => {
    const app = await passportApp(t, await storeFor(t, mode))
    const browser = jar(app)
    await browser.request('POST', '/browse', { size: mode === 'redis' ? 5000 : 10 })
    const preLogin = browser.value
    const preClaims = await claimsOf(preLogin, KEY1)
    t.equal(mode === 'redis' ? preClaims.ref : undefined, mode === 'redis' ? 1 : undefined, `pre-login session lives in the ${mode}`)

    t.equal((await browser.request('POST', '/login', { username: 'ada', password: 'wrong' })).statusCode, 401)
    const login = await browser.request('POST', '/login', { username: 'ada', password: 'lovelace' })
    t.same(login.json(), { user: 'ada' })
    const loggedIn = browser.value
    const claims = await claimsOf(loggedIn, KEY1)
    t.not(claims.sid, preClaims.sid, 'the session id changes at login')

    const priv = await browser.request('GET', '/private')
    t.equal(priv.statusCode, 200)
    t.equal(priv.json().user, 'ada')
    t.equal(priv.json().cart[0], 'book', 'what the app keeps survives login')
    t.equal(priv.json().tracker, null, 'other pre-login data is dropped')

    const fixation = await app.inject({ url: '/private', cookies: { session: preLogin } })
    t.equal(fixation.statusCode, 401, 'the pre-login cookie never gives access')

    await browser.request('POST', '/logout')
    t.equal((await browser.request('GET', '/private')).statusCode, 401, 'the cookie after logout gives no access')
  })

  t.test(`@fastify/passport, session in ${mode}, revocation on: a copy of the logged-in cookie is dead after logout`, async (t) => {
    const app = await passportApp(t, await storeFor(t, mode, true))
    const browser = jar(app)
    await browser.request('POST', '/browse', { size: mode === 'redis' ? 5000 : 10 })
    await browser.request('POST', '/login', { username: 'ada', password: 'lovelace' })
    const stolen = browser.value
    t.equal((await app.inject({ url: '/private', cookies: { session: stolen } })).statusCode, 200)
    await browser.request('POST', '/logout')
    t.equal((await app.inject({ url: '/private', cookies: { session: stolen } })).statusCode, 401)
  })
}

t.test('@fastify/passport without a store: a copied logged-in cookie stays valid until it expires (documented)', async (t) => {
  const app = await passportApp(t, {})
  const browser = jar(app)
  await browser.request('POST', '/login', { username: 'ada', password: 'lovelace' })
  const copy = browser.value
  await browser.request('POST', '/logout')
  t.equal((await browser.request('GET', '/private')).statusCode, 401)
  t.equal((await app.inject({ url: '/private', cookies: { session: copy } })).statusCode, 200, 'the copy still works: see "Stolen cookies" in the README')
})

for (const mode of modes) {
  t.test(`@fastify/csrf-protection (sessionPlugin: '@fastify/secure-session'), session in ${mode}`, async (t) => {
    const app = Fastify()
    await app.register(plugin, { keys: KEY1.entry, cookie: { secure: false }, ...await storeFor(t, mode) })
    await app.register(fastifyCsrf, { sessionPlugin: '@fastify/secure-session' })
    app.post('/fill', async (req) => { req.session.set('big', BIG); return 'ok' })
    app.get('/form', async (req, reply) => ({ token: reply.generateCsrf() }))
    app.post('/submit', { onRequest: app.csrfProtection }, async () => ({ ok: true }))
    t.teardown(() => app.close())
    const browser = jar(app)
    if (mode === 'redis') await browser.request('POST', '/fill')
    const { token } = (await browser.request('GET', '/form')).json()
    t.type(token, 'string')
    if (mode === 'redis') t.equal((await claimsOf(browser.value, KEY1)).ref !== undefined, true, 'session offloaded')
    t.equal((await browser.request('POST', '/submit', {}, { 'csrf-token': token })).statusCode, 200, 'token accepted')
    t.equal((await browser.request('POST', '/submit', {})).statusCode, 403, 'missing token refused')
    t.equal((await browser.request('POST', '/submit', {}, { 'csrf-token': `${token}x` })).statusCode, 403, 'wrong token refused')
    const other = await app.inject({ method: 'POST', url: '/submit', headers: { 'csrf-token': token } })
    t.equal(other.statusCode, 403, 'a token without its session is refused')
  })

  t.test(`@fastify/flash, session in ${mode}: a message shows once in the next request`, async (t) => {
    const app = Fastify()
    await app.register(plugin, { keys: KEY1.entry, cookie: { secure: false }, ...await storeFor(t, mode) })
    await app.register(fastifyFlash)
    app.post('/save', async (req) => {
      if (mode === 'redis') req.session.set('big', BIG)
      req.flash('info', 'Saved!')
      return 'ok'
    })
    app.get('/page', async (_req, reply) => ({ messages: reply.flash('info') }))
    t.teardown(() => app.close())
    const browser = jar(app)
    await browser.request('POST', '/save')
    if (mode === 'redis') t.ok((await claimsOf(browser.value, KEY1)).ref, 'session offloaded')
    t.same((await browser.request('GET', '/page')).json(), { messages: ['Saved!'] })
    t.same((await browser.request('GET', '/page')).json(), { messages: [] }, 'shown once')
  })
}
