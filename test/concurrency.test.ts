// Two requests changing one offloaded session at once: the second to commit loses, visibly (409),
// and its cookie is left alone. A request still running at logout cannot bring the session back.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { once, EventEmitter } from 'node:events'
import { build, sessionCookie, engine, KEY1 } from './helpers/app.js'
import { claimsOf } from './helpers/claims.js'
import { CountingStore } from './helpers/counting-store.js'

const BIG = 'x'.repeat(6000)

// /slow waits for the test's signal before returning, so two requests can be interleaved exactly.
function routes (gate: EventEmitter) {
  return (app: FastifyInstance): void => {
    app.post('/put', async (req) => {
      for (const [k, v] of Object.entries(req.body as object)) req.session.set(k, v)
      return 'ok'
    })
    app.post('/slow', async (req) => {
      req.session.set('slow', true)
      gate.emit('entered')
      await once(gate, 'go')
      return 'ok'
    })
    app.post('/logout', async (req) => { req.session.delete(); return 'bye' })
    app.get('/read', async (req) => ({ data: req.session.data() }))
  }
}

// An offloaded session, and a /slow write to it that has loaded the session and now waits for
// gate.emit('go') before it commits.
async function slowWriteInFlight (t: Parameters<typeof build>[0]) {
  const gate = new EventEmitter()
  const { app } = await build(t, { store: new CountingStore() }, routes(gate))
  const token = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } }))!.value
  const entered = once(gate, 'entered')
  const slow = app.inject({ method: 'POST', url: '/slow', cookies: { session: token } })
  await entered
  return { app, gate, token, slow }
}

t.test('concurrent writes to one offloaded session: one wins, the other gets 409 and no cookie', async (t) => {
  const { app, gate, token, slow } = await slowWriteInFlight(t)
  const fast = await app.inject({ method: 'POST', url: '/put', payload: { fast: true }, cookies: { session: token } })
  t.equal(fast.statusCode, 200, 'the first to commit wins')
  gate.emit('go')
  const lost = await slow
  t.equal(lost.statusCode, 409)
  t.equal(lost.json().code, 'FST_ENCSESS_STORE_CONFLICT')
  t.equal(sessionCookie(lost), undefined, 'the loser\'s cookie is left as it was')
  t.equal(engine(app).metrics.store.conflicts, 1)

  const winner = sessionCookie(fast)!.value
  const data = (await app.inject({ url: '/read', cookies: { session: winner } })).json().data
  t.equal(data.fast, true)
  t.equal(data.slow, undefined, 'the lost write did not land')
  t.equal((await claimsOf(winner, KEY1)).ref, 2)
})

t.test('a request still running at logout cannot bring the session back', async (t) => {
  const { app, gate, token, slow } = await slowWriteInFlight(t)
  const logout = await app.inject({ method: 'POST', url: '/logout', cookies: { session: token } })
  t.equal(sessionCookie(logout)!.attrs['Max-Age'], '0')
  gate.emit('go')
  const late = await slow
  t.equal(late.statusCode, 409, 'the late write is refused')
  t.equal(sessionCookie(late), undefined, 'and sets no cookie')
  t.same((await app.inject({ url: '/read', cookies: { session: token } })).json().data, {})
})
