// A cookie with an unknown kid arriving while a key refresh is already running waits for that
// refresh instead of starting another; and a provider that throws something other than an Error
// is reported as it is, the keys in force being kept.
import t from 'tap'
import { build, engine, sessionCookie, KEY1, KEY2 } from './helpers/app.js'

t.test('unknown kid during a refresh: shares it, no second provider call, not counted as its own refresh', async (t) => {
  let calls = 0
  let set = KEY1.entry
  let open!: () => void
  const gate = new Promise<void>((resolve) => { open = resolve })
  const { app } = await build(t, { keys: async () => { calls++; if (calls > 1) await gate; return set }, keyRefreshInterval: 0, keyRefreshOnUnknownKid: 0 })
  const m = engine(app)
  const refresher = m.refresher!
  t.equal(calls, 1, 'the first load')

  const running = refresher.refresh()
  const waiting = refresher.unknownKid()
  set = `${KEY2.entry},${KEY1.entry}`
  open()
  t.equal(await running, true)
  await waiting
  t.equal(calls, 2, 'one provider call for both')
  t.equal(m.metrics.keyRefresh.unknownKid, 0)
  t.equal(m.metrics.keyRefresh.ok, 1)

  const other = await build(t, { keys: KEY2.entry })
  const cookie = sessionCookie(await other.app.inject({ method: 'POST', url: '/incr' }))!.value
  t.equal((await app.inject({ url: '/read', cookies: { session: cookie } })).json().n, 1, 'the refreshed keys open a KEY2 cookie')
  t.equal(calls, 2)
})

t.test('a provider that throws a non-Error: refresh fails, logged as given, keys kept', async (t) => {
  let fail = false
  // What some secret clients reject with: a string, not an Error.
  const sealed: unknown = 'the vault is sealed'
  const { app, logs } = await build(t, {
    keys: () => {
      if (fail) throw sealed
      return KEY1.entry
    },
    keyRefreshInterval: 0
  })
  const cookie = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  fail = true
  const m = engine(app)
  t.equal(await m.refresher!.refresh(), false)
  t.equal(m.metrics.keyRefresh.failed, 1)
  const warn = logs.find((l) => l.msg === 'session key refresh failed; the keys in force are kept')
  t.equal(warn?.err, 'the vault is sealed')
  t.equal(warn?.level, 40)
  t.equal((await app.inject({ url: '/read', cookies: { session: cookie } })).json().n, 1, 'the keys in force still open cookies')
})
