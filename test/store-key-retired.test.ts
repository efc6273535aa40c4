// A stored session's key in the store derives from the key that was current when the session
// began (skid). Once that key leaves the key set, the session ends, even if its cookie was since
// re-sealed under a current key: its stored data can no longer be found or trusted.
import t from 'tap'
import { build, engine, sessionCookie, KEY1, KEY2 } from './helpers/app.js'
import { MemoryStore } from '../lib/stores/memory.js'

for (const [what, options, payload] of [
  ['offloaded data', {}, { n: 1, blob: 'x'.repeat(6000) }],
  ['revocation (data in the cookie)', { revocation: true }, { n: 1 }]
] as const) {
  t.test(`${what}: the begin-time key removed => empty session, store_invalid`, async (t) => {
    const store = new MemoryStore()
    const old = await build(t, { keys: KEY1.entry, store, ...options })
    const first = sessionCookie(await old.app.inject({ method: 'POST', url: '/put', payload }))!.value

    // Rotation: KEY2 current, KEY1 decrypt-only; the cookie is re-sealed under KEY2.
    const rotating = await build(t, { keys: `${KEY2.entry},${KEY1.entry}`, store, ...options })
    const res = await rotating.app.inject({ url: '/read', cookies: { session: first } })
    t.equal(res.json().n, 1)
    const resealed = sessionCookie(res)!.value
    t.equal(JSON.parse(Buffer.from(resealed.split('.')[0]!, 'base64url').toString()).kid, KEY2.kid, 're-sealed under the new key')
    t.equal((await rotating.app.inject({ url: '/read', cookies: { session: resealed } })).json().n, 1, 'still found under the rotation')

    const retired = await build(t, { keys: KEY2.entry, store, ...options })
    const after = await retired.app.inject({ url: '/read', cookies: { session: resealed } })
    t.equal(after.statusCode, 200)
    t.equal(after.json().n, null)
    t.equal(engine(retired.app).metrics.rejected.store_invalid, 1)
    t.equal(engine(retired.app).metrics.opened, 0)
  })
}
