// An app hook that reads the session before @fastify/cookie has parsed the request's cookies (an
// onRequest hook added before the plugin) still gets the session its cookie carries.
import t from 'tap'
import Fastify from 'fastify'
import { plugin, sessionCookie, KEY1 } from './helpers/app.js'

t.test('onRequest hook registered before the plugin reads the session', async (t) => {
  const app = Fastify()
  const seen: unknown[] = []
  app.addHook('onRequest', async (req) => {
    seen.push({ cookiesParsed: req.cookies != null, n: req.session.get('n') ?? null })
  })
  await app.register(plugin, { keys: KEY1.entry, cookie: { secure: false } })
  app.post('/incr', async (req) => {
    const n = ((req.session.get('n') as number | undefined) ?? 0) + 1
    req.session.set('n', n)
    return { n }
  })
  t.teardown(() => app.close())
  const first = await app.inject({ method: 'POST', url: '/incr' })
  const second = await app.inject({ method: 'POST', url: '/incr', cookies: { session: sessionCookie(first)!.value } })
  t.equal(second.statusCode, 200)
  t.same(second.json(), { n: 2 })
  t.same(seen, [{ cookiesParsed: false, n: null }, { cookiesParsed: false, n: 1 }])
})
