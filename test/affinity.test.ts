// The load-balancer affinity cookie: stable for a session, a one-way value that opens nothing.
import t from 'tap'
import { createHash } from 'node:crypto'
import { build, sessionCookie, engine } from './helpers/app.js'

t.test('affinityCookie: set with the session, stable across writes, new after regenerate, cleared on delete', async (t) => {
  const { app } = await build(t, { affinityCookie: 'sa' }, (app) => {
    app.post('/incr', async (req) => { req.session.set('n', ((req.session.get('n') as number) ?? 0) + 1); return { id: req.session.id } })
    app.post('/regen', async (req) => { req.session.regenerate(); req.session.set('x', 1); return { id: req.session.id } })
    app.post('/logout', async (req) => { req.session.delete(); return 'bye' })
    app.get('/read', async (req) => ({ n: req.session.get('n') ?? null }))
  })
  const first = await app.inject({ method: 'POST', url: '/incr' })
  const aff1 = sessionCookie(first, 'sa')!
  const token = sessionCookie(first)!.value
  t.match(aff1.value, /^[A-Za-z0-9_-]{22}$/)
  t.equal(aff1.attrs.HttpOnly, true)
  t.equal(aff1.value, engine(app).affinity(first.json().id))
  t.not(aff1.value, first.json().id, 'not the id')
  t.notOk(token.includes(aff1.value))
  t.not(aff1.value, createHash('sha256').update(first.json().id).digest('base64url').slice(0, 22), 'domain-separated hash')

  const second = await app.inject({ method: 'POST', url: '/incr', cookies: { session: token } })
  t.equal(sessionCookie(second, 'sa')!.value, aff1.value, 'stable for the session')
  const regen = await app.inject({ method: 'POST', url: '/regen', cookies: { session: token } })
  t.not(sessionCookie(regen, 'sa')!.value, aff1.value, 'a new id, a new affinity')

  const asSession = await app.inject({ url: '/read', cookies: { session: aff1.value } })
  t.equal(asSession.json().n, null, 'the affinity value opens nothing')
  const out = await app.inject({ method: 'POST', url: '/logout', cookies: { session: token } })
  t.equal(sessionCookie(out, 'sa')!.attrs['Max-Age'], '0')
})

t.test('no affinity cookie unless asked for; a bad name fails register', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ method: 'POST', url: '/incr' })
  t.equal([res.headers['set-cookie']].flat().length, 1)
  const Fastify = (await import('fastify')).default
  const { plugin, KEY1 } = await import('./helpers/app.js')
  const bad = Fastify()
  bad.register(plugin, { keys: KEY1.entry, affinityCookie: 'session' })
  await t.rejects(async () => { await bad.ready() }, { code: 'FST_ENCSESS_INVALID_OPTION', message: /affinityCookie/ })
})
