// Hybrid storage with the embedded MemoryStore: small sessions stay in the cookie and never touch
// the store; large ones move to the store behind a small sealed reference, and come back.
import t from 'tap'
import { createHmac, hkdfSync } from 'node:crypto'
import { build, sessionCookie, engine, KEY1, KEY2 } from './helpers/app.js'
import { claimsOf } from './helpers/claims.js'
import { CountingStore } from './helpers/counting-store.js'

const BIG = 'x'.repeat(6000)

function routes (app: import('fastify').FastifyInstance): void {
  app.post('/put', async (req) => {
    for (const [k, v] of Object.entries(req.body as object)) req.session.set(k, v)
    return { id: req.session.id }
  })
  app.get('/read', async (req) => ({ data: req.session.data(), id: req.session.id }))
  app.get('/', async () => 'no session')
  app.post('/regenerate', async (req) => { req.session.regenerate(); req.session.set('fresh', true); return { id: req.session.id } })
  app.post('/logout', async (req) => { req.session.delete(); return 'bye' })
}

t.test('small sessions stay in the cookie and cost zero store calls', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, routes)
  const res = await app.inject({ method: 'POST', url: '/put', payload: { a: 1 } })
  const token = sessionCookie(res)!.value
  const claims = await claimsOf(token, KEY1)
  t.same(claims.dat, { a: 1 })
  t.equal(claims.ref, undefined)
  t.equal(claims.skid, 'k1', 'the store key id is recorded even before any offload')
  t.same((await app.inject({ url: '/read', cookies: { session: token } })).json().data, { a: 1 })
  await app.inject({ url: '/' })
  t.same(store.calls, [], 'no store command for cookie-only sessions')
})

t.test('a large session is offloaded: the cookie carries a small sealed reference', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, routes)
  const res = await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG, user: 'ada' } })
  t.equal(res.statusCode, 200)
  const cookie = sessionCookie(res)!
  t.ok(cookie.raw.length < 400, `reference cookie is small (${cookie.raw.length} bytes)`)
  const claims = await claimsOf(cookie.value, KEY1)
  t.equal(claims.dat, undefined)
  t.equal(claims.ref, 1)
  t.equal(claims.sid, res.json().id)
  t.same(store.calls, ['set'])
  t.equal(engine(app).metrics.offloaded, 1)

  const read = await app.inject({ url: '/read', cookies: { session: cookie.value } })
  t.same(read.json(), { data: { blob: BIG, user: 'ada' }, id: claims.sid })
  t.equal(read.headers['set-cookie'], undefined, 'reading does not rewrite')
  t.same(store.calls, ['set', 'get'])
})

t.test('store keys are HMACs of the id and values reveal nothing', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, routes)
  const res = await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG, secret: 'hunter2' } })
  const sid = res.json().id as string
  const entry = await store.raw(storeKeyOf(sid))
  t.ok(entry, 'stored under HMAC(derived key, sid)')
  t.equal(await store.raw(sid), undefined, 'not under the id itself')
  t.equal(entry!.version, 1)
  t.notOk(entry!.value.includes('hunter2') || entry!.value.includes(sid), 'value is ciphertext')
  const stored = await claimsOf(entry!.value, KEY1)
  t.equal(stored.aud, 'fastify-encrypted-session#session#store', 'a stored value has its own audience')
  t.equal(stored.ver, 1)
  t.equal(stored.sid, sid)
  // A stolen store value is not a cookie.
  const asCookie = await app.inject({ url: '/read', cookies: { session: entry!.value } })
  t.same(asCookie.json().data, {})
})

t.test('every stored entry lives exactly as long as the session', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store, maxAge: 7200, idleTimeout: 900 }, routes)
  await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } })
  t.equal(store.ttls.length, 1)
  t.ok(store.ttls[0] === 900 || store.ttls[0] === 899, `TTL = remaining lifetime, the idle deadline being nearer (${store.ttls[0]})`)
  const plain = new CountingStore()
  const other = await build(t, { store: plain, maxAge: 7200 }, routes)
  await other.app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } })
  t.equal(plain.ttls.length, 1)
  t.ok(plain.ttls[0] === 7200 || plain.ttls[0] === 7199, `TTL = remaining lifetime (${plain.ttls[0]})`)
})

t.test('data that shrinks returns to the cookie and the store entry is deleted', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, routes)
  const big = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } }))!.value
  const small = await app.inject({ method: 'POST', url: '/put', payload: { blob: 'tiny' }, cookies: { session: big } })
  const claims = await claimsOf(sessionCookie(small)!.value, KEY1)
  t.same(claims.dat, { blob: 'tiny' })
  t.equal(claims.ref, undefined)
  t.same(store.calls, ['set', 'get', 'delete'])
  t.equal(store.size, 0, 'nothing left behind')
  t.equal(engine(app).metrics.returnedToCookie, 1)
})

t.test('updates write a new version; a stale reference reads the newest, an older value is refused', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, routes)
  const v1 = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG, n: 1 } }))!.value
  const v2 = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { n: 2 }, cookies: { session: v1 } }))!.value
  t.equal((await claimsOf(v2, KEY1)).ref, 2)
  t.equal((await app.inject({ url: '/read', cookies: { session: v2 } })).json().data.n, 2)
  // A write whose response was lost (a timeout) may still have landed: the browser's older
  // reference then reads the newer version rather than losing the session.
  const stale = await app.inject({ url: '/read', cookies: { session: v1 } })
  t.equal(stale.json().data.n, 2, 'a cookie naming version 1 reads version 2')
  const v1entry = { version: 1, value: (await store.raw(storeKeyOf((await claimsOf(v1, KEY1)).sid)))!.value }
  await store.put(storeKeyOf((await claimsOf(v1, KEY1)).sid), v1entry)
  t.same((await app.inject({ url: '/read', cookies: { session: v2 } })).json().data, {}, 'a value older than the cookie\'s reference is refused')
  t.equal(engine(app).metrics.rejected.store_invalid, 1)
})

t.test('regenerate() gives a new id and ends the old entry; delete() ends it and clears the cookie', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, routes)
  const first = await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } })
  const token = sessionCookie(first)!.value
  const regen = await app.inject({ method: 'POST', url: '/regenerate', cookies: { session: token } })
  t.not(regen.json().id, first.json().id)
  t.same(store.calls, ['set', 'get', 'end'], 'old entry replaced by a tombstone; new session fits in the cookie')
  t.same((await app.inject({ url: '/read', cookies: { session: token } })).json().data, {}, 'old cookie is dead')
  t.equal(engine(app).metrics.rejected.revoked, 1)

  const again = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } }))!.value
  const out = await app.inject({ method: 'POST', url: '/logout', cookies: { session: again } })
  t.equal(sessionCookie(out)!.attrs['Max-Age'], '0')
  t.same((await app.inject({ url: '/read', cookies: { session: again } })).json().data, {})
})

t.test('rotation re-seals an offloaded session and its stored value under the current key', async (t) => {
  const store = new CountingStore()
  const old = await build(t, { store, keys: KEY1.entry }, routes)
  const token = sessionCookie(await old.app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } }))!.value
  const rotated = await build(t, { store, keys: `${KEY2.entry},${KEY1.entry}` }, routes)
  const res = await rotated.app.inject({ url: '/read', cookies: { session: token } })
  t.equal(res.json().data.blob, BIG)
  const cookie = sessionCookie(res)!
  const claims = await claimsOf(cookie.value, KEY2)
  t.equal(claims.ref, 2)
  t.equal(claims.skid, 'k1', 'the store key stays derived from the key the session began under')
  t.same(store.calls.slice(-2), ['get', 'set'], 'read, then rewritten')
  const entry = await store.raw(storeKeyOf(claims.sid))
  t.equal(JSON.parse(Buffer.from(entry!.value.split('.')[0]!, 'base64url').toString()).kid, 'k2', 'stored value re-sealed with the current key')
  const read = await rotated.app.inject({ url: '/read', cookies: { session: cookie.value } })
  t.equal(read.json().data.blob, BIG)
  t.equal(read.headers['set-cookie'], undefined)
})

t.test('an offloaded cookie without a configured store is refused, not a crash', async (t) => {
  const store = new CountingStore()
  const withStore = await build(t, { store }, routes)
  const token = sessionCookie(await withStore.app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } }))!.value
  const without = await build(t, {}, routes)
  const res = await without.app.inject({ url: '/read', cookies: { session: token } })
  t.equal(res.statusCode, 200)
  t.same(res.json().data, {})
  t.equal(engine(without.app).metrics.rejected.store_missing, 1)
})

t.test('an expired session leaves nothing behind', async (t) => {
  let now = 0
  const store = new CountingStore({ now: () => now })
  const { app } = await build(t, { store, maxAge: 60 }, routes)
  const res = await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } })
  const key = storeKeyOf(res.json().id)
  t.ok(await store.raw(key))
  now = 60_000
  t.equal(await store.raw(key), undefined, 'its entry expired with it')
  t.equal(store.size, 0)
})

function storeKeyOf (sid: string): string {
  const storeKey = Buffer.from(hkdfSync('sha256', Buffer.from(KEY1.key, 'base64url'), Buffer.alloc(0), 'fastify-encrypted-session store-key v1', 32))
  return createHmac('sha256', storeKey).update(sid).digest('base64url')
}
