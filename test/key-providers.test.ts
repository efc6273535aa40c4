// Keys from providers: env, a watched file (Kubernetes-style secret updates included), refresh that
// swaps the whole set or keeps the old one, a rate-limited refresh on unknown kids, a bounded and
// retried first load, and the AES-GCM usage-budget warning.
import t from 'tap'
import Fastify from 'fastify'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync, symlinkSync, renameSync, mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build, engine, sessionCookie, plugin, KEY1, KEY2, generateKey, within } from './helpers/app.js'
import { envKeys, fileKeys } from '../lib/keys/providers.js'

function tempDir (t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'fes-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('envKeys reads SESSION_KEYS (or another variable) on every load', async (t) => {
  const env: Record<string, string> = { MY_KEYS: KEY1.entry }
  const { app } = await build(t, { keys: envKeys('MY_KEYS', env), keyRefreshInterval: 0 })
  const m = engine(app)
  t.match(m.keyFingerprint, /^k1#/)
  env.MY_KEYS = `${KEY2.entry},${KEY1.entry}`
  t.equal(await m.refresher!.refresh(), true)
  t.match(m.keyFingerprint, /^k2,k1#/)
  delete env.MY_KEYS
  t.equal(await m.refresher!.refresh(), false, 'a missing variable is a failed refresh')
  t.match(m.keyFingerprint, /^k2,k1#/, 'and keeps the set in force')
})

t.test('fileKeys picks up a replaced JWK Set file without a restart', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'keys.json')
  writeFileSync(file, JSON.stringify({ keys: [KEY1.jwk] }))
  const { app } = await build(t, { keys: fileKeys(file) })
  const m = engine(app)
  const old = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  const refreshed = once(m.refresher!, 'refreshed')
  writeFileSync(`${file}.tmp`, JSON.stringify({ keys: [KEY2.jwk, KEY1.jwk] }))
  renameSync(`${file}.tmp`, file)
  await within(refreshed)
  t.match(m.keyFingerprint, /^k2,k1#/)
  const res = await app.inject({ url: '/read', cookies: { session: old } })
  t.equal(res.json().n, 1, 'the old key still opens its cookies')
  t.match(sessionCookie(res)!.value, /^eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoiazIifQ\./, 'and the cookie is re-sealed with the new current key')
})

t.test('fileKeys follows a Kubernetes-style secret update (symlinked ..data directory swapped)', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'v1'))
  writeFileSync(join(dir, 'v1', 'keys'), KEY1.entry)
  symlinkSync('v1', join(dir, '..data'))
  symlinkSync(join('..data', 'keys'), join(dir, 'keys'))
  const { app } = await build(t, { keys: fileKeys(join(dir, 'keys')) })
  const m = engine(app)
  t.match(m.keyFingerprint, /^k1#/)
  const refreshed = once(m.refresher!, 'refreshed')
  mkdirSync(join(dir, 'v2'))
  writeFileSync(join(dir, 'v2', 'keys'), `${KEY2.entry},${KEY1.entry}`)
  symlinkSync('v2', join(dir, '..data_tmp'))
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  await within(refreshed)
  t.match(m.keyFingerprint, /^k2,k1#/)
})

t.test('a refresh that fails or yields an invalid set keeps the old set, logs and counts', async (t) => {
  let next: unknown = KEY1.entry
  const { app, logs } = await build(t, { keys: () => { if (next instanceof Error) throw next; return next }, keyRefreshInterval: 0 })
  const m = engine(app)
  const before = m.keyFingerprint
  for (const bad of [new Error('source down'), 'k9:tooshort', { keys: [] }]) {
    next = bad
    t.equal(await m.refresher!.refresh(), false)
    t.equal(m.keyFingerprint, before)
  }
  t.equal(m.metrics.keyRefresh.failed, 3)
  const lines = logs.filter((l) => l.msg === 'session key refresh failed; the keys in force are kept')
  t.equal(lines.length, 3)
  t.equal(lines[0]!.level, 40)
  t.notOk(JSON.stringify(logs).includes(KEY1.key), 'no key material logged')
  t.equal((await app.inject({ url: '/read' })).statusCode, 200, 'still serving')
})

t.test('refreshes are atomic and single-flight: concurrent callers share one provider call', async (t) => {
  let calls = 0
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  let set = KEY1.entry
  const { app } = await build(t, { keys: async () => { calls++; if (calls > 1) await gate; return set }, keyRefreshInterval: 0 })
  const m = engine(app)
  set = `${KEY2.entry},${KEY1.entry}`
  const a = m.refresher!.refresh()
  const b = m.refresher!.refresh()
  t.match(m.keyFingerprint, /^k1#/, 'until the load completes, the old set is whole')
  release()
  t.same(await Promise.all([a, b]), [true, true])
  t.equal(calls, 2, 'one first load, one refresh')
  t.match(m.keyFingerprint, /^k2,k1#/)
})

t.test('a cookie with an unknown kid triggers one rate-limited refresh and then opens', async (t) => {
  let set = KEY1.entry
  const { app } = await build(t, { keys: () => set, keyRefreshInterval: 0, keyRefreshOnUnknownKid: 60 })
  const m = engine(app)
  // Another instance already seals with k2.
  const other = await build(t, { keys: `${KEY2.entry},${KEY1.entry}` })
  const fromOther = sessionCookie(await other.app.inject({ method: 'POST', url: '/incr' }))!.value
  set = `${KEY1.entry},${KEY2.entry}`
  const res = await app.inject({ url: '/read', cookies: { session: fromOther } })
  t.equal(res.json().n, 1, 'the session survives: the key was fetched before opening')
  t.equal(m.metrics.keyRefresh.unknownKid, 1)
  for (let i = 0; i < 5; i++) {
    await app.inject({ url: '/read', cookies: { session: (await build(t, { keys: generateKey(`junk${i}`).entry })).app.encryptedSession.get().seal({}) } })
  }
  t.equal(m.metrics.keyRefresh.unknownKid, 1, 'junk kids within the interval cause no further refresh')
  t.equal(m.metrics.keyRefresh.ok, 1)
})

t.test('startup: a failing source is retried with backoff, then register fails with a coded error', async (t) => {
  let calls = 0
  const flaky = Fastify()
  await flaky.register(plugin, { keys: () => { if (++calls < 3) throw new Error('ECONNREFUSED'); return KEY1.entry }, keyLoadAttempts: 5 })
  t.equal(calls, 3, 'succeeded on the third try')
  await flaky.close()

  const dead = Fastify()
  let tries = 0
  dead.register(plugin, { keys: () => { tries++; throw new Error('AccessDenied') }, keyLoadAttempts: 3 })
  await t.rejects(async () => { await dead.ready() }, { code: 'FST_ENCSESS_KEYS_UNAVAILABLE', message: /after 3 tries.*AccessDenied/ })
  t.equal(tries, 3)

  const hung = Fastify()
  const started = performance.now()
  hung.register(plugin, { keys: () => new Promise(() => {}), keyLoadAttempts: 2, keyLoadTimeout: 100 })
  await t.rejects(async () => { await hung.ready() }, { code: 'FST_ENCSESS_KEYS_UNAVAILABLE', message: /did not answer within 100 ms/ })
  t.ok(performance.now() - started < 2000, 'a hanging source is bounded by timeout × attempts plus backoff')

  const invalid = Fastify()
  invalid.register(plugin, { keys: () => 'k1:short' })
  await t.rejects(async () => { await invalid.ready() }, { code: 'FST_ENCSESS_INVALID_KEY' }, 'an invalid set is not retried')
})

t.test('usage budget: one warning when a key reaches its share', async (t) => {
  const { app, logs } = await build(t, { usageBudget: { limit: 10, warnAt: 0.5 } })
  for (let i = 0; i < 8; i++) await app.inject({ method: 'POST', url: '/incr' })
  const warnings = logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('session key has used its warning share'))
  t.equal(warnings.length, 1)
  t.equal(warnings[0]!.kid, 'k1')
  t.equal(warnings[0]!.sealed, 5)
  t.equal(engine(app).metrics.sealed.k1, 8)
})

t.test('keyRefreshOnUnknownKid: false never refreshes for unknown kids', async (t) => {
  let loads = 0
  const { app } = await build(t, { keys: () => { loads++; return KEY1.entry }, keyRefreshInterval: 0, keyRefreshOnUnknownKid: false })
  const stranger = (await build(t, { keys: generateKey('stranger').entry })).app.encryptedSession.get().seal({})
  await app.inject({ url: '/read', cookies: { session: stranger } })
  t.equal(loads, 1, 'only the first load')
  t.equal(engine(app).metrics.keyRefresh.unknownKid, 0)
})
