// Only the work that is needed: no decryption for routes that never touch the session, and no
// Set-Cookie unless something changed.
import t from 'tap'
import { build, sessionCookie, engine, mutateInPlaceRoute, KEY1 } from './helpers/app.js'
import { joseToken } from './helpers/jose.js'

t.test('a route that never reads request.session decrypts nothing', async (t) => {
  const { app } = await build(t)
  const token = await joseToken(KEY1, { dat: { n: 1 } })
  const manager = app.encryptedSession.get()
  const res = await app.inject({ url: '/', cookies: { session: token } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['set-cookie'], undefined)
  t.equal(manager.metrics.opened + manager.metrics.cacheHits, 0, 'no open, no cache lookup')
  t.same(Object.values(manager.metrics.rejected as Record<string, number>).reduce((a, b) => a + b, 0), 0)
})

t.test('reading without changing sends no Set-Cookie; a repeat read hits the token cache', async (t) => {
  const { app } = await build(t)
  const token = await joseToken(KEY1, { dat: { n: 1 } })
  const manager = app.encryptedSession.get()
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ url: '/read', cookies: { session: token } })
    t.equal(res.json().n, 1)
    t.equal(res.headers['set-cookie'], undefined)
  }
  t.equal(manager.metrics.opened, 3)
  t.equal(manager.metrics.cacheHits, 2, 'decrypted once, then an exact-match cache hit')
})

t.test('a cached token is still held to its expiry', async (t) => {
  const { app } = await build(t)
  const now = Math.floor(Date.now() / 1000)
  const token = await joseToken(KEY1, { exp: now + 2, dat: { n: 1 } })
  t.equal((await app.inject({ url: '/read', cookies: { session: token } })).json().n, 1)
  const realNow = Date.now
  t.teardown(() => { Date.now = realNow })
  Date.now = () => realNow() + 3000
  t.equal((await app.inject({ url: '/read', cookies: { session: token } })).json().n, null)
  t.equal(app.encryptedSession.get().metrics.rejected.expired, 1)
})

t.test('cache: false decrypts every time', async (t) => {
  const { app } = await build(t, { cache: false })
  const token = await joseToken(KEY1, { dat: { n: 1 } })
  await app.inject({ url: '/read', cookies: { session: token } })
  await app.inject({ url: '/read', cookies: { session: token } })
  t.equal(app.encryptedSession.get().metrics.cacheHits, 0)
})

t.test('no cookie and no write: no Set-Cookie', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ url: '/read' })
  t.equal(res.json().n, null)
  t.equal(res.headers['set-cookie'], undefined)
})

t.test('a write sends Set-Cookie and leaves other cookies alone', async (t) => {
  const { app } = await build(t, {}, (app) => {
    app.post('/', async (req, reply) => { reply.setCookie('theme', 'dark'); req.session.set('a', 1); return 'ok' })
  })
  const res = await app.inject({ method: 'POST', url: '/' })
  t.ok(sessionCookie(res))
  t.ok(sessionCookie(res, 'theme'))
})

t.test('a token this instance sealed opens from the cache; a replaced token is not kept', async (t) => {
  const { app } = await build(t)
  const manager = engine(app)
  const first = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  const second = await app.inject({ method: 'POST', url: '/incr', cookies: { session: first } })
  t.same(second.json(), { n: 2 })
  t.equal(manager.metrics.cacheHits, 1, 'no decryption for the cookie this instance just sealed')
  // A foreign (jose-made) token that the response replaces is decrypted, used, and not cached.
  const foreign = await joseToken(KEY1, { dat: { n: 10 } })
  await app.inject({ method: 'POST', url: '/incr', cookies: { session: foreign } })
  await app.inject({ method: 'POST', url: '/incr', cookies: { session: foreign } })
  t.equal(manager.metrics.cacheHits, 1, 'the replaced token was decrypted both times')
})

t.test('a cached token that a write replaces leaves the cache; replayed, it is decrypted and still valid', async (t) => {
  const { app } = await build(t)
  const manager = engine(app)
  const first = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  const second = sessionCookie(await app.inject({ method: 'POST', url: '/incr', cookies: { session: first } }))!.value
  t.equal(manager.metrics.cacheHits, 1, 'first came from the cache')
  const opened = manager.metrics.opened
  // A request that was already on its way with the old cookie (a parallel tab) still works.
  t.same((await app.inject({ url: '/read', cookies: { session: first } })).json().n, 1)
  t.equal(manager.metrics.cacheHits, 1, 'first was no longer cached: decrypted')
  t.equal(manager.metrics.opened, opened + 1)
  // The token that replaced it is cached, and a read (no new token) keeps it there.
  for (let i = 0; i < 2; i++) t.same((await app.inject({ url: '/read', cookies: { session: second } })).json().n, 2)
  t.equal(manager.metrics.cacheHits, 3, 'second: two cache hits')
})

t.test('a cached token\'s data is shared only for reading: in-place changes never reach the next request', async (t) => {
  const { app } = await build(t, {}, (app) => {
    mutateInPlaceRoute(app)
    app.get('/show', async (req) => ({ profile: req.session.get('profile'), role: req.session.get('role') ?? null, all: req.session.data() }))
  })
  const manager = engine(app)
  const token = manager.seal({ profile: { name: 'alice', tags: ['user'], ['__proto__' as string]: { polluted: true } } })
  for (let i = 0; i < 2; i++) {
    const changed = await app.inject({ url: '/mutate', cookies: { session: token } })
    t.same(changed.json().name, 'mallory', 'the route sees its own change')
    t.equal(changed.headers['set-cookie'], undefined, 'an in-place change is not a set()')
  }
  const shown = (await app.inject({ url: '/show', cookies: { session: token } })).json()
  t.same(shown.profile.name, 'alice')
  t.same(shown.profile.tags, ['user'])
  t.equal(shown.role, null)
  t.same(Object.keys(shown.all), ['profile'])
  t.ok(manager.metrics.cacheHits >= 2, 'the later requests were cache hits')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched')
})

t.test('a write to a cached session starts from the data the cookie holds', async (t) => {
  const { app } = await build(t)
  const manager = engine(app)
  const token = manager.seal({ n: 5, keep: { deep: [1, 2] } })
  await app.inject({ url: '/read', cookies: { session: token } }) // fills the cache's parsed copy
  const res = await app.inject({ method: 'POST', url: '/incr', cookies: { session: token } })
  t.same(res.json(), { n: 6 })
  const opened = manager.open(sessionCookie(res)!.value)!
  t.same(opened.data(), { n: 6, keep: { deep: [1, 2] } })
  // The original token still reads as it was sealed.
  t.equal((await app.inject({ url: '/read', cookies: { session: token } })).json().n, 5)
})

t.test('the cache matches whole tokens: same tag, different ciphertext is decrypted and refused', async (t) => {
  const { app } = await build(t)
  const manager = engine(app)
  const token = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  const parts = token.split('.')
  const ct = parts[3]!
  // Flip one ciphertext character; the tag (the cache key) stays the same.
  parts[3] = (ct[0] === 'A' ? 'B' : 'A') + ct.slice(1)
  const forged = parts.join('.')
  const res = await app.inject({ url: '/read', cookies: { session: forged } })
  t.equal(res.json().n, null)
  t.equal(manager.metrics.cacheHits, 0)
  t.equal(manager.metrics.rejected.decrypt, 1)
  t.equal((await app.inject({ url: '/read', cookies: { session: token } })).json().n, 1, 'the genuine token still opens')
})

t.test('the next request reads exactly what a fresh decryption of the sealed token would give', async (t) => {
  const routes = (app: import('fastify').FastifyInstance): void => {
    app.post('/set', async (req) => {
      const kind = (req.query as { kind: string }).kind
      req.session.set('s', 'text')
      req.session.set('n', 1.5)
      req.session.set('date', new Date(0))
      req.session.set('nested', { list: [1, undefined, () => 1], ['__proto__' as string]: { x: 1 } })
      if (kind === 'odd') {
        // Values JSON changes: the cache must not keep them as they were in memory.
        req.session.set('negZero', -0)
        req.session.set('nan', NaN)
        req.session.set('fn', (() => 1) as unknown as string)
      }
      return 'ok'
    })
    app.get('/all', async (req) => {
      const negZero = req.session.get('negZero')
      return { data: req.session.data(), negZeroIsMinusZero: Object.is(negZero, -0), types: Object.values(req.session.data()).map((v) => typeof v) }
    })
  }
  const cached = await build(t, {}, routes)
  const uncached = await build(t, { cache: false }, routes)
  for (const kind of ['plain', 'odd']) {
    const token = sessionCookie(await cached.app.inject({ method: 'POST', url: `/set?kind=${kind}` }))!.value
    const hits = engine(cached.app).metrics.cacheHits
    const fromCache = (await cached.app.inject({ url: '/all', cookies: { session: token } })).json()
    t.equal(engine(cached.app).metrics.cacheHits, hits + 1, `${kind}: served from the cache`)
    const decrypted = (await uncached.app.inject({ url: '/all', cookies: { session: token } })).json()
    t.same(fromCache, decrypted, `${kind}: identical`)
    t.equal(fromCache.negZeroIsMinusZero, false)
  }
})
