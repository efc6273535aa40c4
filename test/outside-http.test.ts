// Sealing and opening tokens without a request, e.g. on a WebSocket upgrade.
import t from 'tap'
import { build, engine, KEY2, nowSeconds } from './helpers/app.js'

t.test('seal() makes a token that a request and open() both accept', async (t) => {
  const { app } = await build(t)
  const manager = app.encryptedSession.get()
  const token = manager.seal({ n: 9, user: 'ada' })
  t.equal((await app.inject({ url: '/read', cookies: { session: token } })).json().n, 9)
  const session = manager.open(token)!
  t.equal(session.get('user'), 'ada')
  t.match(session.id, /^[A-Za-z0-9_-]{22}$/)
  t.ok(session.expiresAt > nowSeconds())
})

t.test('open() returns null for anything refused', async (t) => {
  const { app } = await build(t)
  const manager = app.encryptedSession.get()
  t.equal(manager.open('garbage'), null)
  t.equal(manager.open(manager.seal({}).slice(0, -2)), null)
  t.throws(() => manager.seal('x' as never), TypeError)
})

t.test('replaceKeys() swaps the set in one step and exposes a new fingerprint', async (t) => {
  const { app } = await build(t)
  const manager = app.encryptedSession.get()
  const before = manager.keyFingerprint
  const token = manager.seal({ n: 1 })
  manager.replaceKeys(KEY2.entry)
  t.not(manager.keyFingerprint, before)
  t.match(manager.keyFingerprint, /^k2#[A-Za-z0-9_-]{16}$/)
  t.equal(manager.open(token), null, 'a token of the removed key no longer opens, cache included')
  t.throws(() => manager.replaceKeys('broken'), { code: 'FST_ENCSESS_INVALID_KEY_SET' })
  t.match(manager.keyFingerprint, /^k2#/, 'a failed replacement keeps the set in force')
})

t.test('openClaims() gives a sealed token\'s claims, and the reason it refuses anything else', async (t) => {
  const { app } = await build(t)
  const manager = engine(app)
  const token = manager.seal({ n: 3 })
  const opened = manager.openClaims(token)
  t.not(typeof opened, 'string')
  t.match(opened, { claims: { dat: { n: 3 } }, shared: false })
  t.equal(manager.open(token)?.get('n'), 3)
  t.equal(manager.openClaims('garbage'), 'malformed')
})
