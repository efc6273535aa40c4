// req.session.createdAt, expiresAt and idleExpiresAt: seconds since the epoch, from the claims of
// the cookie; createdAt never moves, the idle deadline is the one the request's cookie carries (the response
// moves it), undefined without idleTimeout.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, engine, sessionCookie } from './helpers/app.js'

const T = 1_900_000_000

function routes (app: FastifyInstance): void {
  app.post('/incr', async (req) => {
    req.session.set('n', ((req.session.get('n') as number | undefined) ?? 0) + 1)
    return { createdAt: req.session.createdAt, expiresAt: req.session.expiresAt, idle: req.session.idleExpiresAt ?? 'none' }
  })
}

t.test('with idleTimeout: created, absolute and idle deadlines; createdAt kept on later requests', async (t) => {
  const { app } = await build(t, { maxAge: 1000, idleTimeout: 100 }, routes)
  let now = T
  engine(app).lifetime.now = () => now
  const first = await app.inject({ method: 'POST', url: '/incr' })
  t.same(first.json(), { createdAt: T, expiresAt: T + 1000, idle: T + 100 })
  now = T + 60
  const second = await app.inject({ method: 'POST', url: '/incr', cookies: { session: sessionCookie(first)!.value } })
  t.same(second.json(), { createdAt: T, expiresAt: T + 1000, idle: T + 100 }, 'during the request: the deadline the cookie arrived with')
  now = T + 61
  const third = await app.inject({ method: 'POST', url: '/incr', cookies: { session: sessionCookie(second)!.value } })
  t.same(third.json(), { createdAt: T, expiresAt: T + 1000, idle: T + 60 + 100 }, 'the response moved the idle deadline, nothing else')
})

t.test('without idleTimeout: idleExpiresAt is undefined', async (t) => {
  const { app } = await build(t, { maxAge: 500 }, routes)
  engine(app).lifetime.now = () => T
  t.same((await app.inject({ method: 'POST', url: '/incr' })).json(), { createdAt: T, expiresAt: T + 500, idle: 'none' })
})
