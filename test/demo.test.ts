// The demo app: it runs on a generated key with a loud warning, refuses to start without keys in
// production, and its flows work (login regenerates, counter, cart, logout).
import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { once } from 'node:events'
import type { FastifyInstance } from 'fastify'
import { sessionCookie, KEY1 } from './helpers/app.js'

// The built demo, as `npm run demo` runs it. Loaded from dist/ so that the demo's own SessionData
// declaration stays out of the tests' compilation (it would narrow every test's session keys).
const { buildDemo, resolveKeys, DEV_KEY_WARNING } = require('../dist/example/app.js') as {
  buildDemo: (opts?: { keys?: string }) => Promise<FastifyInstance>
  resolveKeys: (env: NodeJS.ProcessEnv, warn: (m: string) => void) => string
  DEV_KEY_WARNING: string
}

t.test('without SESSION_KEYS: a generated key and a loud warning', async (t) => {
  const warnings: string[] = []
  const entry = resolveKeys({}, (m) => warnings.push(m))
  t.match(entry, /^dev:[A-Za-z0-9_-]{43}$/)
  t.equal(warnings.length, 1)
  t.match(warnings[0], /WARNING: SESSION_KEYS is not set/)
  t.equal(resolveKeys({ SESSION_KEYS: KEY1.entry }, () => t.fail('no warning with keys')), KEY1.entry)
})

t.test('NODE_ENV=production without SESSION_KEYS: the server refuses to start', async (t) => {
  const child = spawn(process.execPath, [join(__dirname, '..', 'dist', 'example', 'server.js')], {
    env: { ...process.env, NODE_ENV: 'production', SESSION_KEYS: '', PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
  t.match(stderr, /SESSION_KEYS must be set when NODE_ENV=production/)
})

t.test('the built server starts on a generated key, warns, and serves the page', async (t) => {
  const child = spawn(process.execPath, [join(__dirname, '..', 'dist', 'example', 'server.js')], {
    env: { ...process.env, NODE_ENV: 'development', SESSION_KEYS: '', PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill() })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  let stdout = ''
  const address = await new Promise<string>((resolve, reject) => {
    child.on('exit', () => reject(new Error(`demo exited: ${stderr}`)))
    child.stdout.on('data', (d) => {
      stdout += d
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)
      if (m) resolve(m[1]!)
    })
  })
  t.ok(stderr.includes(DEV_KEY_WARNING.trim().split('\n')[1]!), 'warning printed')
  const res = await fetch(`${address}/`)
  t.equal(res.status, 200)
  t.match(await res.text(), /fastify-encrypted-session demo/)
})

t.test('login, count, cart, logout', async (t) => {
  const app = await buildDemo({ keys: KEY1.entry })
  t.teardown(() => app.close())
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  let cookie = ''
  const post = async (url: string, body = ''): Promise<void> => {
    const res = await app.inject({ method: 'POST', url, payload: body, headers: { ...form, cookie } })
    t.equal(res.statusCode, 303, url)
    const c = sessionCookie(res)
    if (c) cookie = c.value === '' ? '' : `session=${c.value}`
  }
  const state = async (): Promise<Record<string, unknown>> => (await app.inject({ url: '/api/state', headers: { cookie } })).json()

  await post('/cart/add', 'n=2')
  const anonymous = cookie
  await post('/login', 'user=ada')
  t.not(cookie, anonymous, 'login issues a new cookie')
  t.same(await state(), { user: 'ada', count: 0, cart: 2 }, 'the cart survives login')
  await post('/count')
  await post('/count')
  t.same(await state(), { user: 'ada', count: 2, cart: 2 })
  // Grow the cart past what one cookie holds: the data moves to the store, the cookie stays small.
  for (let i = 0; i < 3; i++) await post('/cart/add', 'n=25')
  t.same(await state(), { user: 'ada', count: 2, cart: 77 })
  t.ok(cookie.length < 600, `offloaded: the cookie is a reference (${cookie.length} bytes)`)
  const health = await app.inject({ url: '/healthz', headers: { cookie } })
  t.match(health.json().keys, /^k1#/, 'the health route shows the key fingerprint and skips the session')
  t.equal(health.headers['set-cookie'], undefined)
  await post('/logout')
  t.equal(cookie, '', 'logout clears the cookie')
  t.same(await state(), { user: null, count: 0, cart: 0 })
  const page = await app.inject({ url: '/' })
  t.match(page.body, /Log in/)
})

t.test('with REDIS_URL the demo offloads its cart to that Redis', async (t) => {
  const { startRedis, redisCommand } = await import('./helpers/redis.js')
  const server = await startRedis(t)
  const app = await (buildDemo as (o: object) => Promise<FastifyInstance>)({ keys: KEY1.entry, env: { REDIS_URL: server.url } })
  t.teardown(() => app.close())
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  let cookie = ''
  for (let i = 0; i < 4; i++) {
    const res = await app.inject({ method: 'POST', url: '/cart/add', payload: 'n=25', headers: { ...form, cookie } })
    t.equal(res.statusCode, 303)
    cookie = `session=${sessionCookie(res)!.value}`
  }
  t.same((await app.inject({ url: '/api/state', headers: { cookie } })).json().cart, 100)
  const keys = await redisCommand(server.port, ['KEYS', 'sess:*']) as string[]
  t.equal(keys.length, 1, 'the cart lives in Redis')
})
