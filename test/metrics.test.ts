// Counters and histograms: readable from the instance with no dependency, and on a prom-client
// registry (fastify-metrics' included) when the app passes one. Labels stay bounded.
import t from 'tap'
import Fastify from 'fastify'
import { Registry } from 'prom-client'
import fastifyMetrics from 'fastify-metrics'
import { build, engine, plugin, sessionCookie, KEY1, KEY2, generateKey } from './helpers/app.js'
import { joseToken } from './helpers/jose.js'
import { CountingStore } from './helpers/counting-store.js'

t.test('the snapshot counts outcomes, seals per kid, cookie sizes and store calls', async (t) => {
  const { app } = await build(t, { store: new CountingStore() })
  const token = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { blob: 'x'.repeat(6000) } }))!.value
  await app.inject({ url: '/read', cookies: { session: token } })
  await app.inject({ url: '/read', cookies: { session: 'junk' } })
  const m = engine(app).metrics.snapshot()
  t.equal(m.opened, 1)
  t.equal(m.rejected.malformed, 1)
  t.same(m.sealed, { k1: 2 }, 'the stored value and the reference cookie: every seal spends an IV under k1')
  t.equal(m.offloaded, 1)
  t.same(m.store, { hits: 1, misses: 0, errors: 0, conflicts: 0 })
  t.equal(engine(app).metrics.cookieBytes.count, 1)
  t.equal(engine(app).metrics.storeSeconds.count, 2, 'one write and one read timed')
})

t.test('an attacker-chosen kid never creates a new series', async (t) => {
  const { app } = await build(t)
  for (let i = 0; i < 20; i++) {
    await app.inject({ url: '/read', cookies: { session: await joseToken(generateKey(`evil${i}`), {}) } })
  }
  const m = engine(app).metrics.snapshot()
  t.same(Object.keys(m.decrypted), ['k1'])
  t.same(Object.keys(m.sealed), ['k1'])
  t.equal(m.rejected.unknown_kid, 20)
})

t.test('exported on a prom-client registry with bounded labels, one series set per session', async (t) => {
  const registry = new Registry()
  const app = Fastify()
  await app.register(plugin, [
    { keys: `${KEY2.entry},${KEY1.entry}`, cookie: { secure: false }, metricsRegistry: registry },
    { keys: KEY1.entry, cookieName: 'admin', sessionName: 'admin', cookie: { secure: false }, metricsRegistry: registry }
  ])
  app.post('/w', async (req) => { req.session.set('a', 1); return 'ok' })
  app.get('/r', async (req) => ({ a: req.session.get('a') ?? null }))
  t.teardown(() => app.close())
  const old = await joseToken(KEY1, { dat: { a: 1 } })
  await app.inject({ url: '/r', cookies: { session: old } })
  await app.inject({ url: '/r', cookies: { session: await joseToken(generateKey('evil'), {}) } })
  await app.inject({ method: 'POST', url: '/w' })
  const text = await registry.metrics()
  t.match(text, /fastify_encrypted_session_decode_total\{session="session",outcome="ok"\} 1/)
  t.match(text, /fastify_encrypted_session_decode_total\{session="session",outcome="unknown_kid"\} 1/)
  t.match(text, /fastify_encrypted_session_decrypted_total\{session="session",kid="k1"\} 1/)
  t.match(text, /fastify_encrypted_session_sealed_total\{session="session",kid="k2"\} 2/)
  t.match(text, /fastify_encrypted_session_rotated_total\{session="session"\} 1/)
  t.match(text, /fastify_encrypted_session_cookie_bytes_bucket\{session="session",le="512"\} 2/)
  t.match(text, /fastify_encrypted_session_cookie_bytes_count\{session="session"\} 2/)
  t.match(text, /fastify_encrypted_session_decode_total\{session="admin",outcome="ok"\} 0/)
  t.notMatch(text, /evil/, 'no series for an unknown kid')
  const series = text.split('\n').filter((l) => l && !l.startsWith('#')).length
  await app.inject({ url: '/r', cookies: { session: await joseToken(generateKey('evil2'), {}) } })
  t.equal((await registry.metrics()).split('\n').filter((l) => l && !l.startsWith('#')).length, series, 'series count unchanged by attacks')
})

t.test('works with fastify-metrics\' registry', async (t) => {
  const app = Fastify()
  await app.register(fastifyMetrics, { endpoint: '/metrics', defaultMetrics: { enabled: false } })
  await app.register(plugin, { keys: KEY1.entry, cookie: { secure: false }, metricsRegistry: app.metrics.client.register })
  app.post('/w', async (req) => { req.session.set('a', 1); return 'ok' })
  t.teardown(() => app.close())
  await app.inject({ method: 'POST', url: '/w' })
  const res = await app.inject({ url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.body, /fastify_encrypted_session_sealed_total\{session="session",kid="k1"\} 1/)
})

t.test('a registry that is not one fails register', async (t) => {
  const app = Fastify()
  app.register(plugin, { keys: KEY1.entry, metricsRegistry: {} as never })
  await t.rejects(async () => { await app.ready() }, { code: 'FST_ENCSESS_INVALID_OPTION', message: /metricsRegistry/ })
})
