// Type tests (tsd): the request augmentation, SessionData merging, option types and import styles.
import Fastify from 'fastify'
import { expectType, expectError, expectAssignable } from 'tsd'
import fastifyEncryptedSession, {
  fastifyEncryptedSession as named,
  type FastifyEncryptedSessionOptions,
  type Session,
  type SessionStore,
  type StoreEntry,
  type UserSessionInfo,
  errors,
  generateKey,
  envKeys,
  fileKeys,
  type KeyProvider,
  type RedisClientLike,
  MemoryStore,
  RedisStore
} from '../..'
import { Cluster, Redis } from 'ioredis'
import cjs = require('../..')

declare module '../..' {
  interface SessionData {
    user: string
    visits: number
  }
}

const app = Fastify()
app.register(fastifyEncryptedSession, { keys: 'k1:AAAA' })
app.register(named, { keys: [{ kid: 'a', key: new Uint8Array(32) }], cookie: { secure: 'auto', sameSite: 'strict' } })
app.register(cjs, { keys: { keys: [{ kty: 'oct', kid: 'a', k: 'x' }] } })
app.register(cjs.fastifyEncryptedSession, [{ keys: 'a:b', sessionName: 'admin', cookieName: 'adm' }])
expectType<typeof fastifyEncryptedSession>(cjs.default)

// Options: keys are required, values are typed.
expectError(app.register(fastifyEncryptedSession, {}))
expectError(app.register(fastifyEncryptedSession, { keys: 'k1:AAAA', maxAge: '1d' }))
expectError(app.register(fastifyEncryptedSession, { keys: 'k1:AAAA', cookie: { secure: 'sometimes' } }))
expectAssignable<FastifyEncryptedSessionOptions>({ keys: 'k', idleTimeout: 60, rolling: false, cache: false, maxCookieSize: 4000 })

app.get('/', async (request) => {
  expectType<Session>(request.session)
  expectType<string | undefined>(request.session.get('user'))
  expectType<number | undefined>(request.session.get('visits'))
  request.session.set('user', 'ada')
  request.session.set('visits', undefined)
  expectError(request.session.set('user', 42))
  // @ts-expect-error: unknown keys are rejected once SessionData is declared
  request.session.get('nope')
  expectError(request.session.set('nope', 1))
  expectType<string>(request.session.id)
  expectType<boolean>(request.session.changed)
  expectType<boolean>(request.session.deleted)
  request.session.regenerate(['user'])
  expectError(request.session.regenerate(['nope']))
  request.session.delete()
  request.session.touch()
  request.session.options({ path: '/x' })
  expectType<Partial<{ user: string, visits: number }>>(request.session.data())
  return 'ok'
})

app.get('/skip', { config: { encryptedSession: false } }, async () => 'no session')

const manager = app.encryptedSession.get('session')
expectType<string>(manager.seal({ user: 'ada' }))
expectType<Session | null>(manager.open('token'))
expectType<string>(manager.keyFingerprint)
expectType<number>(manager.metrics.snapshot().rejected.unknown_kid)

const store: SessionStore = {
  async get (_key: string): Promise<StoreEntry | undefined> { return undefined },
  async set () { return true },
  async delete () {}
}
app.register(fastifyEncryptedSession, { keys: 'k', store, storeTimeout: 500, revocation: true })

expectType<'FST_ENCSESS_NO_KEYS'>(new errors.FST_ENCSESS_NO_KEYS().code)
expectType<string>(generateKey('x').entry)

// Key providers and key management.
app.register(fastifyEncryptedSession, { keys: envKeys(), keyRefreshInterval: 60, keyRefreshOnUnknownKid: 10 })
app.register(fastifyEncryptedSession, { keys: fileKeys('/etc/keys.json'), keyLoadTimeout: 1000, keyLoadAttempts: 3 })
const own: KeyProvider = async () => 'k1:AAAA'
app.register(fastifyEncryptedSession, { keys: own, keyManagement: 'A256KW', usageBudget: { warnAt: 0.25 }, affinityCookie: 'sa' })
expectError(app.register(fastifyEncryptedSession, { keys: 'k', keyManagement: 'RSA-OAEP' }))
expectType<string>(manager.affinity('sid'))
expectType<number>(manager.metrics.snapshot().keyRefresh.failed)

// The stores.
app.register(fastifyEncryptedSession, { keys: 'k', store: new MemoryStore({ maxEntries: 100, maxBytes: 1 << 20 }) })
app.register(fastifyEncryptedSession, { keys: 'k', store: new RedisStore({ client: new Redis(), prefix: 's:' }) })
expectType<number>(new MemoryStore().size)
expectError(new RedisStore({}))

// keys may be undefined for the types (process.env); register refuses it at run time.
app.register(fastifyEncryptedSession, { keys: process.env.SESSION_KEYS })
// seal() is checked against SessionData.
expectError(manager.seal({ user: 42 }))
expectError(manager.seal({ nope: 1 }))
// RedisStore takes ioredis' Redis and Cluster through the structural RedisClientLike.
expectAssignable<RedisClientLike>(new Redis({ lazyConnect: true }))
expectAssignable<RedisClientLike>(new Cluster([]))
// @fastify/cookie's augmentation comes with the package's types.
app.get('/cookies', async (request, reply) => {
  expectType<{ [cookieName: string]: string | undefined }>(request.cookies)
  reply.setCookie('a', 'b')
  return 'ok'
})
// Per-user sessions.
app.register(fastifyEncryptedSession, {
  keys: 'k',
  store: new RedisStore({ client: new Redis(), subscriber: new Redis() }),
  userKey: 'user',
  userMeta: (request) => ({ device: request.headers['user-agent'] })
})
app.register(fastifyEncryptedSession, { keys: 'k', store, userKey: (data) => data.passport as string | undefined })
expectError(app.register(fastifyEncryptedSession, { keys: 'k', store, userKey: 42 }))
expectType<Promise<number>>(manager.endUserSessions('ada', { except: 'sid' }))
expectType<Promise<UserSessionInfo[]>>(manager.listUserSessions(42))
expectType<Promise<boolean>>(manager.endSession('ada', 'sid'))
expectType<'FST_ENCSESS_INVALID_USER_ID'>(new errors.FST_ENCSESS_INVALID_USER_ID().code)
expectType<'FST_ENCSESS_SESSION_NOT_LOADED'>(new errors.FST_ENCSESS_SESSION_NOT_LOADED().code)
