// With a store, a session too big for its cookie moves to the store and the cookie only refers to
// it. When even that reference does not fit maxCookieSize (a small limit, long attributes), the
// response is refused with FST_ENCSESS_COOKIE_TOO_LARGE rather than a cookie the browser drops.
import t from 'tap'
import { build, engine, sessionCookie } from './helpers/app.js'
import { MemoryStore } from '../lib/stores/memory.js'

t.test('offloaded, but the reference cookie is still over maxCookieSize: a coded 500, no cookie', async (t) => {
  const { app, logs } = await build(t, {
    store: new MemoryStore(),
    maxCookieSize: 256,
    audience: 'a'.repeat(128),
    cookie: { secure: false, domain: 'sessions.'.repeat(8) + 'example.test', path: '/' + 'p'.repeat(40) }
  })
  const res = await app.inject({ method: 'POST', url: '/put', payload: { blob: 'x'.repeat(1000) } })
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'FST_ENCSESS_COOKIE_TOO_LARGE')
  t.equal(sessionCookie(res), undefined)
  t.equal(engine(app).metrics.tooLarge, 1)
  t.ok(logs.some((l) => l.msg === 'session cookie too large; response refused' && (l.bytes as number) > 256), 'logged with its size')
})
