// Builds a fresh app per test with the plugin registered and a log sink, so tests can assert on
// status, Set-Cookie, payload and what was logged.
import Fastify, { type FastifyInstance } from 'fastify'
import { Writable } from 'node:stream'
import plugin from '../../lib/index.js'
import { generateKey } from '../../lib/keys/generate.js'
import type { SessionManager } from '../../lib/manager.js'

export { plugin, generateKey }

export interface TestApp {
  app: FastifyInstance
  logs: Record<string, unknown>[]
  /** Every log line as written, for "never logs X" scans. */
  rawLogs: string[]
}

export const KEY1 = generateKey('k1')
export const KEY2 = generateKey('k2')

export async function build (t: { teardown: (fn: () => unknown) => void }, options: Record<string, unknown> = {}, routes?: (app: FastifyInstance) => void): Promise<TestApp> {
  const logs: Record<string, unknown>[] = []
  const rawLogs: string[] = []
  const stream = new Writable({
    write (chunk, _enc, cb) {
      const line = chunk.toString()
      rawLogs.push(line)
      logs.push(JSON.parse(line))
      cb()
    }
  })
  const app = Fastify({ logger: { level: 'debug', stream } })
  await app.register(plugin, { keys: KEY1.entry, cookie: { secure: false }, ...options })
  if (routes) routes(app)
  else defaultRoutes(app)
  await app.ready()
  t.teardown(() => app.close())
  return { app, logs, rawLogs }
}

export function defaultRoutes (app: FastifyInstance): void {
  app.get('/', async () => 'no session here')
  app.get('/read', async (req) => ({ n: req.session.get('n') ?? null, id: req.session.id }))
  app.post('/incr', async (req) => {
    const n = ((req.session.get('n') as number | undefined) ?? 0) + 1
    req.session.set('n', n)
    return { n }
  })
  app.post('/put', async (req) => {
    for (const [k, v] of Object.entries(req.body as object)) req.session.set(k, v)
    return req.session.data()
  })
  app.post('/logout', async (req) => {
    req.session.delete()
    return { ok: true }
  })
}

/**
 * A route that changes the session's `profile` object and its data() in place, without set(): such
 * changes are not saved and must never reach a cache's shared copy either.
 */
export function mutateInPlaceRoute (app: FastifyInstance): void {
  app.get('/mutate', async (req) => {
    const profile = req.session.get('profile') as { name: string, tags: string[] }
    profile.name = 'mallory'
    profile.tags.push('admin')
    ;(req.session.data() as Record<string, unknown>).role = 'root'
    return profile
  })
}

/** The session cookie a response set, parsed into value and attributes. */
export function sessionCookie (res: { headers: Record<string, unknown> }, name = 'session'): { value: string, raw: string, attrs: Record<string, string | true> } | undefined {
  const header = res.headers['set-cookie']
  const list = header === undefined ? [] : Array.isArray(header) ? header : [header]
  for (const raw of list as string[]) {
    const [pair, ...rest] = raw.split('; ')
    const eq = pair!.indexOf('=')
    if (pair!.slice(0, eq) !== name) continue
    const attrs: Record<string, string | true> = {}
    for (const a of rest) {
      const i = a.indexOf('=')
      if (i === -1) attrs[a] = true
      else attrs[a.slice(0, i)] = a.slice(i + 1)
    }
    return { value: pair!.slice(eq + 1), raw, attrs }
  }
  return undefined
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000)

/** The engine behind a registration, with its internals (codec, cache) visible to tests. */
export function engine (app: FastifyInstance, name = 'session'): SessionManager {
  return app.encryptedSession.get(name) as unknown as SessionManager
}

/**
 * Max-Age is the remaining lifetime at the moment of sealing, so a second boundary crossed between
 * creating a session and sealing it takes one off. Accept `expected` or one less.
 */
export function maxAgeNear (attrs: Record<string, string | true>, expected: number): boolean {
  const actual = Number(attrs['Max-Age'])
  return actual === expected || actual === expected - 1
}

/** The attributes without Max-Age, for exact comparison of the rest. */
export function withoutMaxAge (attrs: Record<string, string | true>): Record<string, string | true> {
  const { 'Max-Age': _maxAge, ...rest } = attrs
  return rest
}

/**
 * Waits for `promise` at most `ms`. Some events (a file watch) do not keep the process alive, so
 * while a test waits for one, this deadline timer does; it also bounds the wait.
 */
export async function within<T> (promise: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no event within ${ms} ms`)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}
