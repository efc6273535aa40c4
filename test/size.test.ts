// The whole Set-Cookie is measured. Without a store, a session that would not fit is a coded error
// and a log line, never a truncated or oversized cookie; oversized incoming cookies are refused unread.
import t from 'tap'
import { build, sessionCookie } from './helpers/app.js'

t.test('a session that fits is sent; one that does not is refused with a coded 500', async (t) => {
  const { app, logs } = await build(t)
  const fits = await app.inject({ method: 'POST', url: '/put', payload: { blob: 'x'.repeat(2500) } })
  t.equal(fits.statusCode, 200)
  t.ok(sessionCookie(fits)!.raw.length <= 4000)

  const big = await app.inject({ method: 'POST', url: '/put', payload: { blob: 'x'.repeat(3500) } })
  t.equal(big.statusCode, 500)
  t.equal(big.json().code, 'FST_ENCSESS_COOKIE_TOO_LARGE')
  t.match(big.json().message, /configure a `store`/)
  t.equal(sessionCookie(big), undefined, 'no cookie at all rather than a broken one')
  const line = logs.find((l) => l.msg === 'session cookie too large; response refused')
  t.equal(line?.level, 50)
  t.equal(line?.limit, 4000)
  t.equal(app.encryptedSession.get().metrics.tooLarge, 1)
})

t.test('the limit counts the whole Set-Cookie, name and attributes included', async (t) => {
  const { app } = await build(t, { maxCookieSize: 600, cookie: { domain: 'a-rather-long-domain-name.example.test', secure: true } })
  let size = 0
  let n = 0
  for (;;) {
    const res = await app.inject({ method: 'POST', url: '/put', payload: { blob: 'y'.repeat(n) } })
    if (res.statusCode !== 200) break
    size = sessionCookie(res)!.raw.length
    n += 10
  }
  t.ok(size <= 600, `largest accepted Set-Cookie was ${size} bytes`)
  t.ok(size > 540, 'and the line is drawn close to the limit, not far below it')
})

t.test('an incoming cookie longer than any we could produce is refused before decoding', async (t) => {
  const { app } = await build(t, { maxCookieSize: 1000 })
  const res = await app.inject({ url: '/read', headers: { cookie: `session=${'A'.repeat(1200)}` } })
  t.equal(res.json().n, null)
  t.equal(app.encryptedSession.get().metrics.rejected.oversized, 1)
})
