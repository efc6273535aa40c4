// Writes share what no request can reach: a session loaded from a cache keeps the cache's objects
// until one is handed out or replaced, and the claims cached for the token it writes reuse the
// objects that stayed shared. Whatever a route does with what it was handed, before or after its
// response, no other request and no cache sees it.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, sessionCookie, engine } from './helpers/app.js'
import { MemoryStore } from '../lib/stores/memory.js'

interface User { name: string, roles: string[] }

function routes (app: FastifyInstance): void {
  app.get('/seed', async (req) => {
    req.session.set('user', { name: 'alice', roles: ['user'] })
    req.session.set('cart', [{ sku: 'a', qty: 1 }])
    req.session.set('n', 0)
    return { ok: true }
  })
  app.get('/rw', async (req) => {
    const n = (req.session.get('n') as number) + 1
    req.session.set('n', n)
    return { n }
  })
  app.get('/show', async (req) => ({ user: req.session.get('user'), cart: req.session.get('cart'), n: req.session.get('n') }))
  // Changes the user it was handed after its response is sent: too late for the cookie, and it
  // must reach no cache either.
  app.get('/late', {
    onResponse: async (req) => {
      const user = (req as unknown as { kept: User }).kept
      user.name = 'mallory'
      user.roles.push('admin')
    }
  }, async (req) => {
    (req as unknown as { kept: User }).kept = req.session.get('user') as User
    req.session.set('n', 100)
    return { ok: true }
  })
  // Changes everything data() hands out, and saves it.
  app.get('/data', async (req) => {
    const data = req.session.data() as { user: User, cart: unknown[] }
    data.user.roles.push('editor')
    data.cart.push({ sku: 'b', qty: 2 })
    req.session.set('n', 7)
    return { ok: true }
  })
  // Keeps the (shared) user across regenerate(), then changes its own copy of it.
  app.get('/regenerate', async (req) => {
    req.session.regenerate(['user'])
    const user = req.session.get('user') as User
    user.name = 'bob'
    req.session.set('n', 1)
    return { ok: true }
  })
}

async function get (app: FastifyInstance, url: string, cookie: string): Promise<{ json: Record<string, unknown>, cookie: string | undefined }> {
  const res = await app.inject({ url, cookies: { session: cookie } })
  t.equal(res.statusCode, 200, `${url} answers 200`)
  return { json: res.json(), cookie: sessionCookie(res)?.value }
}

async function seeded (app: FastifyInstance): Promise<string> {
  const seed = await app.inject({ url: '/seed' })
  // Once more, so that the session is loaded from the token cache (shared) before the test proper.
  return (await get(app, '/rw', sessionCookie(seed)!.value)).cookie!
}

const alice = { name: 'alice', roles: ['user'] }

t.test('a write that only sets a counter copies no object: the next token\'s cached claims share them', async (t) => {
  const { app } = await build(t, {}, routes)
  const manager = engine(app)
  const first = await seeded(app)
  const before = manager.openClaims(first)
  const next = (await get(app, '/rw', first)).cookie!
  const after = manager.openClaims(next)
  if (typeof before === 'string' || typeof after === 'string') throw new Error('token refused')
  t.ok(after.shared, 'the new token is in the cache, claims and all')
  t.equal(after.claims.dat!.user, before.claims.dat!.user, 'the user object is the same, not a copy')
  t.equal(after.claims.dat!.cart, before.claims.dat!.cart, 'so is the cart')
  t.equal(after.claims.dat!.n, 2)
  const shown = (await get(app, '/show', next)).json
  t.same(shown, { user: alice, cart: [{ sku: 'a', qty: 1 }], n: 2 })
})

t.test('what a route changes after its response reaches neither its new token nor the old one', async (t) => {
  const { app } = await build(t, {}, routes)
  const first = await seeded(app)
  const written = (await get(app, '/late', first)).cookie!
  t.same((await get(app, '/show', written)).json, { user: alice, cart: [{ sku: 'a', qty: 1 }], n: 100 }, 'the new token holds the user as it was sealed')
  t.same((await get(app, '/show', first)).json.user, alice, 'the old token still holds the original')
  t.same((await get(app, '/show', written)).json.user, alice, 'and a second look at the new one too')
})

t.test('data() hands out private copies of every shared object', async (t) => {
  const { app } = await build(t, {}, routes)
  const first = await seeded(app)
  const written = (await get(app, '/data', first)).cookie!
  t.same((await get(app, '/show', written)).json, {
    user: { name: 'alice', roles: ['user', 'editor'] },
    cart: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 2 }],
    n: 7
  }, 'what was changed and set is saved')
  t.same((await get(app, '/show', first)).json, { user: alice, cart: [{ sku: 'a', qty: 1 }], n: 1 }, 'the token it came from is untouched')
})

t.test('an object kept across regenerate() is still copied before it is handed out', async (t) => {
  const { app } = await build(t, {}, routes)
  const first = await seeded(app)
  const written = (await get(app, '/regenerate', first)).cookie!
  t.same((await get(app, '/show', written)).json, { user: { name: 'bob', roles: ['user'] }, n: 1 }, 'the new session holds the kept user, changed')
  t.same((await get(app, '/show', first)).json.user, alice, 'the old session\'s user is unchanged')
})

t.test('offloaded: the store\'s cache shares the unchanged objects and keeps what a route changes late out', async (t) => {
  // A cookie this small sends every session to the store.
  const { app } = await build(t, { store: new MemoryStore(), maxCookieSize: 600 }, (app) => {
    routes(app)
    app.get('/big', async (req) => {
      req.session.set('note', 'x'.repeat(1000))
      return { ok: true }
    })
  })
  const manager = engine(app)
  const first = await seeded(app)
  const big = (await get(app, '/big', first)).cookie!
  const loaded = (await get(app, '/rw', big)).cookie!
  t.ok(manager.metrics.offloaded > 0, 'the session lives in the store')
  const hitsBefore = manager.metrics.storedCacheHits
  const written = (await get(app, '/late', loaded)).cookie!
  const shown = (await get(app, '/show', written)).json
  t.same(shown, { user: alice, cart: [{ sku: 'a', qty: 1 }], n: 100 }, 'the stored value as sealed, not as changed afterwards')
  t.ok(manager.metrics.storedCacheHits > hitsBefore, 'and it came from the store\'s cache')
  t.same((await get(app, '/show', written)).json.user, alice, 'a second read agrees')
})
