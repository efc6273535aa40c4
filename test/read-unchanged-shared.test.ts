// A route that reads an object and leaves it as it was, then writes something else (the common
// write: read the user, bump a counter), does not make the next token's cached claims copy that
// object: they keep sharing the cache's. An object changed in place, in any way JSON sees, is
// what the next request reads, from the cache exactly as from a fresh decryption.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, sessionCookie, engine } from './helpers/app.js'

type Profile = Record<string, unknown> & { tags: unknown[] }
const changes: Record<string, (p: Profile) => void> = {
  none: () => {},
  name: (p) => { p.name = 'mallory' },
  push: (p) => { p.tags.push('admin') },
  date: (p) => { p.since = new Date(0) },
  undef: (p) => { p.name = undefined },
  nan: (p) => { p.score = NaN },
  reorder: (p) => { const name = p.name; delete p.name; p.name = name }
}

function routes (app: FastifyInstance): void {
  app.get('/seed', async (req) => {
    req.session.set('profile', { name: 'alice', tags: ['user'], score: 3 })
    req.session.set('n', 0)
    return 'ok'
  })
  app.get('/write/:change', async (req) => {
    changes[(req.params as { change: string }).change]!(req.session.get('profile') as Profile)
    req.session.set('n', (req.session.get('n') as number) + 1)
    return 'ok'
  })
  app.get('/show', async (req) => ({ profile: req.session.get('profile'), order: Object.keys(req.session.get('profile') as object) }))
}

async function cookieAfter (app: FastifyInstance, url: string, cookie?: string): Promise<string> {
  const res = await app.inject({ url, cookies: cookie === undefined ? {} : { session: cookie } })
  t.equal(res.statusCode, 200, url)
  return sessionCookie(res)!.value
}

t.test('an object read and left alone stays shared with the cache', async (t) => {
  const { app } = await build(t, {}, routes)
  const manager = engine(app)
  // Written twice, so that the second write starts from a session loaded from the cache.
  const first = await cookieAfter(app, '/write/none', await cookieAfter(app, '/seed'))
  const before = manager.openClaims(first)
  const next = await cookieAfter(app, '/write/none', first)
  const after = manager.openClaims(next)
  if (typeof before === 'string' || typeof after === 'string') throw new Error('token refused')
  t.ok(after.shared)
  t.equal(after.claims.dat!.profile, before.claims.dat!.profile, 'the same object, not a copy')
  t.equal(after.claims.dat!.n, 2)
})

t.test('an object changed in place reaches the next request as a fresh decryption reads it', async (t) => {
  const cached = await build(t, {}, routes)
  const uncached = await build(t, { cache: false }, routes)
  for (const change of Object.keys(changes)) {
    const seeded = await cookieAfter(cached.app, '/write/none', await cookieAfter(cached.app, '/seed'))
    const token = await cookieAfter(cached.app, `/write/${change}`, seeded)
    const hits = engine(cached.app).metrics.cacheHits
    const fromCache = (await cached.app.inject({ url: '/show', cookies: { session: token } })).json()
    t.equal(engine(cached.app).metrics.cacheHits, hits + 1, `${change}: read from the cache`)
    const decrypted = (await uncached.app.inject({ url: '/show', cookies: { session: token } })).json()
    t.strictSame(fromCache, decrypted, `${change}: the cache holds what the token holds`)
    if (change !== 'none' && change !== 'reorder') t.not(JSON.stringify(decrypted.profile), JSON.stringify({ name: 'alice', tags: ['user'], score: 3 }), `${change}: the change was saved`)
  }
})
