// A key withdrawn by a key-set change opens nothing any more, not even a token the token cache
// already knows: the cache skips the kid lookup, so a key change must empty it.
import t from 'tap'
import { build, engine, sessionCookie, KEY1, KEY2 } from './helpers/app.js'

t.test('a cached token sealed under a removed kid is refused after replaceKeys', async (t) => {
  const { app } = await build(t, { keys: `${KEY2.entry},${KEY1.entry}` })
  const manager = engine(app)
  const token = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  t.equal((await app.inject({ url: '/read', cookies: { session: token } })).json().n, 1)
  t.equal(manager.metrics.cacheHits, 1, 'the token is in the cache')
  manager.replaceKeys(KEY1.entry)
  const res = await app.inject({ url: '/read', cookies: { session: token } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().n, null, 'an empty session')
  t.equal(manager.metrics.rejected.unknown_kid, 1)
  t.equal(manager.metrics.cacheHits, 1, 'not answered from the cache')
})

t.test('the same for an offloaded session whose stored value was cached', async (t) => {
  const { MemoryStore } = await import('../lib/stores/memory.js')
  const { app } = await build(t, { keys: `${KEY2.entry},${KEY1.entry}`, store: new MemoryStore() }, (app) => {
    app.post('/big', async (req) => { req.session.set('big', 'x'.repeat(6000)); return 'ok' })
    app.get('/read', async (req) => ({ big: (req.session.get('big') as string | undefined)?.length ?? 0 }))
  })
  const manager = engine(app)
  const token = sessionCookie(await app.inject({ method: 'POST', url: '/big' }))!.value
  t.equal((await app.inject({ url: '/read', cookies: { session: token } })).json().big, 6000)
  manager.replaceKeys(KEY1.entry)
  t.equal((await app.inject({ url: '/read', cookies: { session: token } })).json().big, 0)
  t.equal(manager.metrics.rejected.unknown_kid, 1)
})
