// When the plugin fails a request (its session could not be saved), the error reply goes out
// without a session cookie. An error handler that touches request.session meets the same error
// rather than a session loaded again from the cookie (which the error reply would then try to save).
import t from 'tap'
import { build, sessionCookie } from './helpers/app.js'

t.test('a session that could not be saved: the error handler sees the same error, no cookie is set', async (t) => {
  const { app } = await build(t, {}, (app) => {
    app.setErrorHandler((err: Error & { code?: string, statusCode?: number }, req, reply) => {
      let seen: string | undefined
      try {
        req.session.get('user')
      } catch (inner) {
        seen = (inner as { code?: string }).code
      }
      reply.code(err.statusCode ?? 500).send({ code: err.code, seen })
    })
    app.post('/login', async (req) => {
      req.session.set('user', 'ada')
      return 'ok'
    })
    app.post('/grow', async (req) => {
      req.session.set('blob', 'x'.repeat(5000))
      return 'ok'
    })
  })
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/login' }))!.value
  const res = await app.inject({ method: 'POST', url: '/grow', cookies: { session: cookie } })
  t.equal(res.statusCode, 500)
  t.same(res.json(), { code: 'FST_ENCSESS_COOKIE_TOO_LARGE', seen: 'FST_ENCSESS_COOKIE_TOO_LARGE' })
  t.equal(sessionCookie(res), undefined)
})
