// Every kind of bad cookie: the request goes on with an empty session, the response does not say
// why (no oracle), a debug line and a counter do, and nothing ever becomes a 5xx.
import t from 'tap'
import { build, engine, KEY1, nowSeconds, generateKey } from './helpers/app.js'
import { joseToken } from './helpers/jose.js'

t.test('bad cookies give an empty session, the same response, a debug line and a count', async (t) => {
  const { app, logs, rawLogs } = await build(t)
  const good = await joseToken(KEY1, { dat: { n: 5 } })
  const [h, , iv, ct, tag] = good.split('.') as [string, string, string, string, string]
  const flipAt = (i: number): string => {
    const c = good[i] === 'A' ? 'B' : 'A'
    return good.slice(0, i) + c + good.slice(i + 1)
  }
  const now = nowSeconds()
  const cases: [string, string, string][] = [
    ['tampered byte in the header', flipAt(5), 'header'],
    ['tampered byte in the IV', flipAt(h.length + 4), 'decrypt'],
    ['tampered byte in the ciphertext', flipAt(h.length + 2 + iv.length + 3), 'decrypt'],
    ['tampered byte in the tag', flipAt(good.length - 5), 'decrypt'],
    ['truncated token', good.slice(0, good.length - 10), 'malformed'],
    ['4 segments', `${h}..${iv}.${ct}`, 'malformed'],
    ['6 segments', `${good}.x`, 'malformed'],
    ['non-base64url characters', good.replace(ct, `${ct.slice(0, 4)}*${ct.slice(5)}`), 'malformed'],
    ['non-JSON header', `${Buffer.from('nope').toString('base64url')}..${iv}.${ct}.${tag}`, 'header'],
    ['payload that is not an object', await joseToken(KEY1, {}).then(() => sealRaw('[1,2,3]')), 'payload'],
    ['expired token', await joseToken(KEY1, { iat: now - 100, exp: now - 1 }), 'expired'],
    ['unknown kid', await joseToken(generateKey('gone'), {}), 'unknown_kid'],
    ['token for another cookie name', await joseToken(KEY1, { aud: 'fastify-encrypted-session#other' }), 'context'],
    ['garbage', 'hello world', 'malformed'],
    ['10 KB cookie', 'A'.repeat(10 * 1024), 'oversized']
  ]
  const responses = new Set<string>()
  for (const [name, cookie, reason] of cases) {
    const before = app.encryptedSession.get().metrics.rejected[reason as 'malformed']
    const res = await app.inject({ url: '/read', headers: { cookie: `session=${cookie}` } })
    t.equal(res.statusCode, 200, `${name}: not an error`)
    t.equal(res.json().n, null, `${name}: empty session`)
    t.equal(res.headers['set-cookie'], undefined, `${name}: nothing set`)
    responses.add(JSON.stringify({ status: res.statusCode, n: res.json().n, headers: Object.keys(res.headers).sort() }))
    t.equal(app.encryptedSession.get().metrics.rejected[reason as 'malformed'], before + 1, `${name}: counted as ${reason}`)
    const line = logs.findLast((l) => l.msg === 'session cookie refused; continuing with an empty session')
    t.equal(line?.level, 20, `${name}: logged at debug`)
    t.equal(line?.reason, reason, `${name}: the log names the reason`)
  }
  t.equal(responses.size, 1, 'every refusal looks the same to the client')
  t.notOk(rawLogs.some((l) => l.includes(good.slice(0, 40)) || l.includes(KEY1.key)), 'no cookie value or key in any log line')

  const empty = await app.inject({ url: '/read', headers: { cookie: 'session=' } })
  t.equal(empty.statusCode, 200)
  t.equal(empty.json().n, null, 'an empty cookie is no session')

  function sealRaw (plaintext: string): string {
    return engine(app).codec.seal(plaintext)
  }
})

t.test('a handler may keep using an empty session after a refusal and write a fresh one', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ method: 'POST', url: '/incr', headers: { cookie: 'session=garbage' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { n: 1 })
  t.ok(res.headers['set-cookie'])
})

t.test('claims that authenticate but are malformed are refused as payload', async (t) => {
  const { app } = await build(t)
  const now = nowSeconds()
  const bad = [
    { sid: 'short' },
    { sid: 123 },
    { exp: 'tomorrow' },
    { iat: -1 },
    { dat: [1, 2] },
    { dat: 'text' },
    { dat: undefined },
    { dat: { a: 1 }, ref: 2 },
    { dat: undefined, ref: 0 },
    { idl: 1.5 }
  ]
  for (const claims of bad) {
    const token = await joseToken(KEY1, { exp: now + 60, ...claims })
    const before = app.encryptedSession.get().metrics.rejected.payload
    const res = await app.inject({ url: '/read', cookies: { session: token } })
    t.equal(res.statusCode, 200)
    t.equal(res.json().n, null)
    t.equal(app.encryptedSession.get().metrics.rejected.payload, before + 1, JSON.stringify(claims))
  }
})
