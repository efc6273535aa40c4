// keyManagement: 'A256KW': a fresh content key per token, wrapped with the ring's key. Standard JWE
// (jose opens ours, we open jose's), accepted next to dir tokens, and 54 bytes longer.
import t from 'tap'
import { CompactEncrypt, base64url, compactDecrypt } from 'jose'
import { build, sessionCookie, engine, KEY1 } from './helpers/app.js'
import { joseToken } from './helpers/jose.js'

t.test('A256KW tokens: header, wrapped key, and jose opens them', async (t) => {
  const { app } = await build(t, { keyManagement: 'A256KW' })
  const res = await app.inject({ method: 'POST', url: '/put', payload: { user: 'ada' } })
  const token = sessionCookie(res)!.value
  const [h, ek] = token.split('.')
  t.same(JSON.parse(Buffer.from(h!, 'base64url').toString()), { alg: 'A256KW', enc: 'A256GCM', kid: 'k1' })
  t.equal(Buffer.from(ek!, 'base64url').length, 40, 'a wrapped 256-bit content key')
  const { plaintext } = await compactDecrypt(token, base64url.decode(KEY1.key), { keyManagementAlgorithms: ['A256KW'] })
  t.same(JSON.parse(new TextDecoder().decode(plaintext)).dat, { user: 'ada' })
  t.equal((await app.inject({ url: '/read', cookies: { session: token } })).json().n, null)
  const again = await app.inject({ method: 'POST', url: '/incr', cookies: { session: token } })
  t.same(again.json(), { n: 1 })
})

t.test('with A256KW on, jose A256KW tokens and existing dir tokens both open', async (t) => {
  const { app } = await build(t, { keyManagement: 'A256KW' })
  const now = Math.floor(Date.now() / 1000)
  const claims = { sid: 'CCCCCCCCCCCCCCCCCCCCCC', aud: 'fastify-encrypted-session#session', iat: now, exp: now + 60, dat: { n: 3 } }
  const kw = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: 'A256KW', enc: 'A256GCM', kid: 'k1' })
    .encrypt(base64url.decode(KEY1.key))
  t.equal((await app.inject({ url: '/read', cookies: { session: kw } })).json().n, 3)
  t.equal((await app.inject({ url: '/read', cookies: { session: await joseToken(KEY1, { dat: { n: 4 } }) } })).json().n, 4)
})

t.test('with dir (the default), A256KW tokens are refused; mismatches and tampering are refused', async (t) => {
  const wrapApp = await build(t, { keyManagement: 'A256KW' })
  const kwToken = sessionCookie(await wrapApp.app.inject({ method: 'POST', url: '/incr' }))!.value
  const dirApp = await build(t)
  t.equal(engine(dirApp.app).codec.open(kwToken, 4096), 'malformed')
  const codec = engine(wrapApp.app).codec
  const [h, ek, iv, ct, tag] = kwToken.split('.') as [string, string, string, string, string]
  const flipped = Buffer.from(ek, 'base64url')
  flipped[5]! ^= 1
  t.equal(codec.open(`${h}.${flipped.toString('base64url')}.${iv}.${ct}.${tag}`, 4096), 'decrypt', 'tampered wrapped key')
  const dirHeader = Buffer.from('{"kid":"k1","alg":"dir","enc":"A256GCM"}').toString('base64url')
  t.equal(codec.open(`${dirHeader}.${ek}.${iv}.${ct}.${tag}`, 4096), 'header', 'dir header with a wrapped key')
  const kwHeader = Buffer.from('{"kid":"k1","alg":"A256KW","enc":"A256GCM"}').toString('base64url')
  t.equal(codec.open(`${kwHeader}..${iv}.${ct}.${tag}`, 4096), 'header', 'A256KW header without a wrapped key')
})

t.test('size cost: 54 more bytes per cookie (the header also grows by the alg name)', async (t) => {
  const dir = await build(t)
  const kw = await build(t, { keyManagement: 'A256KW' })
  const a = sessionCookie(await dir.app.inject({ method: 'POST', url: '/put', payload: { x: 'y' } }))!.value.length
  const b = sessionCookie(await kw.app.inject({ method: 'POST', url: '/put', payload: { x: 'y' } }))!.value.length
  t.equal(b - a, 54 + 4, `A256KW token ${b} vs dir ${a} characters`)
})
