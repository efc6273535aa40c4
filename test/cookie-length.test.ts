// A session's Set-Cookie length is known before it is sealed (cookie.ts overhead() plus the codec's
// sealedLength()): that prediction decides between "send it" and FST_ENCSESS_COOKIE_TOO_LARGE, so
// it must be exact to the byte, for every attribute set, both protocols and any Max-Age.
import t from 'tap'
import { cookieWriter } from '../lib/cookie.js'
import { build, sessionCookie } from './helpers/app.js'

t.test('overhead() is exactly the length of an empty-valued Set-Cookie', async (t) => {
  const attributeSets = [
    {},
    { secure: false },
    { secure: 'auto' as const },
    { domain: 'example.test', path: '/app', sameSite: 'strict' as const, priority: 'high' as const },
    { sameSite: false, httpOnly: false, partitioned: true, secure: true }
  ]
  let checked = 0
  for (const attrs of attributeSets) {
    for (const name of ['s', 'session', '__Secure-x']) {
      if (name.startsWith('__Secure-') && attrs.secure !== undefined && attrs.secure !== true) continue
      const writer = cookieWriter(name, attrs)
      for (const maxAge of [0, 9, 10, 99, 100, 86399, 86400, 1209600, 2147483647]) {
        for (const https of [false, true]) {
          t.equal(writer.overhead(maxAge, https), writer.serialize('', maxAge, https).length, `${name} ${JSON.stringify(attrs)} ${maxAge} ${https}`)
          t.equal(writer.overhead(maxAge, https, { path: '/other' }), writer.serialize('', maxAge, https, { path: '/other' }).length)
          checked++
        }
      }
    }
  }
  t.ok(checked > 200)
})

t.test('a Set-Cookie of exactly maxCookieSize bytes is sent; one byte less of limit refuses it', async (t) => {
  const payload = { blob: 'z'.repeat(700), nested: { list: [1, 2, 3], flag: true } }
  const { app: probe } = await build(t, { maxCookieSize: 4096 })
  const first = await probe.inject({ method: 'POST', url: '/put', payload })
  t.equal(first.statusCode, 200)
  const size = sessionCookie(first)!.raw.length

  const { app: exact } = await build(t, { maxCookieSize: size })
  const atLimit = await exact.inject({ method: 'POST', url: '/put', payload })
  t.equal(atLimit.statusCode, 200, 'the limit itself is allowed')
  t.equal(sessionCookie(atLimit)!.raw.length, size)

  const { app: tight } = await build(t, { maxCookieSize: size - 1 })
  const over = await tight.inject({ method: 'POST', url: '/put', payload })
  t.equal(over.statusCode, 500)
  t.equal(over.json().code, 'FST_ENCSESS_COOKIE_TOO_LARGE')
  t.match(over.json().message, new RegExp(`${size} bytes`))
})
