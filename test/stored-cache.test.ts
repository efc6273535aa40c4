// The cache of offloaded values: a request still asks the store for its session's value, but a
// value this instance already authenticated (it wrote it, or read it before) is not decrypted and
// parsed again. Only an exact match counts, and what is cached can never be changed by a route.
import t from 'tap'
import { build, sessionCookie, engine, mutateInPlaceRoute, KEY1, KEY2 } from './helpers/app.js'
import { CheckingStore, CountingStore } from './helpers/counting-store.js'
import { countLongStringifies } from './helpers/json.js'

const BIG = 'x'.repeat(6000)

function routes (app: import('fastify').FastifyInstance): void {
  app.post('/put', async (req) => {
    for (const [k, v] of Object.entries(req.body as object)) req.session.set(k, v)
    return { id: req.session.id }
  })
  app.get('/read', async (req) => ({ data: req.session.data() }))
  mutateInPlaceRoute(app)
}

t.test('an offloaded value this instance wrote is read back without decrypting it', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, routes)
  const manager = engine(app)
  const put = await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG, user: 'ada' } })
  const cookie = sessionCookie(put)!.value
  const decryptions = countDecryptions(manager)
  const read = await app.inject({ url: '/read', cookies: { session: cookie } })
  t.same(read.json().data, { blob: BIG, user: 'ada' })
  t.same(store.calls, ['set', 'get'], 'the value is still fetched: the store is the truth')
  t.equal(manager.metrics.storedCacheHits, 1)
  t.equal(decryptions.count, 0, 'neither the cookie nor the 6 KB value was decrypted')
})

/** Counts the codec's open() calls from now on: each is a decryption attempt. */
function countDecryptions (manager: ReturnType<typeof engine>): { count: number } {
  const counter = { count: 0 }
  const open = manager.codec.open.bind(manager.codec)
  manager.codec.open = (...args) => {
    counter.count++
    return open(...args)
  }
  return counter
}

t.test('a value read once is answered from the cache on the next request', async (t) => {
  const store = new CountingStore()
  const writer = await build(t, { store }, routes)
  const reader = await build(t, { store }, routes)
  const cookie = sessionCookie(await writer.app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } }))!.value
  const decryptions = countDecryptions(engine(reader.app))
  for (let i = 0; i < 3; i++) {
    t.same((await reader.app.inject({ url: '/read', cookies: { session: cookie } })).json().data, { blob: BIG })
  }
  t.equal(engine(reader.app).metrics.storedCacheHits, 2)
  t.equal(decryptions.count, 2, 'the cookie and the value decrypted on the first read only')
})

t.test('in-place changes to cached data never reach the next request', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, routes)
  const manager = engine(app)
  const cookie = sessionCookie(await app.inject({
    method: 'POST',
    url: '/put',
    payload: { blob: BIG, profile: { name: 'alice', tags: ['user'] } }
  }))!.value
  for (let i = 0; i < 2; i++) {
    const changed = await app.inject({ url: '/mutate', cookies: { session: cookie } })
    t.equal(changed.json().name, 'mallory', 'the route sees its own change')
    t.equal(changed.headers['set-cookie'], undefined, 'an in-place change is not a set()')
  }
  const data = (await app.inject({ url: '/read', cookies: { session: cookie } })).json().data
  t.same(data.profile, { name: 'alice', tags: ['user'] })
  t.notOk('role' in data)
  t.equal(manager.metrics.storedCacheHits, 3, 'every read after the write was a cache hit')
})

t.test('what is cached after a write is what was stored, whatever the route does afterwards', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, (app) => {
    routes(app)
    app.post('/keep-reference', async (req, reply) => {
      const profile = { name: 'bob', tags: ['user'] }
      req.session.set('profile', profile)
      req.session.set('blob', BIG)
      // After the response is sent the route (or something it scheduled) changes the object.
      reply.raw.once('finish', () => { profile.tags.push('admin') })
      return 'ok'
    })
  })
  const res = await app.inject({ method: 'POST', url: '/keep-reference' })
  const cookie = sessionCookie(res)!.value
  const data = (await app.inject({ url: '/read', cookies: { session: cookie } })).json().data
  t.same(data.profile, { name: 'bob', tags: ['user'] })
  t.equal(engine(app).metrics.storedCacheHits, 1)
})

t.test('a value changed in the store is decrypted, never answered from the cache', async (t) => {
  const store = new CountingStore()
  const a = await build(t, { store }, routes)
  const b = await build(t, { store }, routes)
  const put = await a.app.inject({ method: 'POST', url: '/put', payload: { blob: BIG, n: 1 } })
  const first = sessionCookie(put)!.value
  t.equal((await b.app.inject({ url: '/read', cookies: { session: first } })).json().data.n, 1)
  // Instance a writes version 2; b still knows version 1.
  await a.app.inject({ method: 'POST', url: '/put', payload: { n: 2 }, cookies: { session: first } })
  const hits = engine(b.app).metrics.storedCacheHits
  t.equal((await b.app.inject({ url: '/read', cookies: { session: first } })).json().data.n, 2, 'the newer version, not the cached one')
  t.equal(engine(b.app).metrics.storedCacheHits, hits)

  // The same version with another value (here: one ciphertext character changed) is not a match.
  const keyOf = engine(b.app).storage!.keyOf(put.json().id, 'k1')!
  const entry = (await store.raw(keyOf))!
  const parts = entry.value.split('.')
  parts[3] = (parts[3]![0] === 'A' ? 'B' : 'A') + parts[3]!.slice(1)
  await store.put(keyOf, { version: entry.version, value: parts.join('.') })
  const tampered = await b.app.inject({ url: '/read', cookies: { session: first } })
  t.same(tampered.json().data, {}, 'refused: an empty session')
  t.equal(engine(b.app).metrics.rejected.store_invalid, 1)
  t.equal(engine(b.app).metrics.storedCacheHits, hits)
})

t.test('a store that can compare in place (getIfChanged) is asked whether the known value is still there', async (t) => {
  const store = new CheckingStore()
  const a = await build(t, { store }, routes)
  const b = await build(t, { store }, routes)
  const put = await a.app.inject({ method: 'POST', url: '/put', payload: { blob: BIG, n: 1 } })
  const first = sessionCookie(put)!.value
  const decryptions = countDecryptions(engine(a.app))
  t.equal((await a.app.inject({ url: '/read', cookies: { session: first } })).json().data.n, 1)
  t.same(store.calls, ['set', 'check'], 'the writer checks; it does not fetch the value')
  t.equal(decryptions.count, 0)
  t.equal(engine(a.app).metrics.storedCacheHits, 1)

  // b has never seen the value: it fetches it; then it knows it and checks.
  store.calls.length = 0
  t.equal((await b.app.inject({ url: '/read', cookies: { session: first } })).json().data.n, 1)
  t.equal((await b.app.inject({ url: '/read', cookies: { session: first } })).json().data.n, 1)
  t.same(store.calls, ['get', 'check'])

  // b writes version 2: a's check finds another version and gets the new value, which it decrypts.
  const second = sessionCookie(await b.app.inject({ method: 'POST', url: '/put', payload: { n: 2 }, cookies: { session: first } }))!.value
  t.equal((await a.app.inject({ url: '/read', cookies: { session: second } })).json().data.n, 2, 'the newer version')
  t.equal(decryptions.count, 2, 'the new cookie and the new value were decrypted')
  t.equal(engine(a.app).metrics.storedCacheHits, 1, 'not a cache hit')

  const keyOf = engine(a.app).storage!.keyOf(put.json().id, 'k1')!
  const entry = (await store.raw(keyOf))!
  const parts = entry.value.split('.')
  const flip = (text: string): string => (text[0] === 'A' ? 'B' : 'A') + text.slice(1)

  // The same version under another IV is another write: fetched, decrypted, refused.
  await store.put(keyOf, { version: entry.version, value: [parts[0], parts[1], flip(parts[2]!), parts[3], parts[4]].join('.') })
  t.same((await a.app.inject({ url: '/read', cookies: { session: second } })).json().data, {}, 'another IV: refused')
  t.equal(engine(a.app).metrics.rejected.store_invalid, 1)

  // A value changed after its IV (same version) matches the head, so the data authenticated here
  // is used: nothing the store changed is ever read, and an instance without it cached refuses it.
  await store.put(keyOf, entry)
  t.equal((await a.app.inject({ url: '/read', cookies: { session: second } })).json().data.n, 2, 'put back: read (and known again)')
  await store.put(keyOf, { version: entry.version, value: [parts[0], parts[1], parts[2], flip(parts[3]!), parts[4]].join('.') })
  t.equal((await a.app.inject({ url: '/read', cookies: { session: second } })).json().data.n, 2, 'the known data, not the changed bytes')
  const c = await build(t, { store }, routes)
  t.same((await c.app.inject({ url: '/read', cookies: { session: second } })).json().data, {}, 'an instance that fetches it refuses it')
  t.equal(engine(c.app).metrics.rejected.store_invalid, 1)

  // Gone from the store: the check says so, and the session is empty.
  await store.delete(keyOf)
  t.same((await a.app.inject({ url: '/read', cookies: { session: second } })).json().data, {}, 'deleted: an empty session')
  t.equal(engine(a.app).metrics.rejected.store_missing, 1)
})

t.test('a long value that a write leaves unchanged is not serialized again', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store }, (app) => {
    routes(app)
    app.post('/incr', async (req) => {
      req.session.set('n', ((req.session.get('n') as number | undefined) ?? 0) + 1)
      return { n: req.session.get('n') }
    })
  })
  let cookie = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG, n: 0 } }))!.value
  let serialized = 0
  for (let i = 1; i <= 3; i++) {
    const { count, result: res } = await countLongStringifies(() => app.inject({ method: 'POST', url: '/incr', cookies: { session: cookie } }))
    serialized += count
    t.equal(res.json().n, i)
    cookie = sessionCookie(res)!.value
  }
  t.equal(serialized, 0, 'the 6 KB value was serialized once, when it was set')
  t.same((await app.inject({ url: '/read', cookies: { session: cookie } })).json().data, { blob: BIG, n: 3 })
  const fresh = await build(t, { store }, routes)
  t.same((await fresh.app.inject({ url: '/read', cookies: { session: cookie } })).json().data, { blob: BIG, n: 3 }, 'and what was stored decrypts to the same data')
})

t.test('a key-set change forgets every cached value', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store, keys: `${KEY1.entry},${KEY2.entry}` }, routes)
  const manager = engine(app)
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } }))!.value
  manager.replaceKeys(`${KEY1.entry},${KEY2.entry}`)
  t.same((await app.inject({ url: '/read', cookies: { session: cookie } })).json().data, { blob: BIG })
  t.equal(manager.metrics.storedCacheHits, 0, 'decrypted again under the new set')
})

t.test('with cache: false every stored value is decrypted', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store, cache: false }, routes)
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } }))!.value
  await app.inject({ url: '/read', cookies: { session: cookie } })
  await app.inject({ url: '/read', cookies: { session: cookie } })
  t.equal(engine(app).metrics.storedCacheHits, 0)
})

t.test('the store key of a cached token\'s session is derived once, not on every request', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store, revocation: true }, routes)
  const storage = engine(app).storage!
  let derived = 0
  const keyOf = storage.keyOf.bind(storage)
  storage.keyOf = (sid, kid) => {
    derived++
    return keyOf(sid, kid)
  }
  const offloaded = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } }))!.value
  const small = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { n: 1 } }))!.value
  const afterWrites = derived
  for (let i = 0; i < 3; i++) {
    t.same((await app.inject({ url: '/read', cookies: { session: offloaded } })).json().data, { blob: BIG })
    t.same((await app.inject({ url: '/read', cookies: { session: small } })).json().data, { n: 1 }, 'revocation checks it every time')
  }
  t.equal(derived - afterWrites, 1, 'the offloaded session\'s key came with its cached token; the small one\'s was derived once')
})

t.test('a cached value reads exactly as a fresh decryption of it would, odd values included', async (t) => {
  const store = new CountingStore()
  const odd = (app: import('fastify').FastifyInstance): void => {
    routes(app)
    app.post('/odd', async (req) => {
      req.session.set('blob', BIG)
      req.session.set('nan', Number.NaN)
      req.session.set('negativeZero', -0)
      req.session.set('when', new Date(0))
      req.session.set('nested', { gone: undefined, list: [1, undefined, Number.POSITIVE_INFINITY], fn: () => 1 })
      return 'ok'
    })
    // Tells apart what JSON output would blur: NaN and null, -0 and 0, a Date and its string.
    app.get('/describe', async (req) => Object.fromEntries(Object.entries(req.session.data()).map(([k, v]) => [
      k,
      v !== null && typeof v === 'object' ? `${Object.prototype.toString.call(v)} ${JSON.stringify(v)}` : `${typeof v} ${Object.is(v, -0) ? '-0' : String(v)}`
    ])))
    app.post('/flat', async (req) => {
      req.session.set('blob', BIG)
      req.session.set('n', 1)
      req.session.set('yes', true)
      req.session.set('none', null)
      return 'ok'
    })
  }
  const cached = await build(t, { store }, odd)
  const fresh = await build(t, { store, cache: false }, odd)
  for (const route of ['/odd', '/flat']) {
    const cookie = sessionCookie(await cached.app.inject({ method: 'POST', url: route }))!.value
    const hits = engine(cached.app).metrics.storedCacheHits
    const fromCache = (await cached.app.inject({ url: '/describe', cookies: { session: cookie } })).json()
    t.equal(engine(cached.app).metrics.storedCacheHits, hits + 1, `${route}: answered from the cache`)
    const decrypted = (await fresh.app.inject({ url: '/describe', cookies: { session: cookie } })).json()
    t.same(fromCache, decrypted, `${route}: the same values as a fresh decryption`)
    t.equal(decrypted.blob, `string ${BIG}`, `${route}: (the comparison sees the data)`)
  }
})
