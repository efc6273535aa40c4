// A stored value that authenticates under the session keys but does not hold JSON is refused like
// any other bad stored value: an empty session, counted as store_invalid, never a 5xx.
import t from 'tap'
import { CompactEncrypt, base64url } from 'jose'
import { build, engine, sessionCookie, KEY1 } from './helpers/app.js'
import { MemoryStore } from '../lib/stores/memory.js'
import type { SessionStore, StoreEntry } from '../lib/stores/store.js'

t.test('authentic stored value, not JSON: empty session, store_invalid', async (t) => {
  const memory = new MemoryStore()
  const keys: string[] = []
  // Our own store interface, recording which key the session was written under.
  const store: SessionStore = {
    get: (key) => memory.get(key),
    set: (key: string, entry: StoreEntry, ttl: number, expected?: number) => { keys.push(key); return memory.set(key, entry, ttl, expected) },
    delete: (key) => memory.delete(key)
  }
  const { app, logs } = await build(t, { store })
  const put = await app.inject({ method: 'POST', url: '/put', payload: { blob: 'x'.repeat(6000) } })
  const value = sessionCookie(put)!.value
  t.equal(new Set(keys).size, 1, 'offloaded under one key')
  const key = keys[0]!
  const stored = (await memory.get(key))!
  const forged = await new CompactEncrypt(new TextEncoder().encode('not json at all'))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: KEY1.kid })
    .encrypt(base64url.decode(KEY1.key))
  await memory.set(key, { version: stored.version, value: forged }, 3600)

  const res = await app.inject({ url: '/read', cookies: { session: value } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().n, null)
  t.equal(engine(app).metrics.rejected.store_invalid, 1)
  t.ok(logs.some((l) => l.reason === 'store_invalid'), 'a debug line says why')
})
