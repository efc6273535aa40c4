// What cannot be trusted gets a defined outcome: a userKey that throws or names no usable id ends
// that session (warn log, cookie cleared, never a 5xx); bad userMeta lists the session without it;
// a user record that is garbage, copied from another user, or not ours lists nothing (fail closed).
import t from 'tap'
import { build, sessionCookie, engine, KEY1, KEY2 } from './helpers/app.js'
import { userRoutes } from './helpers/users.js'
import { CountingStore } from './helpers/counting-store.js'
import type { StoreEntry } from '../lib/stores/store.js'
import { joseToken } from './helpers/jose.js'

/** Remembers the keys of the user records written. */
class RecordingStore extends CountingStore {
  readonly records = new Set<string>()
  override async set (key: string, entry: StoreEntry, ttl: number, expectedVersion?: number): Promise<boolean> {
    if (key.startsWith('u:')) this.records.add(key)
    return await super.set(key, entry, ttl, expectedVersion)
  }
}

type App = Awaited<ReturnType<typeof build>>['app']
const login = async (app: App, user: unknown): Promise<string> => sessionCookie(await app.inject({ method: 'POST', url: '/login', body: { user } }))!.value
const me = async (app: App, cookie: string): Promise<unknown> => (await app.inject({ url: '/me', cookies: { session: cookie } })).json().user

t.test('a userKey that throws or gives no usable id ends that session only', async (t) => {
  const { app, logs } = await build(t, {
    store: new CountingStore(),
    userKey: (d: { user?: unknown }) => {
      if (d.user === 'boom') throw new Error('app bug')
      return d.user as string
    }
  }, (app) => {
    userRoutes(app)
    app.post<{ Body: { user: unknown } }>('/set-user', async (req) => { req.session.set('user', req.body.user); return 'ok' })
  })
  const ada = await login(app, 'ada')
  for (const bad of ['boom', { id: 1 }, '', 'x'.repeat(1025)]) {
    const res = await app.inject({ method: 'POST', url: '/login', body: { user: bad } })
    t.equal(res.statusCode, 200, JSON.stringify(bad).slice(0, 20))
    t.match(sessionCookie(res)!.raw, /Max-Age=0|Expires=Thu, 01 Jan 1970/, 'the cookie is cleared')
  }
  t.ok(logs.some((l) => l.level === 40 && /userKey gave no usable user id/.test(String(l.msg))))
  const carol = await login(app, 'carol')
  const res = await app.inject({ method: 'POST', url: '/set-user', body: { user: 'boom' }, cookies: { session: carol } })
  t.equal(res.statusCode, 200)
  t.match(sessionCookie(res)!.raw, /Max-Age=0|Expires=Thu, 01 Jan 1970/)
  t.same(await engine(app).listUserSessions('carol'), [], 'and it left its user\'s list')
  t.equal(await me(app, carol), null)
  t.equal(await me(app, ada), 'ada', 'nobody else is affected')
})

t.test('bad userMeta: the session is listed without meta, with a warning', async (t) => {
  let meta: () => unknown = () => undefined
  const { app, logs } = await build(t, { store: new CountingStore(), userKey: 'user', userMeta: () => meta() }, userRoutes)
  await login(app, 'ada')
  meta = () => 'not an object'
  await login(app, 'ada')
  meta = () => { throw new Error('app bug') }
  await login(app, 'ada')
  meta = () => ({ big: 'x'.repeat(600) })
  await login(app, 'ada')
  meta = () => ({ device: 'ok' })
  await login(app, 'ada')
  t.same((await engine(app).listUserSessions('ada')).map((s) => s.meta), [undefined, undefined, undefined, undefined, { device: 'ok' }])
  t.equal(logs.filter((l) => l.level === 40 && /userMeta must return/.test(String(l.msg))).length, 3)
})

t.test('a user record that is not an authentic record of this user lists nothing', async (t) => {
  const store = new RecordingStore()
  const { app } = await build(t, { store, userKey: 'user' }, userRoutes)
  const bob = await login(app, 'bob')
  const [bobKey] = store.records
  const ada = await login(app, 'ada')
  const adaKey = [...store.records].find((k) => k !== bobKey)!
  const original = (await store.raw(adaKey))!
  const codec = engine(app).codec
  const bad: StoreEntry[] = [
    { version: original.version, value: 'garbage' },
    (await store.raw(bobKey!))!,
    { version: original.version, value: codec.seal('not json') },
    { version: original.version, value: codec.seal(JSON.stringify({ aud: 'other', list: [] })) }
  ]
  for (const entry of bad) {
    await store.put(adaKey, entry)
    t.equal(await me(app, ada), null, entry.value.slice(0, 12))
  }
  t.equal(await me(app, bob), 'bob')
  await store.put(adaKey, original)
  t.equal(await me(app, ada), 'ada', 'the untouched record lists it again')
})

t.test('sessions bound under a key that left the ring are refused, and cannot be bound', async (t) => {
  const { app, logs } = await build(t, { store: new CountingStore(), userKey: 'user' }, (app) => {
    userRoutes(app)
    app.post('/bind', async (req) => { req.session.set('user', 'ada'); return 'ok' })
  })
  const visitor = sessionCookie(await app.inject({ method: 'POST', url: '/visit' }))!.value
  const ada = await login(app, 'ada')
  engine(app).replaceKeys([KEY2.entry, KEY1.entry].join(','))
  const rotated = sessionCookie(await app.inject({ url: '/me', cookies: { session: ada } }))!.value
  const visitorRotated = sessionCookie(await app.inject({ url: '/me', cookies: { session: visitor } }))!.value
  engine(app).replaceKeys(KEY2.entry)
  t.equal(await me(app, rotated), null)
  const bind = await app.inject({ method: 'POST', url: '/bind', cookies: { session: visitorRotated } })
  t.equal(bind.statusCode, 200)
  t.match(sessionCookie(bind)!.raw, /Max-Age=0|Expires=Thu, 01 Jan 1970/)
  t.ok(logs.some((l) => /store key is retired/.test(String(l.msg))))
})

t.test('a record that keeps changing under a login: 409 after a few tries', async (t) => {
  class Losing extends CountingStore {
    override async set (key: string, entry: StoreEntry, ttl: number, expectedVersion?: number): Promise<boolean> {
      return key.startsWith('u:') ? false : await super.set(key, entry, ttl, expectedVersion)
    }
  }
  const { app } = await build(t, { store: new Losing(), userKey: 'user' }, userRoutes)
  const res = await app.inject({ method: 'POST', url: '/login', body: { user: 'ada' } })
  t.equal(res.statusCode, 409)
  t.equal(res.json().code, 'FST_ENCSESS_STORE_CONFLICT')
  t.equal(res.headers['set-cookie'], undefined)
})

t.test('without the store (open(), the synchronous loader) a user-bound session is refused', async (t) => {
  const { app } = await build(t, { store: new CountingStore(), userKey: 'user' }, userRoutes)
  const ada = await login(app, 'ada')
  t.equal(engine(app).open(ada), null)
  const session = engine(app).load(ada, app.log)
  t.equal(session.isNew, true)
  t.equal(engine(app).metrics.rejected.store_missing, 1)
  const anonymous = engine(app).seal({ visits: 1 })
  t.not(engine(app).open(anonymous), null, 'unbound sessions open as before')
})

t.test('the store failing while a bound session regenerates (with or without a user): 503, and the old session stays listed', async (t) => {
  let failing = false
  class Flaky extends CountingStore {
    override async set (key: string, entry: StoreEntry, ttl: number, expectedVersion?: number): Promise<boolean> {
      if (failing && key.startsWith('u:')) throw new Error('store down')
      return await super.set(key, entry, ttl, expectedVersion)
    }
  }
  const { app } = await build(t, { store: new Flaky(), userKey: 'user' }, (app) => {
    userRoutes(app)
    app.post('/anonymous', async (req) => { req.session.regenerate(); return 'ok' })
  })
  const ada = await login(app, 'ada')
  failing = true
  for (const res of [
    await app.inject({ method: 'POST', url: '/login', body: { user: 'ada' }, cookies: { session: ada } }),
    await app.inject({ method: 'POST', url: '/anonymous', cookies: { session: ada } })
  ]) {
    t.equal(res.statusCode, 503)
    t.equal(res.headers['set-cookie'], undefined)
  }
  failing = false
  t.equal(await me(app, ada), 'ada')
})

t.test('a token whose user binding is malformed is refused as a bad payload', async (t) => {
  const { app } = await build(t, { store: new CountingStore(), userKey: 'user' }, userRoutes)
  const record = 'R'.repeat(43)
  for (const claims of [{ usr: 5, skid: 'k1' }, { usr: 'short', skid: 'k1' }, { usr: record }]) {
    t.equal(await me(app, await joseToken(KEY1, { ...claims, dat: { user: 'ada' } })), null, JSON.stringify(claims))
  }
  t.equal(engine(app).metrics.rejected.payload, 3)
  t.equal(await me(app, await joseToken(KEY1, { usr: record, skid: 'k1', dat: { user: 'ada' } })), null, 'well formed, but listed nowhere')
  t.equal(engine(app).metrics.rejected.revoked, 1)
})
