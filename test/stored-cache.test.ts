// What an offloaded session's requests need not repeat.
import t from 'tap'
import { build, sessionCookie, engine } from './helpers/app.js'
import { CountingStore } from './helpers/counting-store.js'

const BIG = 'x'.repeat(6000)

function routes (app: import('fastify').FastifyInstance): void {
  app.post('/put', async (req) => {
    for (const [k, v] of Object.entries(req.body as object)) req.session.set(k, v)
    return { id: req.session.id }
  })
  app.get('/read', async (req) => ({ data: req.session.data() }))
}

t.test('the store key of a cached token\'s session is derived once, not on every request', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store, revocation: true }, routes)
  const storage = engine(app).storage!
  let derived = 0
  const keyOf = storage.keyOf.bind(storage)
  storage.keyOf = (sid, kid) => {
    derived++
    return keyOf(sid, kid)
  }
  const offloaded = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { blob: BIG } }))!.value
  const small = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { n: 1 } }))!.value
  const afterWrites = derived
  for (let i = 0; i < 3; i++) {
    t.same((await app.inject({ url: '/read', cookies: { session: offloaded } })).json().data, { blob: BIG })
    t.same((await app.inject({ url: '/read', cookies: { session: small } })).json().data, { n: 1 }, 'revocation checks it every time')
  }
  t.equal(derived - afterWrites, 1, 'the offloaded session\'s key came with its cached token; the small one\'s was derived once')
})
