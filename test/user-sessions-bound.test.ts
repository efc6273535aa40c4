// A user's list is bounded (MAX_USER_SESSIONS): a login past it ends that user's oldest session.
// Records live no longer than the sessions they list, and expired sessions are never listed.
import t from 'tap'
import { build, sessionCookie, engine } from './helpers/app.js'
import { userRoutes } from './helpers/users.js'
import { CountingStore } from './helpers/counting-store.js'
import { MAX_USER_SESSIONS } from '../lib/users.js'
import type { StoreEntry } from '../lib/stores/store.js'

type App = Awaited<ReturnType<typeof build>>['app']
const login = async (app: App, user: string): Promise<string> => sessionCookie(await app.inject({ method: 'POST', url: '/login', body: { user } }))!.value
const me = async (app: App, cookie: string): Promise<unknown> => (await app.inject({ url: '/me', cookies: { session: cookie } })).json().user

t.test(`past ${MAX_USER_SESSIONS} sessions, a login ends the oldest`, async (t) => {
  const { app } = await build(t, { store: new CountingStore(), userKey: 'user' }, userRoutes)
  const cookies: string[] = []
  for (let i = 0; i < MAX_USER_SESSIONS; i++) cookies.push(await login(app, 'ada'))
  t.equal((await engine(app).listUserSessions('ada')).length, MAX_USER_SESSIONS)
  t.equal(await me(app, cookies[0]!), 'ada')
  const newest = await login(app, 'ada')
  t.equal((await engine(app).listUserSessions('ada')).length, MAX_USER_SESSIONS)
  t.equal(await me(app, cookies[0]!), null, 'the oldest was ended')
  t.equal(await me(app, cookies[1]!), 'ada')
  t.equal(await me(app, newest), 'ada')
})

t.test('a record\'s TTL is the longest remaining lifetime of the sessions it lists', async (t) => {
  const ttls = new Map<string, number>()
  class TtlStore extends CountingStore {
    override async set (key: string, entry: StoreEntry, ttl: number, expectedVersion?: number): Promise<boolean> {
      if (key.startsWith('u:')) ttls.set(key, ttl)
      return await super.set(key, entry, ttl, expectedVersion)
    }
  }
  const { app } = await build(t, { store: new TtlStore(), userKey: 'user', maxAge: 600 }, userRoutes)
  const manager = engine(app)
  const start = manager.lifetime.now()
  await login(app, 'ada')
  t.same([...ttls.values()], [600])
  manager.lifetime.now = () => start + 100
  await login(app, 'ada')
  t.same([...ttls.values()], [600], 'the newer session lives longest')
  await manager.endUserSessions('ada')
  t.same([...ttls.values()], [1], 'an emptied record expires at once')
})

t.test('expired sessions are not listed (boundary: now == expiresAt)', async (t) => {
  const { app } = await build(t, { store: new CountingStore(), userKey: 'user', maxAge: 600 }, userRoutes)
  const manager = engine(app)
  const start = manager.lifetime.now()
  await login(app, 'ada')
  const [listed] = await manager.listUserSessions('ada')
  t.equal(listed!.expiresAt, start + 600)
  manager.lifetime.now = () => listed!.expiresAt - 1
  t.equal((await manager.listUserSessions('ada')).length, 1)
  manager.lifetime.now = () => listed!.expiresAt
  t.same(await manager.listUserSessions('ada'), [])
  t.equal(await manager.endUserSessions('ada'), 0, 'an expired session is not counted as ended')
})
