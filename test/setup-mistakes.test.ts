// The mistakes of a first setup each end in one coded error that says how to fix it, never in a
// dependency's stack trace: keys not set, a key file that does not exist, Redis not ready yet, a
// wrong option type. (@fastify/cookie registered after the plugin: test/cookie-order.test.ts.)
import t from 'tap'
import Fastify from 'fastify'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { plugin, KEY1, build, sessionCookie } from './helpers/app.js'
import { fileKeys } from '../lib/keys/providers.js'
import { RedisStore } from '../lib/stores/redis.js'
import { freePort, startRedisOnPort } from './helpers/redis.js'

function scratchDir (t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'fes-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function registerError (options: Record<string, unknown>): Promise<{ code?: string, message: string, stack?: string }> {
  const app = Fastify()
  try {
    await app.register(plugin, options as never)
  } catch (err) {
    return err as { code?: string, message: string }
  } finally {
    await app.close()
  }
  throw new Error('register succeeded')
}

t.test('keys: process.env.SESSION_KEYS with the variable unset fails register with FST_ENCSESS_NO_KEYS', async (t) => {
  const env: Record<string, string | undefined> = {}
  const err = await registerError({ keys: env.SESSION_KEYS })
  t.equal(err.code, 'FST_ENCSESS_NO_KEYS')
  t.match(err.message, /npx fastify-encrypted-session keygen/)
})

t.test('fileKeys on a path that does not exist fails register with FST_ENCSESS_KEYS_UNAVAILABLE naming the file', async (t) => {
  const path = join(scratchDir(t), 'session-keys.json')
  const err = await registerError({ keys: fileKeys(path), keyLoadAttempts: 1 })
  t.equal(err.code, 'FST_ENCSESS_KEYS_UNAVAILABLE')
  t.match(err.message, `the key file ${path} does not exist; fix the path, or write a key`)
  t.notMatch(err.message, /ENOENT/)
})

t.test('fileKeys on a path that cannot be read as a file keeps the system\'s reason', async (t) => {
  const dir = scratchDir(t)
  const err = await registerError({ keys: fileKeys(dir), keyLoadAttempts: 1 })
  t.equal(err.code, 'FST_ENCSESS_KEYS_UNAVAILABLE')
  t.match(err.message, /EISDIR/)
})

t.test('wrong option types fail register with a coded error naming the option', async (t) => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ keys: 42 }, 'FST_ENCSESS_INVALID_KEY_SET', /keygen` prints a valid entry/],
    [{ keys: KEY1.entry, maxAge: '1d' }, 'FST_ENCSESS_INVALID_OPTION', /"maxAge": it must be a whole number/],
    [{ keys: KEY1.entry, cookie: 'secure' }, 'FST_ENCSESS_INVALID_OPTION', /"cookie": it must be an object/],
    [{ keys: KEY1.entry, store: new Redis({ lazyConnect: true }) }, 'FST_ENCSESS_INVALID_OPTION', /new RedisStore\(\{ client \}\)/]
  ]
  for (const [options, code, message] of cases) {
    const err = await registerError(options)
    t.equal(err.code, code, Object.keys(options).join(','))
    t.match(err.message, message)
  }
  t.throws(() => new RedisStore({ client: 'redis://127.0.0.1:6379' } as never), {
    code: 'FST_ENCSESS_INVALID_OPTION',
    message: /needs an ioredis Redis or Cluster instance, e\.g\. \{ client: new Redis\(process\.env\.REDIS_URL\) \}/
  })
})

t.test('Redis not ready yet: a request that needs the store is a coded 503, and works once it is ready', async (t) => {
  const port = await freePort()
  const client = new Redis(port, '127.0.0.1', { retryStrategy: () => 50 })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const { app } = await build(t, { store: new RedisStore({ client }), storeTimeout: 300 })
  const big = { blob: 'x'.repeat(6000) }

  const early = await app.inject({ method: 'POST', url: '/put', payload: big })
  t.equal(early.statusCode, 503)
  t.equal(early.headers['set-cookie'], undefined)
  t.match(early.json(), { code: 'FST_ENCSESS_STORE_UNAVAILABLE', message: /Retry later; check the store/ })
  t.notMatch(early.payload, /at .*node_modules/, 'no dependency stack trace')

  await startRedisOnPort(t, port)
  if (client.status !== 'ready') await once(client, 'ready')
  const ready = await app.inject({ method: 'POST', url: '/put', payload: big })
  t.equal(ready.statusCode, 200)
  t.match(sessionCookie(ready)!.value, /^eyJ/)
})
