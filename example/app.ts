// The demo: login, logout, a counter and a cart that can grow, next to a view of the session from
// the inside (where it lives, its size, its key, its deadlines, the decode counters) with buttons to
// tamper with the cookie and, in development, to rotate the key. buildDemo() is also what the demo
// tests drive, so the README's first command runs tested code.
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import fastifyEncryptedSession from '../lib/index.js'
import { generateKey } from '../lib/keys/generate.js'
import { MemoryStore } from '../lib/stores/memory.js'
import { RedisStore } from '../lib/stores/redis.js'
import type { SessionStore } from '../lib/stores/store.js'
import type { MetricsSnapshot } from '../types/index.js'
import { inspect, tamper } from './inspect.js'
import { page } from './page.js'
import { usersRoutes } from './users-routes.js'

declare module '../types/index.js' {
  interface SessionData {
    user: string
    count: number
    cart: { sku: string, name: string }[]
  }
}

export interface DemoOptions {
  keys?: string
  /** Where large sessions go; default: REDIS_URL's Redis when set, else an in-process MemoryStore. */
  store?: SessionStore
  env?: NodeJS.ProcessEnv
  logger?: boolean
  warn?: (message: string) => void
}

const COOKIE_NAME = 'session'
const MAX_COOKIE_SIZE = 4000

export const DEV_KEY_WARNING = [
  '',
  '#####################################################################',
  '#  WARNING: SESSION_KEYS is not set. Using a random development key. #',
  '#  Sessions will not survive a restart and this is NOT for production.#',
  '#  Generate a key: npx fastify-encrypted-session keygen              #',
  '#####################################################################',
  ''
].join('\n')

export function resolveKeys (env: NodeJS.ProcessEnv, warn: (message: string) => void): string {
  if (env.SESSION_KEYS) return env.SESSION_KEYS
  if (env.NODE_ENV === 'production') {
    throw new Error('SESSION_KEYS must be set when NODE_ENV=production; generate one with `npx fastify-encrypted-session keygen`.')
  }
  warn(DEV_KEY_WARNING)
  return generateKey('dev').entry
}

export async function buildDemo (opts: DemoOptions = {}): Promise<FastifyInstance> {
  const env = opts.env ?? process.env
  const keys = opts.keys ?? resolveKeys(env, opts.warn ?? ((m) => process.stderr.write(`${m}\n`)))
  const development = env.NODE_ENV !== 'production'
  const app = Fastify({ logger: opts.logger ?? false })
  const store = opts.store ?? await storeFor(env, app)
  // Form posts from the page; a content-type parser keeps the demo free of extra dependencies.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  // Refusals counted while this request's cookie is opened (with a store that happens in the
  // plugin's onRequest hook, so this one is added first to run before it).
  const rejectedBefore = new WeakMap<FastifyRequest, MetricsSnapshot['rejected']>()
  app.addHook('onRequest', async (req) => {
    if (app.hasDecorator('encryptedSession')) rejectedBefore.set(req, app.encryptedSession.get().metrics.snapshot().rejected)
  })
  await app.register(fastifyEncryptedSession, {
    keys,
    idleTimeout: 30 * 60,
    maxAge: 8 * 60 * 60,
    cookieName: COOKIE_NAME,
    maxCookieSize: MAX_COOKIE_SIZE,
    // Plain http on 127.0.0.1: Secure only when the request came over HTTPS.
    cookie: { secure: 'auto' },
    // The cart can outgrow a cookie; then it moves to the store and the cookie keeps a reference.
    store,
    // Each login is listed under its user: "your sessions" and "sign out other devices" (docs/users.md).
    userKey: 'user',
    userMeta: (req) => ({ device: String(req.headers['user-agent'] ?? 'unknown').slice(0, 80) })
  })
  const manager = app.encryptedSession.get()
  // The keys this instance holds, as kid:key entries, current first; the page's key buttons change it.
  let keyEntries = keys.split(',')
  let pendingKid: string | undefined
  // What a Set-Cookie adds to name=value, as last sent: the size bar shows the whole header.
  let attributeBytes = 0
  app.addHook('onSend', async (_req, reply) => {
    const header = reply.getHeader('set-cookie')
    for (const line of Array.isArray(header) ? header : header === undefined ? [] : [String(header)]) {
      if (line.startsWith(`${COOKIE_NAME}=`) && !line.startsWith(`${COOKIE_NAME}=;`)) attributeBytes = line.length - line.indexOf(';')
    }
  })
  await app.register(usersRoutes)

  app.get('/', async (req, reply) => {
    const s = req.session
    const before = rejectedBefore.get(req)
    const after = manager.metrics.snapshot().rejected
    const refused = before === undefined ? [] : Object.keys(after).filter((r) => after[r as keyof typeof after] > before[r as keyof typeof before])
    // A refused cookie stays in the browser until something replaces it: clear it, so that the
    // refusal is counted once and the next load starts clean.
    const token = req.cookies[COOKIE_NAME]
    if (token !== undefined && token !== '' && s.isNew) s.delete()
    const user = s.get('user')
    const sessions = user === undefined
      ? undefined
      : (await manager.listUserSessions(user)).map((u) => ({
          id: u.id, device: String(u.meta?.device ?? 'unknown device'), createdAt: u.createdAt, expiresAt: u.expiresAt, current: u.id === s.id
        }))
    reply.type('text/html; charset=utf-8')
    return page({ user, count: s.get('count') ?? 0, cart: (s.get('cart') ?? []).length, refused, development, pendingKid, sessions })
  })
  app.get('/api/state', async (req) => ({
    user: req.session.get('user') ?? null,
    count: req.session.get('count') ?? 0,
    cart: (req.session.get('cart') ?? []).length
  }))
  app.get('/api/session', async (req) => inspect(req, {
    manager,
    cookieName: COOKIE_NAME,
    maxCookieSize: MAX_COOKIE_SIZE,
    storeName: store.constructor.name,
    keyEntries: () => keyEntries,
    attributeBytes: () => attributeBytes
  }))
  app.get('/healthz', { config: { encryptedSession: false } }, async () => ({
    ok: true,
    keys: manager.keyFingerprint
  }))
  app.post('/login', async (req, reply) => {
    const user = String((req.body as Record<string, unknown> | undefined)?.user ?? '').trim().slice(0, 40)
    if (user === '') return reply.code(400).send({ error: 'a user name is required' })
    // A new id at login: a cookie planted before login never becomes a logged-in one.
    req.session.regenerate(['cart'])
    req.session.set('user', user)
    return reply.redirect('/', 303)
  })
  app.post('/logout', async (req, reply) => {
    req.session.delete()
    return reply.redirect('/', 303)
  })
  app.post('/count', async (req, reply) => {
    req.session.set('count', (req.session.get('count') ?? 0) + 1)
    return reply.redirect('/', 303)
  })
  app.post('/cart/add', async (req, reply) => {
    const cart = [...(req.session.get('cart') ?? [])]
    const n = Number((req.body as Record<string, unknown> | undefined)?.n ?? 1)
    for (let i = 0; i < Math.min(Math.max(1, n), 100); i++) {
      cart.push({ sku: `SKU-${cart.length + 1}`, name: `Item number ${cart.length + 1} of the demo shop` })
    }
    req.session.set('cart', cart)
    return reply.redirect('/', 303)
  })
  app.post('/cart/clear', async (req, reply) => {
    req.session.set('cart', [])
    return reply.redirect('/', 303)
  })
  // What an attacker can do to a cookie: change a byte. The session is not handled on this route,
  // so the only Set-Cookie is the tampered copy.
  app.post('/tamper', { config: { encryptedSession: false } }, async (req, reply) => {
    const token = req.cookies[COOKIE_NAME]
    if (token !== undefined && token !== '') {
      reply.setCookie(COOKIE_NAME, tamper(token), { path: '/', httpOnly: true, sameSite: 'lax', maxAge: 30 * 60 })
    }
    return reply.redirect('/', 303)
  })
  if (development) {
    // Stage 1 of a rotation: every instance learns the new key, which does not seal yet.
    app.post('/keys/add', async (_req, reply) => {
      const kids = new Set(keyEntries.map((e) => e.slice(0, e.indexOf(':'))))
      let n = kids.size + 1
      while (kids.has(`k${n}`)) n++
      const added = generateKey(`k${n}`)
      keyEntries = [...keyEntries, added.entry]
      pendingKid = added.kid
      manager.replaceKeys(keyEntries.join(','))
      return reply.redirect('/', 303)
    })
    // Stage 2: the new key seals; cookies sealed with the old one are re-sealed on their next request.
    app.post('/keys/promote', async (_req, reply) => {
      const promoted = keyEntries.find((e) => e.startsWith(`${pendingKid}:`))
      if (promoted !== undefined) {
        keyEntries = [promoted, ...keyEntries.filter((e) => e !== promoted)]
        pendingKid = undefined
        manager.replaceKeys(keyEntries.join(','))
      }
      return reply.redirect('/', 303)
    })
  }
  return app
}

async function storeFor (env: NodeJS.ProcessEnv, app: FastifyInstance): Promise<SessionStore> {
  if (!env.REDIS_URL) return new MemoryStore({ maxEntries: 10000, maxBytes: 64 * 1024 * 1024 })
  // Loaded only when asked for: the plugin itself never depends on a Redis client.
  const { Redis } = await import('ioredis')
  // Fail fast while Redis is away instead of queueing requests (see "Redis deployment" in the README).
  const client = new Redis(env.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 1000 })
  app.addHook('onClose', async () => { client.disconnect() })
  // Without the offline queue, commands sent before the connection is up fail: start serving once it is.
  await new Promise((resolve, reject) => {
    client.once('ready', resolve)
    client.once('error', reject)
  })
  return new RedisStore({ client })
}
