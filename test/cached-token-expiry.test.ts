// The token cache answers a known cookie without decrypting it, but never past its deadlines: the
// absolute (exp) and idle (idl) expiry are checked again on every cache hit, at the exact second.
import t, { type Test } from 'tap'
import { build, engine, sessionCookie } from './helpers/app.js'

const T = 1_900_000_000

async function cachedCookie (t: Test, options: Record<string, unknown>) {
  const { app } = await build(t, options)
  const m = engine(app)
  let now = T
  m.lifetime.now = () => now
  const value = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  const read = async (at: number) => {
    now = at
    const hits = m.metrics.cacheHits
    const res = await app.inject({ url: '/read', cookies: { session: value } })
    t.equal(res.statusCode, 200)
    t.equal(m.metrics.cacheHits, hits + 1, `served from the cache at T+${at - T}`)
    return res.json().n
  }
  return { m, read }
}

t.test('absolute expiry on a cache hit: valid at exp - 1, refused at exp', async (t) => {
  const { m, read } = await cachedCookie(t, { maxAge: 100 })
  t.equal(await read(T + 99), 1)
  t.equal(m.metrics.rejected.expired, 0)
  t.equal(await read(T + 100), null)
  t.equal(m.metrics.rejected.expired, 1)
})

t.test('idle expiry on a cache hit: valid at idl - 1, refused at idl', async (t) => {
  const { m, read } = await cachedCookie(t, { maxAge: 1000, idleTimeout: 100, rolling: false })
  t.equal(await read(T + 99), 1)
  t.equal(m.metrics.rejected.idle, 0)
  t.equal(await read(T + 100), null)
  t.equal(m.metrics.rejected.idle, 1)
  t.equal(m.metrics.rejected.expired, 0)
})
