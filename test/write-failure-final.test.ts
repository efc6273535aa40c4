// A write that failed with 503 is final: the error reply neither retries the store write nor
// carries a Set-Cookie, even when the store has recovered by the time the error reply is sent.
import t from 'tap'
import { build, sessionCookie } from './helpers/app.js'
import { CountingStore } from './helpers/counting-store.js'
import type { StoreEntry } from '../lib/stores/store.js'

/** Fails its first write, then works: a store that recovers between a reply and its error reply. */
class FailsOnce extends CountingStore {
  failures = 1
  override async set (key: string, entry: StoreEntry, ttl: number, expectedVersion?: number): Promise<boolean> {
    if (this.failures > 0) {
      this.failures--
      this.calls.push('set failed')
      throw new Error('connection reset')
    }
    return super.set(key, entry, ttl, expectedVersion)
  }
}

t.test('an offloaded write that failed: 503, one write attempt, no Set-Cookie', async (t) => {
  const store = new FailsOnce()
  const { app } = await build(t, { store }, (app) => {
    app.post('/big', async (req) => { req.session.set('big', 'x'.repeat(6000)); return 'ok' })
  })
  const res = await app.inject({ method: 'POST', url: '/big' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'FST_ENCSESS_STORE_UNAVAILABLE')
  t.equal(res.headers['retry-after'], '1')
  t.equal(res.headers['set-cookie'], undefined, 'no cookie on the error reply')
  t.same(store.calls, ['set failed'], 'the write was not tried again')
  // The store works now: the next request writes normally.
  const next = await app.inject({ method: 'POST', url: '/big' })
  t.equal(next.statusCode, 200)
  t.ok(sessionCookie(next))
})
