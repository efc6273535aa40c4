// A token that authenticates but whose claims are not of the documented shape (here: the skid
// naming the store's key, and the usr naming a user's record) is refused as "payload": an empty
// session, counted, never a 5xx and never a session with half-checked claims.
import t from 'tap'
import { build, engine, KEY1 } from './helpers/app.js'
import { joseToken } from './helpers/jose.js'

t.test('skid and usr must be a kid and a base64url id', async (t) => {
  const { app } = await build(t)
  const cases: Array<[string, Record<string, unknown>]> = [
    ['skid a number', { skid: 7 }],
    ['skid with a character no kid has', { skid: 'k1/../k2' }],
    ['usr without skid', { usr: 'AAAAAAAAAAAAAAAAAAAAAA' }],
    ['usr a number', { skid: KEY1.kid, usr: 42 }],
    ['usr not base64url', { skid: KEY1.kid, usr: 'not an id!' }]
  ]
  let refused = 0
  for (const [what, claims] of cases) {
    const res = await app.inject({ url: '/read', cookies: { session: await joseToken(KEY1, { dat: { n: 5 }, ...claims }) } })
    t.equal(res.statusCode, 200, what)
    t.equal(res.json().n, null, `${what}: an empty session`)
    t.equal(engine(app).metrics.rejected.payload, ++refused, `${what}: counted as payload`)
  }
  const good = await app.inject({ url: '/read', cookies: { session: await joseToken(KEY1, { dat: { n: 5 }, skid: KEY1.kid }) } })
  t.equal(good.json().n, 5, 'the same token with a valid skid opens')
})
