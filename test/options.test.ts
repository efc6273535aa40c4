// Every option is validated at register; each refusal has a code and says how to fix it.
import t from 'tap'
import Fastify from 'fastify'
import { plugin, KEY1, KEY2 } from './helpers/app.js'

async function registerError (options: unknown): Promise<(Error & { code?: string }) | null> {
  const app = Fastify()
  app.register(plugin, options as never)
  try {
    await app.ready()
    return null
  } catch (err) {
    return err as Error & { code?: string }
  } finally {
    await app.close()
  }
}

t.test('invalid options fail register with FST_ENCSESS_INVALID_OPTION', async (t) => {
  const k = { keys: KEY1.entry }
  const cases: [unknown, RegExp][] = [
    [{ ...k, maxAge: 0 }, /"maxAge": it must be a whole number from 1/],
    [{ ...k, maxAge: 1.5 }, /"maxAge"/],
    [{ ...k, maxAge: '1d' }, /"maxAge"/],
    [{ ...k, idleTimeout: -1 }, /"idleTimeout"/],
    [{ ...k, maxAge: 60, idleTimeout: 120 }, /"idleTimeout": it cannot be longer than maxAge/],
    [{ ...k, rolling: 'yes' }, /"rolling": it must be true or false/],
    [{ ...k, audience: '' }, /"audience"/],
    [{ ...k, maxCookieSize: 8192 }, /"maxCookieSize": it must be a whole number from 256 to 4096/],
    [{ ...k, maxCookieSize: 100 }, /"maxCookieSize"/],
    [{ ...k, cache: true }, /"cache"/],
    [{ ...k, cache: { max: -1 } }, /"cache.max"/],
    [{ ...k, sessionName: 'my-session' }, /"sessionName"/],
    [{ ...k, sessionName: 'body' }, /"sessionName".*not already used/],
    [{ ...k, store: {} }, /"store": it must implement the SessionStore interface/],
    [{ ...k, storeTimeout: 0 }, /"storeTimeout"/],
    [{ ...k, revocation: true }, /"revocation": it needs a `store`/],
    [{ ...k, expiry: 10 }, /"expiry": it is not an option of this plugin/],
    [[], /"options"/],
    [[{ ...k }, { keys: KEY2.entry }], /"sessionName": "session" is used by two sessions/],
    [[{ ...k }, { keys: KEY2.entry, sessionName: 'other' }], /"cookieName": "session" is used by two sessions/]
  ]
  for (const [options, message] of cases) {
    const err = await registerError(options)
    t.equal(err?.code, 'FST_ENCSESS_INVALID_OPTION', JSON.stringify(options))
    t.match(err?.message, message)
  }
})

t.test('valid options register', async (t) => {
  t.equal(await registerError({ keys: KEY1.entry, maxAge: 60, idleTimeout: 60, rolling: false, audience: 'x', maxCookieSize: 4096, cache: { max: 5 } }), null)
})

t.test('two registrations in one app keep separate state', async (t) => {
  const app = Fastify()
  await app.register(plugin, [
    { keys: KEY1.entry, cookieName: 'user', cookie: { secure: false } },
    { keys: KEY2.entry, cookieName: 'admin', sessionName: 'adminSession', cookie: { secure: false } }
  ])
  app.post('/', async (req) => {
    req.session.set('who', 'user')
    ;(req as unknown as { adminSession: typeof req.session }).adminSession.set('who', 'admin')
    return 'ok'
  })
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/' })
  t.equal((res.headers['set-cookie'] as string[]).length, 2)
  t.equal(app.encryptedSession.get().metrics.sealed.k1, 1)
  t.equal(app.encryptedSession.get('adminSession').metrics.sealed.k2, 1)
  t.equal(app.encryptedSession.get('adminSession').metrics.sealed.k1, undefined)
  t.throws(() => app.encryptedSession.get('nope'), { code: 'FST_ENCSESS_INVALID_OPTION' })
})
