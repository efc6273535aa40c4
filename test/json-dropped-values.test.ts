// Session values JSON cannot hold at the top level (a function, a symbol, an object whose toJSON
// returns undefined) are dropped exactly as
// JSON.stringify drops them, and the next request, answered from the token cache, sees the same
// data a decrypt would give.
import t from 'tap'
import { build, engine, sessionCookie } from './helpers/app.js'

t.test('a function, a symbol or an object whose toJSON gives undefined in the session is absent on the next request (cache hit)', async (t) => {
  const { app } = await build(t, {}, (app) => {
    app.post('/set', async (req) => {
      req.session.set('n', 1)
      req.session.set('fn', (() => 1) as unknown as string)
      req.session.set('sym', Symbol('s') as unknown as string)
      req.session.set('none', { toJSON: () => undefined } as unknown as string)
      return 'ok'
    })
    app.get('/data', async (req) => ({ data: req.session.data(), keys: Object.keys(req.session.data()) }))
  })
  const value = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))!.value
  const m = engine(app)
  const res = await app.inject({ url: '/data', cookies: { session: value } })
  t.same(res.json(), { data: { n: 1 }, keys: ['n'] })
  t.equal(m.metrics.cacheHits, 1, 'answered from the token cache')
})

t.test('an object whose toJSON gives undefined, alone beside plain values, is absent on the next request (cache hit)', async (t) => {
  const { app } = await build(t, {}, (app) => {
    app.post('/set', async (req) => {
      req.session.set('n', 1)
      req.session.set('none', { toJSON: () => undefined } as unknown as string)
      return 'ok'
    })
    app.get('/data', async (req) => ({ keys: Object.keys(req.session.data()), n: req.session.get('n') }))
  })
  const value = sessionCookie(await app.inject({ method: 'POST', url: '/set' }))!.value
  const res = await app.inject({ url: '/data', cookies: { session: value } })
  t.same(res.json(), { keys: ['n'], n: 1 })
  t.equal(engine(app).metrics.cacheHits, 1, 'answered from the token cache')
})
