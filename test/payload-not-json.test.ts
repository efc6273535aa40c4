// A token that authenticates under our key but whose plaintext is not JSON (a bug elsewhere, or a
// key shared with another tool) is refused as "payload": an empty session, counted, never a 5xx.
import t from 'tap'
import { CompactEncrypt, base64url } from 'jose'
import { build, engine, KEY1 } from './helpers/app.js'

t.test('authentic but not JSON: empty session, rejected.payload counted, debug log', async (t) => {
  const { app, logs } = await build(t)
  const token = await new CompactEncrypt(new TextEncoder().encode('{"sid": not json'))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: KEY1.kid })
    .encrypt(base64url.decode(KEY1.key))
  const res = await app.inject({ url: '/read', cookies: { session: token } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().n, null)
  t.equal(engine(app).metrics.rejected.payload, 1)
  t.ok(logs.some((l) => l.reason === 'payload' && l.level === 20), 'a debug line says why')
})
