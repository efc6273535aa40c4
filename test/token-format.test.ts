// The cookie value is a standard compact JWE: other JOSE implementations open ours and we open theirs.
import t from 'tap'
import { compactDecrypt, base64url } from 'jose'
import { build, engine, sessionCookie, KEY1, nowSeconds } from './helpers/app.js'
import { joseToken } from './helpers/jose.js'

t.test('our token is compact JWE dir/A256GCM with a kid, 96-bit IV and 128-bit tag', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ method: 'POST', url: '/put', payload: { user: 'ada' } })
  const token = sessionCookie(res)!.value
  const parts = token.split('.')
  t.equal(parts.length, 5)
  t.same(JSON.parse(Buffer.from(parts[0]!, 'base64url').toString()), { alg: 'dir', enc: 'A256GCM', kid: 'k1' })
  t.equal(parts[1], '', 'no encrypted key with alg "dir"')
  t.equal(Buffer.from(parts[2]!, 'base64url').length, 12)
  t.equal(Buffer.from(parts[4]!, 'base64url').length, 16)
})

t.test('jose compactDecrypt opens our token; the claims are the documented ones', async (t) => {
  const { app } = await build(t, { idleTimeout: 600 })
  // One fixed second: the session begins and is sealed at the same now, however slow the machine
  // (with the real clock a second could tick between the two and move idl one past iat + 600).
  const before = nowSeconds()
  engine(app).lifetime.now = () => before
  const res = await app.inject({ method: 'POST', url: '/put', payload: { user: 'ada', roles: ['admin'] } })
  const { plaintext, protectedHeader } = await compactDecrypt(sessionCookie(res)!.value, base64url.decode(KEY1.key), {
    keyManagementAlgorithms: ['dir'],
    contentEncryptionAlgorithms: ['A256GCM']
  })
  t.same(protectedHeader, { alg: 'dir', enc: 'A256GCM', kid: 'k1' })
  const claims = JSON.parse(new TextDecoder().decode(plaintext))
  t.same(Object.keys(claims).sort(), ['aud', 'dat', 'exp', 'iat', 'idl', 'sid'])
  t.match(claims.sid, /^[A-Za-z0-9_-]{22}$/)
  t.equal(Buffer.from(claims.sid, 'base64url').length, 16, 'session id carries 128 random bits')
  t.equal(claims.aud, 'fastify-encrypted-session#session')
  t.equal(claims.iat, before)
  t.equal(claims.exp, claims.iat + 86400)
  t.equal(claims.idl, claims.iat + 600)
  t.same(claims.dat, { user: 'ada', roles: ['admin'] })
})

t.test('a token jose seals with the same claims opens in the plugin', async (t) => {
  const { app } = await build(t)
  const token = await joseToken(KEY1, { dat: { n: 41 } })
  const read = await app.inject({ url: '/read', cookies: { session: token } })
  t.same(read.json(), { n: 41, id: 'AAAAAAAAAAAAAAAAAAAAAA' })
  t.equal(read.headers['set-cookie'], undefined, 'nothing changed, nothing re-sent')
  const incr = await app.inject({ method: 'POST', url: '/incr', cookies: { session: token } })
  t.same(incr.json(), { n: 42 })
})

t.test('a jose token whose header members come in another order still opens', async (t) => {
  const { app } = await build(t)
  const { CompactEncrypt } = await import('jose')
  const now = nowSeconds()
  const claims = { sid: 'BBBBBBBBBBBBBBBBBBBBBB', aud: 'fastify-encrypted-session#session', iat: now, exp: now + 60, dat: { n: 7 } }
  const token = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ kid: 'k1', enc: 'A256GCM', alg: 'dir' })
    .encrypt(base64url.decode(KEY1.key))
  const read = await app.inject({ url: '/read', cookies: { session: token } })
  t.same(read.json(), { n: 7, id: 'BBBBBBBBBBBBBBBBBBBBBB' })
})
