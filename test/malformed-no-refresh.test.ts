// A cookie that is not even shaped like a token (no header before a dot) cannot be helped by new
// keys: it never triggers the unknown-kid key refresh, so junk cannot make the app call its
// key provider.
import t from 'tap'
import { build, engine, KEY1 } from './helpers/app.js'

t.test('no dot, or nothing before the first dot: no refresh, empty session', async (t) => {
  let loads = 0
  const { app } = await build(t, { keys: () => { loads++; return KEY1.entry }, keyRefreshInterval: 0, keyRefreshOnUnknownKid: 0 })
  for (const value of ['junk', '.a.b.c.d']) {
    const res = await app.inject({ url: '/read', cookies: { session: value } })
    t.equal(res.statusCode, 200)
    t.equal(res.json().n, null, value)
  }
  t.equal(loads, 1, 'only the first load')
  t.equal(engine(app).metrics.keyRefresh.unknownKid, 0)
})
