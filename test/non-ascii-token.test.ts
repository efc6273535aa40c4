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

t.test('a ciphertext whose last character is a look-alike above U+00FF (same low byte): refused, not decoded to the real bytes', async (t) => {
  const { app } = await build(t)
  const m = engine(app)
  // Ciphertext lengths vary with the session; take one whose base64url text does not end on a
  // 4-character boundary, so its last character carries spare bits and is checked on its own.
  let token = ''
  for (let n = 1; token === ''; n++) {
    const value = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { pad: 'x'.repeat(n) } }))!.value
    if (value.split('.')[3]!.length % 4 !== 0) token = value
  }
  const parts = token.split('.')
  const ct = parts[3]!
  t.equal((await app.inject({ url: '/read', headers: { cookie: `session=${token}` } })).statusCode, 200)
  const lookAlike = String.fromCharCode(0x100 + ct.charCodeAt(ct.length - 1))
  parts[3] = ct.slice(0, -1) + lookAlike
  t.equal(Buffer.from(parts[3], 'base64url').equals(Buffer.from(ct, 'base64url')), true, 'Node\'s decoder reads it as the real ciphertext')
  const before = m.metrics.rejected.malformed
  const res = await app.inject({ url: '/read', headers: { cookie: `session=${parts.join('.').replace(lookAlike, encodeURIComponent(lookAlike))}` } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().n, null, 'an empty session')
  t.equal(m.metrics.rejected.malformed, before + 1, 'counted as malformed')
})
