// The claims every write seals are rendered without JSON.stringify (the audience's JSON once per
// registration): the text must be exactly what JSON.stringify gives, whatever the audience holds.
import t from 'tap'
import fc from 'fast-check'
import { claimsHead, serializeClaims, type Claims } from '../lib/claims.js'
import { build, sessionCookie } from './helpers/app.js'

const base64url = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), minLength: 22, maxLength: 64 })
const kid = fc.string({ unit: fc.constantFrom(...'abcXYZ019._-'), minLength: 1, maxLength: 64 })
const time = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })

t.test('claimsHead and a closing brace are JSON.stringify of the claims, byte for byte', async (t) => {
  fc.assert(fc.property(base64url, fc.string({ unit: 'binary', minLength: 1, maxLength: 140 }), time, time, fc.option(time), fc.option(kid), fc.option(base64url),
    (sid, aud, iat, exp, idl, skid, usr) => {
      const c: Claims = { sid, aud, iat, exp }
      if (idl !== null) c.idl = idl
      if (skid !== null) c.skid = skid
      if (usr !== null) c.usr = usr
      return `${claimsHead(c, JSON.stringify(aud))}}` === serializeClaims(c)
    }), { numRuns: 2000 })
  t.pass('2000 claims, each identical')
})

t.test('a write under an audience that needs JSON escaping is read back', async (t) => {
  const { app } = await build(t, { audience: 'shop "eu"\\\n\u2028 ünïcode', idleTimeout: 600 })
  const first = await app.inject({ method: 'POST', url: '/incr' })
  t.equal(first.statusCode, 200)
  const second = await app.inject({ method: 'POST', url: '/incr', cookies: { session: sessionCookie(first)!.value } })
  t.equal(second.statusCode, 200)
  t.same(second.json(), { n: 2 }, 'the sealed claims parsed, audience and all')
})
