// userKey with @fastify/passport (the real package, local strategy): passport keeps the
// serialized user under the session key "passport", so `userKey: 'passport'` binds its logins.
// Sign out other devices, logout and the existing revocation option, with the session in the
// cookie and offloaded to a real Redis.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { Authenticator } from '@fastify/passport'
import { Strategy as LocalStrategy } from 'passport-local'
import { Redis } from 'ioredis'
import { plugin, sessionCookie, KEY1 } from './helpers/app.js'
import { RedisStore } from '../lib/stores/redis.js'
import { startRedis } from './helpers/redis.js'
import type { SessionManager } from '../lib/manager.js'

async function app (t: Test, revocation: boolean): Promise<FastifyInstance> {
  const redis = await startRedis(t)
  const client = new Redis(redis.port, redis.host)
  const subscriber = new Redis(redis.port, redis.host)
  const fastify = Fastify()
  t.teardown(async () => { await fastify.close(); client.disconnect(); subscriber.disconnect() })
  await fastify.register(plugin, { keys: KEY1.entry, cookie: { secure: false }, store: new RedisStore({ client, subscriber }), userKey: 'passport', revocation })
  const passport = new Authenticator()
  await fastify.register(passport.initialize())
  await fastify.register(passport.secureSession())
  passport.use('local', new LocalStrategy((username, password, done) => { done(null, password === 'pw' ? { id: username } : false) }))
  passport.registerUserSerializer(async (user: { id: string }) => user.id)
  passport.registerUserDeserializer(async (id: string) => ({ id }))
  const manager = (): SessionManager => (fastify as unknown as { encryptedSession: { get (): SessionManager } }).encryptedSession.get()
  fastify.post<{ Body: { size?: number } }>('/login', { preValidation: passport.authenticate('local', { authInfo: false }) }, async (req) => {
    req.session.set('blob', 'b'.repeat(req.body.size ?? 0))
    return 'ok'
  })
  fastify.get('/private', async (req, reply) => req.isAuthenticated() ? { user: (req.user as { id: string }).id } : reply.code(401).send())
  fastify.post('/others', async (req) => ({ ended: await manager().endUserSessions((req.user as { id: string }).id, { except: req.session }) }))
  fastify.post('/logout', async (req) => { await req.logout(); return 'bye' })
  await fastify.ready()
  return fastify
}

async function login (t: Test, fastify: FastifyInstance, username: string, size: number): Promise<string> {
  const res = await fastify.inject({ method: 'POST', url: '/login', payload: { username, password: 'pw', size } })
  t.equal(res.statusCode, 200)
  return sessionCookie(res)!.value
}

const status = async (fastify: FastifyInstance, cookie: string, method: 'GET' | 'POST' = 'GET', url = '/private'): Promise<number> =>
  (await fastify.inject({ method, url, cookies: { session: cookie } })).statusCode

for (const [mode, size] of [['cookie', 10], ['redis', 5000]] as const) {
  for (const revocation of [false, true]) {
    t.test(`passport, session in ${mode}, revocation ${revocation ? 'on' : 'off'}: other devices signed out, logout kills copies`, async (t) => {
      const fastify = await app(t, revocation)
      const laptop = await login(t, fastify, 'ada', size)
      const phone = await login(t, fastify, 'ada', size)
      const bob = await login(t, fastify, 'bob', size)
      t.equal(await status(fastify, phone), 200)
      const others = await fastify.inject({ method: 'POST', url: '/others', cookies: { session: laptop } })
      t.same(others.json(), { ended: 1 })
      t.equal(await status(fastify, phone), 401, 'the other device is signed out')
      t.equal(await status(fastify, laptop), 200, 'this one is kept')
      t.equal(await status(fastify, bob), 200, 'another user is untouched')
      const copy = laptop
      t.equal(await status(fastify, laptop, 'POST', '/logout'), 200)
      t.equal(await status(fastify, copy), 401, 'a copy of the logged-out cookie gives no access')
      const again = await login(t, fastify, 'ada', size)
      t.equal(await status(fastify, again), 200, 'logging in again works')
    })
  }
}
