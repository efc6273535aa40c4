// Offloaded sessions past 64 KiB of sealed value (the codec's reusable decode buffer) round-trip
// intact, and a later request decodes them again correctly.
import t from 'tap'
import { build, sessionCookie } from './helpers/app.js'
import { MemoryStore } from '../lib/stores/memory.js'

t.test('a 100 KB session is stored, read back exactly, and changed', async (t) => {
  const store = new MemoryStore()
  const blob = Array.from({ length: 20_000 }, (_, i) => `v${i}:`).join('').slice(0, 200_000)
  const { app } = await build(t, { store }, (app) => {
    app.post('/put', async (req) => {
      for (const [k, v] of Object.entries(req.body as object)) req.session.set(k, v)
      return 'ok'
    })
    app.get('/blob', async (req) => ({ blob: req.session.get('blob'), n: req.session.get('n') }))
  })
  const put = await app.inject({ method: 'POST', url: '/put', payload: { blob, n: 1 } })
  t.equal(put.statusCode, 200)
  const value = sessionCookie(put)!.value
  t.ok(value.length < 4000, 'the cookie only refers to the stored data')
  const read = await app.inject({ url: '/blob', cookies: { session: value } })
  t.same(read.json(), { blob, n: 1 })
  // A second store of the same size (another app, no cache of what was sealed): decoded from the store.
  const other = await build(t, { store, cache: false }, (app) => {
    app.get('/blob', async (req) => ({ blob: req.session.get('blob'), n: req.session.get('n') }))
  })
  t.same((await other.app.inject({ url: '/blob', cookies: { session: value } })).json(), { blob, n: 1 })
})
