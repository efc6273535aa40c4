// Rotation: a cookie sealed with a decrypt-only key is accepted and re-sealed with the current key in
// the same response, keeping its id and absolute expiry; removing a key ends its cookies.
import t from 'tap'
import { compactDecrypt, base64url, decodeProtectedHeader } from 'jose'
import { build, sessionCookie, KEY1, KEY2, nowSeconds } from './helpers/app.js'

async function claimsOf (token: string, key: string): Promise<Record<string, unknown>> {
  const { plaintext } = await compactDecrypt(token, base64url.decode(key))
  return JSON.parse(new TextDecoder().decode(plaintext))
}

t.test('old-key cookie is accepted and re-issued under the current key', async (t) => {
  const old = await build(t, { keys: KEY1.entry })
  const first = await old.app.inject({ method: 'POST', url: '/put', payload: { user: 'ada' } })
  const oldToken = sessionCookie(first)!.value
  const oldClaims = await claimsOf(oldToken, KEY1.key)

  const rotated = await build(t, { keys: `${KEY2.entry},${KEY1.entry}` })
  const res = await rotated.app.inject({ url: '/read', cookies: { session: oldToken } })
  t.equal(res.statusCode, 200)
  const cookie = sessionCookie(res)
  t.ok(cookie, 'a read-only request still re-issues the cookie')
  t.equal(decodeProtectedHeader(cookie!.value).kid, 'k2')
  const newClaims = await claimsOf(cookie!.value, KEY2.key)
  t.equal(newClaims.sid, oldClaims.sid, 'same session id')
  t.equal(newClaims.exp, oldClaims.exp, 'same absolute expiry: rotation never extends a lifetime')
  t.equal(newClaims.iat, oldClaims.iat)
  t.same(newClaims.dat, { user: 'ada' })
  t.equal(rotated.app.encryptedSession.get().metrics.rotated, 1)
  t.equal(rotated.app.encryptedSession.get().metrics.decrypted.k1, 1, 'per-kid decrypt count shows the old key in use')

  const again = await rotated.app.inject({ url: '/read', cookies: { session: cookie!.value } })
  t.equal(again.headers['set-cookie'], undefined, 'once rotated, nothing more to re-send')
})

t.test('removing a key from the set makes its cookies invalid', async (t) => {
  const old = await build(t, { keys: KEY1.entry })
  const token = sessionCookie(await old.app.inject({ method: 'POST', url: '/incr' }))!.value
  const without = await build(t, { keys: KEY2.entry })
  const res = await without.app.inject({ url: '/read', cookies: { session: token } })
  t.equal(res.json().n, null)
  t.equal(without.app.encryptedSession.get().metrics.rejected.unknown_kid, 1)
})

t.test('Max-Age of the re-issued cookie is the remaining lifetime, not a new one', async (t) => {
  const old = await build(t, { keys: KEY1.entry, maxAge: 1000 })
  const token = sessionCookie(await old.app.inject({ method: 'POST', url: '/incr' }))!.value
  const { exp } = await claimsOf(token, KEY1.key) as { exp: number }
  const rotated = await build(t, { keys: `${KEY2.entry},${KEY1.entry}`, maxAge: 5000 })
  const cookie = sessionCookie(await rotated.app.inject({ url: '/read', cookies: { session: token } }))!
  const maxAge = Number(cookie.attrs['Max-Age'])
  t.ok(maxAge <= exp - nowSeconds() && maxAge >= exp - nowSeconds() - 1, `Max-Age ${maxAge} matches the remaining lifetime`)
})
