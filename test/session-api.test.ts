// request.session behaves like @fastify/secure-session's: get, set, data, delete, regenerate,
// touch, options, changed, deleted; plus a stable id. Data cannot pollute prototypes.
import t from 'tap'
import { compactDecrypt, base64url } from 'jose'
import { build, sessionCookie, KEY1 } from './helpers/app.js'
import { joseToken } from './helpers/jose.js'

async function claimsOf (token: string): Promise<Record<string, any>> {
  const { plaintext } = await compactDecrypt(token, base64url.decode(KEY1.key))
  return JSON.parse(new TextDecoder().decode(plaintext))
}

t.test('get/set/data and changed across requests; the id is stable', async (t) => {
  const { app } = await build(t, {}, (app) => {
    app.post('/login', async (req) => {
      t.equal(req.session.changed, false)
      req.session.set('user', { name: 'ada' })
      t.equal(req.session.changed, true)
      return { id: req.session.id, data: req.session.data() }
    })
    app.get('/me', async (req) => ({ id: req.session.id, user: req.session.get('user'), changed: req.session.changed }))
  })
  const login = await app.inject({ method: 'POST', url: '/login' })
  t.same(login.json().data, { user: { name: 'ada' } })
  const token = sessionCookie(login)!.value
  const me = await app.inject({ url: '/me', cookies: { session: token } })
  t.same(me.json(), { id: login.json().id, user: { name: 'ada' }, changed: false })
})

t.test('set(key, undefined) removes the key', async (t) => {
  const { app } = await build(t, {}, (app) => {
    app.post('/', async (req) => { req.session.set('a', 1); req.session.set('a', undefined); return req.session.data() })
  })
  t.same((await app.inject({ method: 'POST', url: '/' })).json(), {})
})

t.test('delete() ends the session: cookie cleared, deleted flag set', async (t) => {
  const { app } = await build(t)
  const token = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  const res = await app.inject({ method: 'POST', url: '/logout', cookies: { session: token } })
  const cookie = sessionCookie(res)!
  t.equal(cookie.value, '')
  t.equal(cookie.attrs['Max-Age'], '0')
  t.ok(cookie.attrs.Expires)
  t.equal(cookie.attrs.Path, '/')
})

t.test('a set() after delete() starts a fresh session with a new id (e.g. a flash message at logout)', async (t) => {
  const { app } = await build(t, {}, (app) => {
    app.post('/logout', async (req) => {
      const before = req.session.id
      req.session.delete()
      t.equal(req.session.deleted, true)
      req.session.set('flash', 'bye')
      t.equal(req.session.deleted, false)
      t.not(req.session.id, before)
      return 'ok'
    })
  })
  const token = await joseToken(KEY1, { dat: { user: 'ada' } })
  const res = await app.inject({ method: 'POST', url: '/logout', cookies: { session: token } })
  const claims = await claimsOf(sessionCookie(res)!.value)
  t.same(claims.dat, { flash: 'bye' })
  t.not(claims.sid, 'AAAAAAAAAAAAAAAAAAAAAA')
})

t.test('regenerate(keep) gives a new id and keeps only the listed keys', async (t) => {
  const { app } = await build(t, {}, (app) => {
    app.post('/login', async (req) => {
      const before = req.session.id
      req.session.regenerate(['returnTo'])
      t.not(req.session.id, before)
      req.session.set('user', 'ada')
      return req.session.data()
    })
  })
  const token = await joseToken(KEY1, { dat: { returnTo: '/cart', attacker: 'planted' } })
  const res = await app.inject({ method: 'POST', url: '/login', cookies: { session: token } })
  t.same(res.json(), { returnTo: '/cart', user: 'ada' })
  const claims = await claimsOf(sessionCookie(res)!.value)
  t.not(claims.sid, 'AAAAAAAAAAAAAAAAAAAAAA')
  t.same(claims.dat, { returnTo: '/cart', user: 'ada' })
})

t.test('options() sets per-response cookie attributes', async (t) => {
  const { app } = await build(t, {}, (app) => {
    app.post('/', async (req) => { req.session.set('a', 1); req.session.options({ path: '/app', sameSite: 'strict' }); return 'ok' })
  })
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/' }))!
  t.equal(cookie.attrs.Path, '/app')
  t.equal(cookie.attrs.SameSite, 'Strict')
})

t.test('data keys cannot shadow the API or the claims', async (t) => {
  const { app } = await build(t, {}, (app) => {
    app.post('/', async (req) => {
      req.session.set('get' as never, 'x' as never)
      req.session.set('sid' as never, 'forged' as never)
      req.session.set('exp' as never, 9999999999 as never)
      t.equal(typeof req.session.get, 'function')
      return { id: req.session.id }
    })
  })
  const res = await app.inject({ method: 'POST', url: '/' })
  const claims = await claimsOf(sessionCookie(res)!.value)
  t.equal(claims.sid, res.json().id, 'the real id, not the data key')
  t.not(claims.exp, 9999999999)
  t.same(claims.dat, { get: 'x', sid: 'forged', exp: 9999999999 })
})

t.test('__proto__ and constructor keys in stored data are harmless', async (t) => {
  const { app } = await build(t, {}, (app) => {
    app.post('/', async (req) => {
      const proto = req.session.get('__proto__' as never) as unknown
      const ctor = req.session.get('constructor' as never) as unknown
      req.session.set('__proto__' as never, { polluted: true } as never)
      return {
        proto,
        ctorIsFunction: typeof ctor === 'function',
        missingCtor: req.session.get('toString' as never) === undefined,
        polluted: ({} as Record<string, unknown>).polluted === true,
        dataPolluted: (req.session.data() as Record<string, unknown>).polluted === true
      }
    })
  })
  const token = await joseToken(KEY1, { dat: JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}') })
  const res = await app.inject({ method: 'POST', url: '/', cookies: { session: token } })
  t.same(res.json(), { proto: { polluted: true }, ctorIsFunction: false, missingCtor: true, polluted: false, dataPolluted: false })
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched')
})
