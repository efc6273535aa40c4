// The README's quick start, run as a new user pastes it: its two server files are taken from the
// README text, saved as .mjs files that import the package by name (the built package, through its
// own `exports`), and started with node. The cookie-only server logs in and reads back; without
// SESSION_KEYS it stops with FST_ENCSESS_NO_KEYS. The Redis server, started against a real
// redis-server that is slow to answer at first, answers its very first offloading write (not a
// 503, since it waits for `ready`).
// The only change made to the snippets is the port: 0 (a free one) instead of 3000.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKey } from './helpers/app.js'
import { startRedis, redisCommand } from './helpers/redis.js'

const root = join(__dirname, '..')
const readme = readFileSync(join(root, 'README.md'), 'utf8')

/** The first ```js block after `marker` in the README. */
function snippetAfter (marker: string): string {
  const at = readme.indexOf(marker)
  if (at === -1) throw new Error(`README.md no longer contains "${marker}"`)
  const block = /```js\n([^]*?)```/.exec(readme.slice(at))
  if (block === null) throw new Error(`no js block after "${marker}"`)
  return block[1]!
}

/**
 * Saves a snippet inside the package (dist/, build output), so that importing
 * 'fastify-encrypted-session' resolves to this package as it would from node_modules.
 */
function save (t: Test, name: string, code: string): string {
  t.ok(code.includes('port: 3000'), `${name}: the snippet listens on port 3000`)
  const dir = mkdtempSync(join(root, 'dist', 'readme-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, name)
  writeFileSync(file, code.replace('port: 3000', 'port: 0'))
  return file
}

interface Started { base: string, stderr: () => string }

/** Starts a snippet with node and resolves with its address once Fastify's logger says it listens. */
async function start (t: Test, file: string, env: NodeJS.ProcessEnv): Promise<Started> {
  const child = spawn(process.execPath, [file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill() })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  const base = await new Promise<string>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`${file} exited with ${code}: ${stderr}`)))
    child.stdout.on('data', (d) => {
      stdout += d
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)
      if (m) resolve(m[1]!)
    })
  })
  return { base, stderr: () => stderr }
}

const setCookieOf = (res: Response): string => (res.headers.get('set-cookie') ?? '').split(';')[0]!

t.test('the quick start server: log in, read back, log out', async (t) => {
  const file = save(t, 'server.mjs', snippetAfter('Save this as `server.mjs`'))
  const { base } = await start(t, file, { SESSION_KEYS: generateKey('main').entry })
  const login = await fetch(`${base}/login`, { method: 'POST' })
  t.equal(login.status, 200)
  t.equal(await login.text(), 'ok')
  const cookie = setCookieOf(login)
  t.match(cookie, /^session=[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+$/, 'a compact JWE cookie')
  t.notMatch(login.headers.get('set-cookie'), /Secure/, 'no Secure over plain http (secure: auto)')
  const me = await fetch(`${base}/me`, { headers: { cookie } })
  t.same(await me.json(), { user: 'ada' })
  const logout = await fetch(`${base}/logout`, { method: 'POST', headers: { cookie } })
  t.equal(await logout.text(), 'bye')
  t.match(logout.headers.get('set-cookie'), /^session=;/, 'logout clears the cookie')
})

t.test('the quick start server without SESSION_KEYS stops with FST_ENCSESS_NO_KEYS', async (t) => {
  const file = save(t, 'server.mjs', snippetAfter('Save this as `server.mjs`'))
  const child = spawn(process.execPath, [file], { env: { ...process.env, SESSION_KEYS: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  const [code] = await once(child, 'exit')
  t.not(code, 0, 'the process exits with an error')
  t.match(stderr, /FST_ENCSESS_NO_KEYS/)
})

t.test('the Redis quick start answers its first offloading write', async (t) => {
  const redis = await startRedis(t)
  const file = save(t, 'server-redis.mjs', snippetAfter('**Large sessions and Redis.**'))
  // Redis holds every command for a while (CLIENT PAUSE), so the client's ready check is still
  // waiting when the script reaches register and listen: only the snippet's wait keeps its
  // first request from finding the client not ready.
  await redis.pause(5000)
  const { base } = await start(t, file, { SESSION_KEYS: generateKey('main').entry, REDIS_URL: redis.url })
  const text = 'x'.repeat(10_000)
  // The very first request after listen writes a session too large for a cookie.
  const put = await fetch(`${base}/note`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) })
  t.equal(put.status, 200, 'not 503: the client was ready before the app served')
  t.same(await put.json(), { saved: 10_000 })
  const cookie = setCookieOf(put)
  t.ok(cookie.length < 600, `the cookie is a reference (${cookie.length} bytes)`)
  t.equal((await redisCommand(redis.port, ['KEYS', 'sess:*']) as string[]).length, 1, 'the note lives in Redis')
  const get = await fetch(`${base}/note`, { headers: { cookie } })
  t.same(await get.json(), { note: text }, 'and reads back')
})
