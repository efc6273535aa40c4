// Expiry lives in the claims: absolute (exp) and idle (idl) deadlines are enforced whatever the
// browser does with Max-Age, and rolling idle expiry re-seals only when it is worth it.
import t from 'tap'
import { compactDecrypt, base64url } from 'jose'
import { build, sessionCookie, KEY1, nowSeconds, maxAgeNear } from './helpers/app.js'
import { joseToken } from './helpers/jose.js'

async function claimsOf (token: string): Promise<Record<string, number>> {
  const { plaintext } = await compactDecrypt(token, base64url.decode(KEY1.key))
  return JSON.parse(new TextDecoder().decode(plaintext))
}

t.test('absolute expiry is enforced from the claims', async (t) => {
  const { app } = await build(t, { maxAge: 3600 })
  const now = nowSeconds()
  const live = await joseToken(KEY1, { iat: now - 3590, exp: now + 10, dat: { n: 1 } })
  const dead = await joseToken(KEY1, { iat: now - 3600, exp: now, dat: { n: 1 } })
  t.equal((await app.inject({ url: '/read', cookies: { session: live } })).json().n, 1)
  t.equal((await app.inject({ url: '/read', cookies: { session: dead } })).json().n, null)
  t.equal(app.encryptedSession.get().metrics.rejected.expired, 1)
})

t.test('idle expiry is enforced from the claims', async (t) => {
  const { app } = await build(t, { idleTimeout: 600 })
  const now = nowSeconds()
  const idle = await joseToken(KEY1, { exp: now + 3600, idl: now - 1, dat: { n: 1 } })
  t.equal((await app.inject({ url: '/read', cookies: { session: idle } })).json().n, null)
  t.equal(app.encryptedSession.get().metrics.rejected.idle, 1)
})

t.test('new cookies: Max-Age is the remaining lifetime (idle deadline when nearer)', async (t) => {
  const plain = await build(t, { maxAge: 7200 })
  t.ok(maxAgeNear(sessionCookie(await plain.app.inject({ method: 'POST', url: '/incr' }))!.attrs, 7200))
  const idle = await build(t, { maxAge: 7200, idleTimeout: 900 })
  const res = await idle.app.inject({ method: 'POST', url: '/incr' })
  t.ok(maxAgeNear(sessionCookie(res)!.attrs, 900))
  const claims = await claimsOf(sessionCookie(res)!.value)
  t.equal(claims.exp! - claims.iat!, 7200)
  t.equal(claims.idl! - claims.iat!, 900)
})

t.test('rolling: no re-seal while less than half the idle window has passed', async (t) => {
  const { app } = await build(t, { idleTimeout: 600 })
  const now = nowSeconds()
  const fresh = await joseToken(KEY1, { exp: now + 3600, idl: now + 500, dat: { n: 1 } })
  const res = await app.inject({ url: '/read', cookies: { session: fresh } })
  t.equal(res.json().n, 1)
  t.equal(res.headers['set-cookie'], undefined)
})

t.test('rolling: re-seal once half the idle window has passed, deadline pushed forward', async (t) => {
  const { app } = await build(t, { idleTimeout: 600 })
  const now = nowSeconds()
  const token = await joseToken(KEY1, { iat: now - 1000, exp: now + 3600, idl: now + 200, dat: { n: 1 } })
  const res = await app.inject({ url: '/read', cookies: { session: token } })
  const cookie = sessionCookie(res)
  t.ok(cookie, 'cookie re-sent')
  const claims = await claimsOf(cookie!.value)
  t.ok(claims.idl! >= now + 600 && claims.idl! <= nowSeconds() + 600, 'idle deadline = now + idleTimeout')
  t.equal(claims.exp, now + 3600, 'absolute expiry unchanged')
  t.equal(claims.iat, now - 1000, 'issued-at unchanged')
  t.ok(maxAgeNear(cookie!.attrs, claims.idl! - nowSeconds()) || maxAgeNear(cookie!.attrs, claims.idl! - nowSeconds() + 1), 'Max-Age runs to the new idle deadline')
})

t.test('rolling never pushes the idle deadline past the absolute expiry', async (t) => {
  const { app } = await build(t, { idleTimeout: 600 })
  const now = nowSeconds()
  const token = await joseToken(KEY1, { exp: now + 400, idl: now + 50, dat: { n: 1 } })
  const cookie = sessionCookie(await app.inject({ url: '/read', cookies: { session: token } }))
  t.ok(cookie)
  const claims = await claimsOf(cookie!.value)
  t.equal(claims.idl, now + 400)
  t.equal(claims.exp, now + 400)
  // Capped at expiry, a later request has nothing to gain from re-sealing.
  const again = await app.inject({ url: '/read', cookies: { session: cookie!.value } })
  t.equal(again.headers['set-cookie'], undefined)
})

t.test('rolling: false leaves the idle deadline alone on reads', async (t) => {
  const { app } = await build(t, { idleTimeout: 600, rolling: false })
  const now = nowSeconds()
  const token = await joseToken(KEY1, { exp: now + 3600, idl: now + 10, dat: { n: 1 } })
  const res = await app.inject({ url: '/read', cookies: { session: token } })
  t.equal(res.json().n, 1)
  t.equal(res.headers['set-cookie'], undefined)
})

t.test('touch() re-seals and pushes the idle deadline', async (t) => {
  const { app } = await build(t, { idleTimeout: 600 }, (app) => {
    app.get('/touch', async (req) => { req.session.touch(); return 'ok' })
  })
  const now = nowSeconds()
  const token = await joseToken(KEY1, { exp: now + 3600, idl: now + 590, dat: { n: 1 } })
  const cookie = sessionCookie(await app.inject({ url: '/touch', cookies: { session: token } }))
  t.ok(cookie)
  t.ok((await claimsOf(cookie!.value)).idl! >= now + 600)
})
