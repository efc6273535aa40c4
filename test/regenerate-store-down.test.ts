// regenerate() must tombstone the identity it gives up: when the store cannot record that, the
// response fails (503) instead of sending a new cookie while the old one still opens.
import t from 'tap'
import { build, sessionCookie } from './helpers/app.js'
import { CountingStore } from './helpers/counting-store.js'
import type { StoreEntry } from '../lib/stores/store.js'

class TombstoneFailingStore extends CountingStore {
  failEnd = false
  override async set (key: string, entry: StoreEntry, ttl: number, expectedVersion?: number): Promise<boolean> {
    if (this.failEnd && entry.version === -1) throw new Error('store down')
    return super.set(key, entry, ttl, expectedVersion)
  }
}

t.test('revocation on, regenerate() while the store refuses the tombstone: 503, no Set-Cookie', async (t) => {
  const store = new TombstoneFailingStore()
  const { app } = await build(t, { store, revocation: true }, (app) => {
    app.post('/login', async (req) => {
      req.session.set('user', 'ada')
      return { ok: true }
    })
    app.post('/regen', async (req) => {
      req.session.regenerate()
      return { ok: true }
    })
  })
  const first = await app.inject({ method: 'POST', url: '/login' })
  const cookie = sessionCookie(first)!
  store.failEnd = true
  const res = await app.inject({ method: 'POST', url: '/regen', cookies: { session: cookie.value } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'FST_ENCSESS_STORE_UNAVAILABLE')
  t.equal(sessionCookie(res), undefined)
})
