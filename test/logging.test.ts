// The plugin logs through the request logger and never logs cookie values, session data or keys,
// including when the app logs request and response headers with the documented redaction.
import t from 'tap'
import Fastify from 'fastify'
import { Writable } from 'node:stream'
import { plugin, sessionCookie, KEY1 } from './helpers/app.js'
import { CountingStore } from './helpers/counting-store.js'

const SECRET = 'hunter2-session-secret'

t.test('with header logging and the documented redaction, no token, data or key reaches the log', async (t) => {
  const lines: string[] = []
  const app = Fastify({
    logger: {
      level: 'trace',
      stream: new Writable({ write (chunk, _e, cb) { lines.push(chunk.toString()); cb() } }),
      // What the README recommends for apps that log headers.
      redact: ['req.headers.cookie', 'res.headers["set-cookie"]'],
      serializers: {
        req: (req) => ({ method: req.method, url: req.url, headers: req.headers }),
        res: (res) => ({ statusCode: res.statusCode, headers: typeof res.getHeaders === 'function' ? res.getHeaders() : {} })
      }
    }
  })
  await app.register(plugin, { keys: KEY1.entry, cookie: { secure: false }, store: new CountingStore(), maxCookieSize: 600 })
  app.post('/w', async (req) => { req.session.set('secret', SECRET); req.session.set('pad', 'p'.repeat(Number((req.query as { n?: string }).n ?? 0))); return 'ok' })
  app.get('/r', async (req) => ({ ok: req.session.get('secret') === SECRET }))
  app.addHook('onResponse', async (req, reply) => { req.log.info({ res: reply.raw }, 'response headers') })
  t.teardown(() => app.close())

  const small = sessionCookie(await app.inject({ method: 'POST', url: '/w' }))!.value
  const big = sessionCookie(await app.inject({ method: 'POST', url: '/w?n=2000' }))!.value
  t.same((await app.inject({ url: '/r', cookies: { session: small } })).json(), { ok: true })
  t.same((await app.inject({ url: '/r', cookies: { session: big } })).json(), { ok: true })
  await app.inject({ url: '/r', cookies: { session: `${small.slice(0, -4)}AAAA` } })

  const all = lines.join('')
  t.ok(all.includes('session cookie refused'), 'the refusal was logged (at debug)')
  t.ok(all.includes('[Redacted]'), 'headers were logged, redacted')
  for (const secret of [small.slice(0, 60), small.slice(-30), big.slice(-30), SECRET, KEY1.key]) {
    t.notOk(all.includes(secret), 'nothing secret in the log')
  }
})
