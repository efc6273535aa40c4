// The demo: login, logout, a counter and a cart that can grow. buildDemo() is also what the demo
// test drives, so the README's first command runs tested code.
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyEncryptedSession from '../lib/index.js'
import { generateKey } from '../lib/keys/generate.js'
import { MemoryStore } from '../lib/stores/memory.js'
import { RedisStore } from '../lib/stores/redis.js'
import type { SessionStore } from '../lib/stores/store.js'
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
  const app = Fastify({ logger: opts.logger ?? false })
  const store = opts.store ?? await storeFor(env, app)
  // Form posts from the page; a content-type parser keeps the demo free of extra dependencies.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  await app.register(fastifyEncryptedSession, {
    keys,
    idleTimeout: 30 * 60,
    maxAge: 8 * 60 * 60,
    // Plain http on 127.0.0.1: Secure only when the request came over HTTPS.
    cookie: { secure: 'auto' },
    // The cart can outgrow a cookie; then it moves to the store and the cookie keeps a reference.
    store,
    // Each login is listed under its user: "your sessions" and "sign out other devices" (docs/users.md).
    userKey: 'user',
    userMeta: (req) => ({ device: String(req.headers['user-agent'] ?? 'unknown').slice(0, 80) })
  })
  await app.register(usersRoutes)

  app.get('/', async (req, reply) => {
    const s = req.session
    reply.type('text/html; charset=utf-8')
    return page(s.get('user'), s.get('count') ?? 0, s.get('cart') ?? [])
  })
  app.get('/api/state', async (req) => ({
    user: req.session.get('user') ?? null,
    count: req.session.get('count') ?? 0,
    cart: (req.session.get('cart') ?? []).length
  }))
  app.get('/healthz', { config: { encryptedSession: false } }, async () => ({
    ok: true,
    keys: app.encryptedSession.get().keyFingerprint
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

function escape (s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function page (user: string | undefined, count: number, cart: { sku: string, name: string }[]): string {
  const login = user === undefined
    ? '<form method="post" action="/login"><input name="user" placeholder="your name" required> <button>Log in</button></form>'
    : `<p>Logged in as <b id="user">${escape(user)}</b></p><form method="post" action="/logout"><button>Log out</button></form>`
  return `<!doctype html><html><head><meta charset="utf-8"><title>fastify-encrypted-session demo</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>fastify-encrypted-session demo</h1>
${login}
<h2>Counter: <span id="count">${count}</span></h2>
<form method="post" action="/count"><button>+1</button></form>
<h2>Cart: <span id="cart">${cart.length}</span> items</h2>
<form method="post" action="/cart/add"><input type="hidden" name="n" value="1"><button>Add 1</button></form>
<form method="post" action="/cart/add"><input type="hidden" name="n" value="25"><button>Add 25</button></form>
<form method="post" action="/cart/clear"><button>Empty cart</button></form>
<p>All of this lives in one encrypted cookie (compact JWE, A256GCM); a cart too large for a cookie moves to the store.</p>
</body></html>`
}
