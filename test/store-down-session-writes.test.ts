// While the store cannot be read, a stored session's data can be neither changed, regenerated nor
// touched: each attempt is a coded 503 with Retry-After and no cookie. delete() still works, so
// logout clears the cookie.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, sessionCookie } from './helpers/app.js'
import { MemoryStore } from '../lib/stores/memory.js'
import type { SessionStore } from '../lib/stores/store.js'

function routes (app: FastifyInstance): void {
  app.post('/put', async (req) => {
    for (const [k, v] of Object.entries(req.body as object)) req.session.set(k, v)
    return 'ok'
  })
  app.post('/set', async (req) => { req.session.set('n', 2); return 'ok' })
  app.post('/regenerate', async (req) => { req.session.regenerate(); return 'ok' })
  app.post('/touch', async (req) => { req.session.touch(); return 'ok' })
  app.post('/logout', async (req) => { req.session.delete(); return 'bye' })
}

for (const idleTimeout of [0, 600]) {
  t.test(`store down (idleTimeout ${idleTimeout}): set, regenerate, touch are 503; delete clears the cookie`, async (t) => {
    const memory = new MemoryStore()
    let down = false
    // Our own store interface, failing on demand.
    const store: SessionStore = {
      get: async (key) => { if (down) throw new Error('connection refused'); return await memory.get(key) },
      set: async (key, entry, ttl, expected) => { if (down) throw new Error('connection refused'); return await memory.set(key, entry, ttl, expected) },
      delete: async (key) => { await memory.delete(key) }
    }
    const { app } = await build(t, { store, idleTimeout, storeTimeout: 200 }, routes)
    const value = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { n: 1, blob: 'x'.repeat(6000) } }))!.value
    down = true
    for (const url of ['/set', '/regenerate', '/touch']) {
      const res = await app.inject({ method: 'POST', url, cookies: { session: value } })
      t.equal(res.statusCode, 503, url)
      t.equal(res.json().code, 'FST_ENCSESS_STORE_UNAVAILABLE', url)
      t.ok(res.headers['retry-after'], `${url}: Retry-After`)
      t.equal(sessionCookie(res), undefined, `${url}: no cookie`)
    }
    const out = await app.inject({ method: 'POST', url: '/logout', cookies: { session: value } })
    t.equal(out.statusCode, 200)
    t.equal(sessionCookie(out)!.attrs['Max-Age'], '0', 'the cookie is cleared')
  })
}

t.test('a session key that is not a string is a TypeError (a 500: a bug in the route)', async (t) => {
  const { app } = await build(t, {}, (app) => {
    app.post('/bad', async (req) => { req.session.set(42 as unknown as string, 1); return 'ok' })
  })
  const res = await app.inject({ method: 'POST', url: '/bad' })
  t.equal(res.statusCode, 500)
  t.equal(res.json().message, 'session keys must be strings')
  t.equal(sessionCookie(res), undefined)
})

t.test('store failing only on writes: regenerate() cannot record the old identity as ended, so it is a 503', async (t) => {
  const memory = new MemoryStore()
  let writesFail = false
  const store: SessionStore = {
    get: async (key) => await memory.get(key),
    set: async (key, entry, ttl, expected) => { if (writesFail) throw new Error('READONLY replica'); return await memory.set(key, entry, ttl, expected) },
    delete: async (key) => { await memory.delete(key) }
  }
  const { app } = await build(t, { store, revocation: true, storeTimeout: 200 }, routes)
  const value = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { n: 1 } }))!.value
  writesFail = true
  const res = await app.inject({ method: 'POST', url: '/regenerate', cookies: { session: value } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'FST_ENCSESS_STORE_UNAVAILABLE')
  t.equal(sessionCookie(res), undefined, 'no new identity handed out')
  writesFail = false
  const again = await app.inject({ method: 'POST', url: '/regenerate', cookies: { session: value } })
  t.equal(again.statusCode, 200)
  t.not(sessionCookie(again)!.value, value, 'once the store is back, regenerate works')
})
