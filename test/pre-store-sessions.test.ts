// Turning on revocation (which needs a store) keeps the sessions issued before: their cookies name
// no store key (no skid), nothing of theirs can be in the store, so they are accepted without a
// store read, and become stored sessions on their next write.
import t from 'tap'
import { build, sessionCookie, KEY1 } from './helpers/app.js'
import { CountingStore } from './helpers/counting-store.js'
import { claimsOf } from './helpers/claims.js'

t.test('a cookie from before the store: read without the store, then re-issued with a skid', async (t) => {
  const before = await build(t)
  const value = sessionCookie(await before.app.inject({ method: 'POST', url: '/incr' }))!.value
  t.equal((await claimsOf(value, KEY1)).skid, undefined, 'no store key in the old cookie')

  const store = new CountingStore()
  const after = await build(t, { store, revocation: true })
  const read = await after.app.inject({ url: '/read', cookies: { session: value } })
  t.equal(read.json().n, 1)
  t.same(store.calls, [], 'the store was not asked')
  const next = await after.app.inject({ method: 'POST', url: '/incr', cookies: { session: value } })
  t.equal(next.json().n, 2)
  t.equal((await claimsOf(sessionCookie(next)!.value, KEY1)).skid, KEY1.kid, 'the new cookie names its store key')
})
