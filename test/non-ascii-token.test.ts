// A percent-encoded cookie can carry characters above U+00FF. Node's base64 decoder reads only
// such a character's low byte, so U+012B would decode as "+" (0x2B) and U+0141 as "A" (0x41): a
// token ending in one must be refused as malformed, not decoded to the bytes of the real tag.
import t from 'tap'
import { build, engine, sessionCookie } from './helpers/app.js'

t.test('a token whose last character is above U+00FF with a base64 low byte: empty session, malformed', async (t) => {
  const { app } = await build(t)
  const token = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  t.equal((await app.inject({ url: '/read', headers: { cookie: `session=${token}` } })).json().n, 1, 'the real token opens')
  const m = engine(app)
  let refused = 0
  for (const char of ['\u012b', '\u0141', '\u0177']) {
    const res = await app.inject({ url: '/read', headers: { cookie: `session=${token.slice(0, -1)}${encodeURIComponent(char)}` } })
    t.equal(res.statusCode, 200)
    t.equal(res.json().n, null, `last character U+${char.charCodeAt(0).toString(16)}`)
    t.equal(m.metrics.rejected.malformed, ++refused)
  }
})
