// Session keys wrapped by KMS (kmsKeys and `keygen --kms-key-id`), against a fake KMS on 127.0.0.1
// driven by the real @aws-sdk/client-kms: decryption bound to app, purpose and kid; every startup
// fault retried within bounds and then refused (never a fallback key); an outage after startup
// that keeps the keys in force; no key material or ciphertext in any log, error or metric.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { once } from 'node:events'
import { Writable } from 'node:stream'
import { execFileSync, spawn } from 'node:child_process'
import { join } from 'node:path'
import { KMSClient } from '@aws-sdk/client-kms'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { build, engine, sessionCookie, plugin, within } from './helpers/app.js'
import { fakeKms, withAwsTestCredentials, type FakeKms, type KmsFault } from './helpers/fake-kms.js'
import { kmsKeys, loadKmsCommands, type KmsKeysOptions } from '../lib/keys/kms.js'
import { main } from '../lib/cli.js'
import pluginExports from '../lib/index.js'

const APP = 'shop'
const PURPOSE = 'fastify-encrypted-session'

// Everything secret this file creates, and everything it could have leaked into: scanned at the end.
const secrets: Array<{ what: string, value: string }> = []
const seen: Array<{ where: string, text: string }> = []

function remember<K extends { kid: string, plaintext: Buffer, ciphertext: Buffer }> (dk: K): K {
  for (const [name, bytes] of [['plaintext', dk.plaintext], ['ciphertext', dk.ciphertext]] as const) {
    for (const encoding of ['base64', 'base64url', 'hex'] as const) {
      const text = bytes.toString(encoding).replace(/=+$/, '')
      secrets.push({ what: `${dk.kid} ${name} (${encoding})`, value: text })
      // A part of it is a leak too.
      secrets.push({ what: `${dk.kid} ${name} (${encoding}, a slice)`, value: text.slice(8, 28) })
    }
  }
  return dk
}

function observeError (where: string, err: unknown): void {
  const e = err as Error & { cause?: unknown }
  seen.push({ where, text: `${String(e.message)}\n${String(e.stack)}\n${JSON.stringify(e)}\n${String(e.cause)}` })
}

function kmsClient (t: { teardown: (fn: () => unknown) => void }, kms: FakeKms): KMSClient {
  const client = new KMSClient({
    region: 'us-east-1',
    endpoint: kms.url,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 1000 })
  })
  t.teardown(() => client.destroy())
  return client
}

function provider (client: KMSClient, extra: Partial<KmsKeysOptions> = {}): ReturnType<typeof kmsKeys> {
  return kmsKeys({ client, encryptionContext: { app: APP }, requestTimeout: 200, ...extra })
}

/** An app whose register is expected to fail: its logs and the error, both recorded for the scan. */
async function failingRegister (t: { teardown: (fn: () => unknown) => void }, options: Record<string, unknown>): Promise<{ app: FastifyInstance, error: Error & { code?: string }, logs: Record<string, unknown>[], ms: number }> {
  const logs: Record<string, unknown>[] = []
  const stream = new Writable({
    write (chunk, _enc, cb) {
      seen.push({ where: 'log', text: chunk.toString() })
      logs.push(JSON.parse(chunk.toString()))
      cb()
    }
  })
  const app = Fastify({ logger: { level: 'debug', stream } })
  t.teardown(() => app.close().catch(() => {}))
  app.register(plugin, { cookie: { secure: false }, ...options })
  const started = performance.now()
  const error = await app.ready().then(() => { throw new Error('register succeeded') }, (err: Error) => err)
  observeError('register', error)
  return { app, error, logs, ms: performance.now() - started }
}

/** build() from the helpers, its log lines and metrics kept for the scan. */
const observed: Array<{ rawLogs: string[], app: FastifyInstance }> = []
async function buildObserved (t: Parameters<typeof build>[0], options: Record<string, unknown>): ReturnType<typeof build> {
  const built = await build(t, options)
  observed.push(built)
  return built
}

const kidOf = (cookie: string): string => JSON.parse(Buffer.from(cookie.split('.')[0]!, 'base64url').toString()).kid

t.test('kmsKeys decrypts each wrapped key under { app, purpose, kid } and sessions work', async (t) => {
  const kms = await fakeKms(t)
  const k1 = remember(kms.dataKey('k1', APP))
  const { app } = await buildObserved(t, { keys: provider(kmsClient(t, kms), { keys: k1.entry }) })
  t.match(engine(app).keyFingerprint, /^k1#/)
  // One Decrypt, or more if a slow first try (a loaded machine) was retried: never another call.
  t.ok(kms.calls.length >= 1 && kms.calls.every((c) => c.target === 'TrentService.Decrypt'), 'only Decrypt calls')
  t.same(kms.calls[0]!.body.EncryptionContext, { app: APP, purpose: PURPOSE, kid: 'k1' })

  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  t.equal((await app.inject({ url: '/read', cookies: { session: cookie } })).json().n, 1)
  // The key in use is the data key KMS unwrapped, byte for byte.
  const plain = await buildObserved(t, { keys: [{ kid: 'k1', key: k1.plaintext }] })
  t.equal((await plain.app.inject({ url: '/read', cookies: { session: cookie } })).json().n, 1)
})

t.test('keys as an array of { kid, ciphertext }, extra encryption context and a pinned keyId', async (t) => {
  const kms = await fakeKms(t)
  const k1 = remember(kms.dataKey('k1', APP, { env: 'prod' }))
  const { app } = await buildObserved(t, {
    keys: kmsKeys({ client: kmsClient(t, kms), keys: [{ kid: 'k1', ciphertext: k1.ciphertext }], encryptionContext: { app: APP, env: 'prod' }, keyId: kms.keyArn })
  })
  t.match(engine(app).keyFingerprint, /^k1#/)
  t.same(kms.calls[0]!.body.EncryptionContext, { env: 'prod', app: APP, purpose: PURPOSE, kid: 'k1' })
  t.equal(kms.calls[0]!.body.KeyId, kms.keyArn)
})

t.test('rotation: SESSION_KEYS_KMS (the default source) gains a second wrapped key, then promotes it', async (t) => {
  const kms = await fakeKms(t)
  const k1 = remember(kms.dataKey('k1', APP))
  const k2 = remember(kms.dataKey('k2', APP))
  const saved = process.env.SESSION_KEYS_KMS
  t.teardown(() => { if (saved === undefined) delete process.env.SESSION_KEYS_KMS; else process.env.SESSION_KEYS_KMS = saved })
  process.env.SESSION_KEYS_KMS = k1.entry
  const { app } = await buildObserved(t, { keys: provider(kmsClient(t, kms)), keyRefreshInterval: 0 })
  const m = engine(app)
  const old = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  t.equal(kidOf(old), 'k1')

  process.env.SESSION_KEYS_KMS = `${k1.entry},${k2.entry}`
  t.equal(await m.refresher!.refresh(), true)
  t.match(m.keyFingerprint, /^k1,k2#/, 'step 1: k2 added, decrypt-only')
  t.equal(kidOf(sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value), 'k1')

  process.env.SESSION_KEYS_KMS = `${k2.entry},${k1.entry}`
  t.equal(await m.refresher!.refresh(), true)
  t.match(m.keyFingerprint, /^k2,k1#/, 'step 2: k2 promoted')
  const res = await app.inject({ url: '/read', cookies: { session: old } })
  t.equal(res.json().n, 1, 'a cookie sealed with k1 still opens')
  t.equal(kidOf(sessionCookie(res)!.value), 'k2', 'and is re-sealed with k2')
  t.equal(kms.calls.filter((c) => c.target === 'TrentService.Decrypt').length, 5, 'one Decrypt per key per load')
})

// Every way KMS can be unreachable or refuse at startup: bounded retries with backoff, then the
// plugin does not start. It never falls back to a generated or default key.
const startupFaults: Array<{ fault: KmsFault | 'refused', message: RegExp, calls: number }> = [
  { fault: 'refused', message: /ECONNREFUSED/, calls: 0 },
  { fault: 'reset', message: /ECONNRESET|socket hang up/, calls: 3 },
  { fault: 'hang', message: /KMS Decrypt of session key "k1" did not answer within 200 ms/, calls: 3 },
  { fault: 'internal', message: /KMSInternalException \(HTTP 500\)/, calls: 3 },
  { fault: 'throttle', message: /ThrottlingException \(HTTP 400\): Rate exceeded/, calls: 3 },
  { fault: 'denied', message: /AccessDeniedException \(HTTP 400\): User: .* is not authorized to perform: kms:Decrypt/, calls: 3 }
]
for (const { fault, message, calls } of startupFaults) {
  t.test(`startup with KMS fault "${fault}": retried with backoff, then register fails`, async (t) => {
    const kms = await fakeKms(t)
    const k1 = remember(kms.dataKey('k1', APP))
    const client = kmsClient(t, kms)
    if (fault === 'refused') await kms.stop()
    else kms.fail(fault)
    const abandoned = fault === 'hang' ? within(new Promise<void>((resolve) => kms.on('abandoned', (n) => { if (n === 3) resolve() }))) : undefined
    const { app, error, logs, ms } = await failingRegister(t, { keys: provider(client, { keys: k1.entry }), keyLoadAttempts: 3, keyLoadTimeout: 2000 })
    t.equal(error.code, 'FST_ENCSESS_KEYS_UNAVAILABLE')
    t.match(error.message, /after 3 tries/)
    t.match(error.message, message)
    t.equal(kms.calls.length, calls, 'one Decrypt per try')
    t.equal(logs.filter((l) => l.msg === 'session keys could not be loaded; retrying').length, 3)
    t.ok(ms >= 300, `backoff between tries (100 + 200 ms): took ${Math.round(ms)} ms`)
    t.ok(ms < (fault === 'hang' ? 3 * 200 : 0) + 300 + 1500, `bounded: took ${Math.round(ms)} ms`)
    t.notOk(app.hasDecorator('encryptedSession'), 'no session engine was set up')
    await t.rejects(app.inject({ url: '/' }), { code: 'FST_ENCSESS_KEYS_UNAVAILABLE' }, 'the app serves nothing')
    if (abandoned !== undefined) {
      await abandoned
      t.equal(kms.hanging.size, 0, 'each hung request was aborted, not left open')
    }
  })
}

t.test('throttled at first, then KMS answers: the plugin starts', async (t) => {
  const kms = await fakeKms(t)
  const k1 = remember(kms.dataKey('k1', APP))
  kms.fail('throttle', 2)
  const { app, logs } = await buildObserved(t, { keys: provider(kmsClient(t, kms), { keys: k1.entry }), keyLoadAttempts: 5 })
  t.equal(kms.calls.length, 3)
  const retries = logs.filter((l) => l.msg === 'session keys could not be loaded; retrying')
  t.equal(retries.length, 2)
  t.match(String(retries[0]!.err), /ThrottlingException/)
  t.equal((await app.inject({ method: 'POST', url: '/incr' })).json().n, 1)
})

t.test('a KMS outage after startup: refreshes fail, the keys in force keep serving, recovery needs no restart', async (t) => {
  const kms = await fakeKms(t)
  const k1 = remember(kms.dataKey('k1', APP))
  const { app, logs } = await buildObserved(t, { keys: provider(kmsClient(t, kms), { keys: k1.entry }), keyRefreshInterval: 1 })
  const m = engine(app)
  const before = m.keyFingerprint
  const existing = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value

  await kms.stop()
  // The periodic refresh runs into the outage.
  await within(once(m.refresher!, 'failed'))
  t.equal(m.keyFingerprint, before)
  t.equal(m.metrics.keyRefresh.failed, 1)
  const warn = logs.find((l) => l.msg === 'session key refresh failed; the keys in force are kept')!
  t.equal(warn.level, 40)
  t.match(String(warn.err), /KMS Decrypt of session key "k1" failed: .*(ECONNREFUSED|ECONNRESET)/)

  // Traffic is unaffected: existing cookies open, new sessions seal.
  const res = await app.inject({ method: 'POST', url: '/incr', cookies: { session: existing } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().n, 2, 'the existing session opened')
  const updated = sessionCookie(res)!.value
  const fresh = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  t.equal((await app.inject({ url: '/read', cookies: { session: fresh } })).json().n, 1, 'a new session sealed and opens')

  // KMS back but hanging: a refresh gives up after requestTimeout, keys still in force.
  await kms.start()
  kms.fail('hang')
  const started = performance.now()
  t.equal(await m.refresher!.refresh(), false)
  t.ok(performance.now() - started < 1000, 'bounded by requestTimeout')
  t.equal(m.keyFingerprint, before)
  t.equal((await app.inject({ url: '/read', cookies: { session: updated } })).json().n, 2)

  kms.fail(undefined)
  t.equal(await m.refresher!.refresh(), true, 'KMS recovered: the next refresh succeeds')
  t.equal(m.keyFingerprint, before)
})

t.test('a data key that is not 256 bits: coded error naming the kid, not retried', async (t) => {
  const kms = await fakeKms(t)
  const k1 = remember(kms.dataKey('k1', APP))
  kms.fail('short-key')
  const { error } = await failingRegister(t, { keys: provider(kmsClient(t, kms), { keys: k1.entry }), keyLoadAttempts: 3 })
  t.equal(error.code, 'FST_ENCSESS_INVALID_KEY')
  t.match(error.message, /Invalid session key "k1": KMS returned a 128-bit data key, not 256/)
  t.equal(kms.calls.length, 1, 'a wrong key will not become right: no retry')
})

t.test('a key wrapped for another encryption context is refused', async (t) => {
  const kms = await fakeKms(t)
  const cases: Array<{ name: string, keys: string, context?: Record<string, string>, fault?: KmsFault }> = []
  const other = remember(kms.dataKey('k1', 'other'))
  cases.push({ name: 'wrapped for app "other"', keys: other.entry })
  // A blob wrapped as k2, presented as k1: the kid is part of the context.
  const k2 = remember(kms.dataKey('k2', APP))
  cases.push({ name: 'wrapped for another kid', keys: `k1:${k2.ciphertext.toString('base64')}` })
  const prod = remember(kms.dataKey('k1', APP, { env: 'prod' }))
  cases.push({ name: 'wrapped with extra context env=prod, loaded with env=staging', keys: prod.entry, context: { app: APP, env: 'staging' } })
  cases.push({ name: 'KMS says the context does not match', keys: prod.entry, context: { app: APP, env: 'prod' }, fault: 'wrong-context' })
  const client = kmsClient(t, kms)
  for (const c of cases) {
    kms.fail(c.fault)
    const before = kms.calls.length
    const { error } = await failingRegister(t, { keys: kmsKeys({ client, keys: c.keys, encryptionContext: (c.context ?? { app: APP }) as KmsKeysOptions['encryptionContext'] }), keyLoadAttempts: 3 })
    t.equal(error.code, 'FST_ENCSESS_INVALID_KEY', c.name)
    t.match(error.message, /"k1": KMS refused to decrypt it \(InvalidCiphertextException\)/, c.name)
    t.equal(kms.calls.length - before, 1, `${c.name}: not retried`)
  }
})

t.test('a malformed SESSION_KEYS_KMS or missing variable fails at once, without calling KMS', async (t) => {
  const kms = await fakeKms(t)
  const client = kmsClient(t, kms)
  const saved = process.env.SESSION_KEYS_KMS
  t.teardown(() => { if (saved === undefined) delete process.env.SESSION_KEYS_KMS; else process.env.SESSION_KEYS_KMS = saved })
  delete process.env.SESSION_KEYS_KMS
  const cases: Array<[string | undefined, string, RegExp]> = [
    [undefined, 'FST_ENCSESS_INVALID_OPTION', /SESSION_KEYS_KMS is not set/],
    ['k1', 'FST_ENCSESS_INVALID_OPTION', /entry 1 is not of the form "kid:<base64 CiphertextBlob>"/],
    ['bad kid:AAAA', 'FST_ENCSESS_INVALID_OPTION', /entry 1 has no valid kid/],
    ['k1:not*base64', 'FST_ENCSESS_INVALID_KEY', /"k1": its KMS ciphertext is missing or not base64/],
    ['k1:AAAA', 'FST_ENCSESS_INVALID_KEY', /"k1": its KMS ciphertext is 3 bytes/],
    [`k1:${'A'.repeat(64)},k1:${'B'.repeat(64)}`, 'FST_ENCSESS_DUPLICATE_KEY', /kid "k1" appears twice/]
  ]
  for (const [keys, code, message] of cases) {
    const { error } = await failingRegister(t, { keys: provider(client, keys === undefined ? {} : { keys }) })
    t.equal(error.code, code, String(keys))
    t.match(error.message, message)
  }
  t.equal(kms.calls.length, 0)
})

t.test('kmsKeys options are checked when it is called', async (t) => {
  const client = { send: async () => ({}) }
  const bad: Array<[unknown, RegExp]> = [
    [{ encryptionContext: { app: APP } }, /"kmsKeys.client"/],
    [{ client: {}, encryptionContext: { app: APP } }, /"kmsKeys.client"/],
    [{ client }, /"kmsKeys.encryptionContext"/],
    [{ client, encryptionContext: { app: '' } }, /"kmsKeys.encryptionContext.app"/],
    [{ client, encryptionContext: { app: APP, purpose: 'x' } }, /"kmsKeys.encryptionContext.purpose": it is set by the plugin/],
    [{ client, encryptionContext: { app: APP, kid: 'x' } }, /"kmsKeys.encryptionContext.kid"/],
    [{ client, encryptionContext: { app: APP, n: 1 } }, /values must be strings/],
    [{ client, encryptionContext: { app: APP }, requestTimeout: 0 }, /"kmsKeys.requestTimeout"/],
    [{ client, encryptionContext: { app: APP }, keys: 42 }, /"kmsKeys.keys"/]
  ]
  for (const [options, message] of bad) {
    t.throws(() => kmsKeys(options as KmsKeysOptions), { code: 'FST_ENCSESS_INVALID_OPTION', message })
  }
})

t.test('the AWS SDK is optional: not loaded by the plugin, a clear error when kmsKeys needs it and it is missing', async (t) => {
  const loaded = execFileSync(process.execPath, ['--require=' + join(__dirname, 'helpers', 'register-ts.cjs'), '-e', `
    const p = require('./lib/index.ts')
    const before = Object.keys(require.cache).filter((k) => k.includes('@aws-sdk')).length
    p.kmsKeys({ client: { send: async () => ({}) }, encryptionContext: { app: 'x' }, keys: 'k1:${'A'.repeat(64)}' })
    const after = Object.keys(require.cache).filter((k) => k.includes('@aws-sdk')).length
    console.log(JSON.stringify({ before, after: after > 0, exported: typeof p.kmsKeys }))`], { cwd: join(__dirname, '..'), encoding: 'utf8' })
  t.same(JSON.parse(loaded), { before: 0, after: true, exported: 'function' })
  t.equal(pluginExports.kmsKeys, kmsKeys)

  const missing = (): never => { throw Object.assign(new Error("Cannot find module '@aws-sdk/client-kms'"), { code: 'MODULE_NOT_FOUND' }) }
  t.throws(() => loadKmsCommands(missing), { code: 'FST_ENCSESS_INVALID_OPTION', message: /needs the package "@aws-sdk\/client-kms".*npm install @aws-sdk\/client-kms/ })
  t.throws(() => loadKmsCommands(() => ({})), { code: 'FST_ENCSESS_INVALID_OPTION', message: /v3/ })
})

t.test('keygen --kms-key-id prints a SESSION_KEYS_KMS entry (never the plaintext) that kmsKeys loads', async (t) => {
  const kms = await fakeKms(t)
  withAwsTestCredentials(t)
  const run = async (...args: string[]): Promise<{ code: number, out: string[], err: string[] }> => {
    const out: string[] = []
    const err: string[] = []
    const code = await main(['keygen', ...args], (l) => out.push(l), (l) => err.push(l))
    seen.push({ where: 'cli stdout', text: out.join('\n') }, { where: 'cli stderr', text: err.join('\n') })
    return { code, out, err }
  }

  const r = await run('--kms-key-id', 'alias/sessions', '--app', APP, '--kid', 'k7', '--region', 'us-east-1', '--endpoint', kms.url)
  t.equal(r.code, 0, r.err.join('\n'))
  t.same(r.err, [])
  const entries = r.out.filter((l) => !l.startsWith('#'))
  t.equal(entries.length, 1)
  const entry = entries[0]!
  t.match(entry, /^k7:[A-Za-z0-9+/]+={0,2}$/)
  const call = kms.calls.find((c) => c.target === 'TrentService.GenerateDataKey')!
  t.same(call.body, { KeyId: 'alias/sessions', KeySpec: 'AES_256', EncryptionContext: { app: APP, purpose: PURPOSE, kid: 'k7' } })
  const plaintext = kms.generated[0]!
  remember({ kid: 'k7', plaintext, ciphertext: Buffer.from(entry.slice(3), 'base64') })
  for (const encoding of ['base64', 'base64url', 'hex'] as const) {
    t.notOk(r.out.join('\n').includes(plaintext.toString(encoding).slice(0, 20)), `the plaintext (${encoding}) is not printed`)
  }

  const { app } = await buildObserved(t, { keys: provider(kmsClient(t, kms), { keys: entry }) })
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  const plain = await buildObserved(t, { keys: [{ kid: 'k7', key: plaintext }] })
  t.equal((await plain.app.inject({ url: '/read', cookies: { session: cookie } })).json().n, 1, 'the loaded key is the generated data key')

  // Extra context on both sides; a key made for another app does not load here.
  const extra = await run('--kms-key-id', kms.keyArn, '--app', APP, '--kid', 'k8', '--context', 'env=prod', '--region', 'us-east-1', '--endpoint', kms.url)
  t.equal(extra.code, 0)
  await buildObserved(t, { keys: kmsKeys({ client: kmsClient(t, kms), keys: extra.out.at(-1)!, encryptionContext: { app: APP, env: 'prod' } }) })
  const foreign = await run('--kms-key-id', kms.keyArn, '--app', 'other', '--kid', 'k1', '--region', 'us-east-1', '--endpoint', kms.url)
  t.equal(foreign.code, 0)
  const { error } = await failingRegister(t, { keys: provider(kmsClient(t, kms), { keys: foreign.out.at(-1)! }) })
  t.equal(error.code, 'FST_ENCSESS_INVALID_KEY')

  // Usage errors (exit 2) and KMS errors (exit 1) print nothing on stdout.
  for (const args of [['--kms-key-id', 'alias/sessions'], ['--app', APP], ['--endpoint', kms.url], ['--kms-key-id', 'k', '--app', APP, '--context', 'purpose=x'], ['--kms-key-id', 'k', '--app', APP, '--endpoint', 'not a url'], ['--kms-key-id']]) {
    const bad = await run(...args)
    t.equal(bad.code, 2, args.join(' '))
    t.same(bad.out, [])
    t.match(bad.err.join('\n'), /usage: fastify-encrypted-session keygen/)
  }
  kms.fail('denied', 1)
  const denied = await run('--kms-key-id', 'alias/sessions', '--app', APP, '--region', 'us-east-1', '--endpoint', kms.url)
  t.equal(denied.code, 1)
  t.same(denied.out, [])
  t.match(denied.err.join('\n'), /KMS GenerateDataKey with key "alias\/sessions" failed: AccessDeniedException/)

  // The bin itself (async main, exit code) run as a process.
  const child = spawn(process.execPath, ['--require=' + join(__dirname, 'helpers', 'register-ts.cjs'), join(__dirname, '..', 'lib', 'cli.ts'), 'keygen', '--kms-key-id', 'alias/sessions', '--app', APP, '--kid', 'k9', '--region', 'us-east-1', '--endpoint', kms.url], { env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' } })
  let stdout = ''
  child.stdout.on('data', (d) => { stdout += d })
  const [status] = await once(child, 'close')
  t.equal(status, 0)
  t.match(stdout, /\nk9:[A-Za-z0-9+/]+={0,2}\n$/)
  seen.push({ where: 'cli stdout', text: stdout })
  remember({ kid: 'k9', plaintext: kms.generated.at(-1)!, ciphertext: Buffer.from(stdout.trim().split('\n').at(-1)!.slice(3), 'base64') })
})

t.test('no plaintext data key nor ciphertext blob in any log line, error, metric or CLI output of this file', async (t) => {
  // One more round of everything that logs, on top of what the tests above recorded.
  const kms = await fakeKms(t)
  const k1 = remember(kms.dataKey('k1', APP))
  const k2 = remember(kms.dataKey('k2', APP))
  const client = kmsClient(t, kms)
  const { app } = await buildObserved(t, { keys: provider(client, { keys: `${k1.entry},${k2.entry}` }), keyRefreshInterval: 0 })
  const m = engine(app)
  await app.inject({ method: 'POST', url: '/incr' })
  for (const fault of ['internal', 'throttle', 'denied', 'hang', 'reset', 'short-key', 'wrong-context'] as const) {
    kms.fail(fault)
    t.equal(await m.refresher!.refresh(), false, fault)
  }
  kms.fail(undefined)
  t.equal(m.metrics.keyRefresh.failed, 7)

  for (const { rawLogs, app } of observed) {
    for (const line of rawLogs) seen.push({ where: 'log', text: line })
    seen.push({ where: 'metrics', text: JSON.stringify(engine(app).metrics.snapshot()) + engine(app).keyFingerprint })
  }
  t.ok(secrets.length >= 100, `${secrets.length} secret strings to look for`)
  t.ok(seen.filter((s) => s.where === 'log').length > 30, 'log lines were recorded')
  t.ok(seen.filter((s) => s.where === 'register').length > 10, 'errors were recorded')
  t.ok(seen.filter((s) => s.where === 'metrics').length > 5, 'metrics were recorded')
  const leaks: string[] = []
  for (const { where, text } of seen) {
    for (const { what, value } of secrets) {
      // Printing the wrapped key is what keygen is for; the plaintext never.
      if (where === 'cli stdout' && what.includes('ciphertext')) continue
      if (text.includes(value)) leaks.push(`${what} in ${where}`)
    }
  }
  t.same(leaks, [], 'nothing secret anywhere')
})
