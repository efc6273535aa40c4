// Session data that JSON cannot represent fails with FST_ENCSESS_INVALID_SESSION_DATA, naming the
// key and the problem: at set() when the value shows it, when the session is saved otherwise. Never
// a bare JSON.stringify error, never a cookie.
import t, { type Test } from 'tap'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { build, engine, sessionCookie } from './helpers/app.js'
import { MemoryStore } from '../lib/stores/memory.js'
import { MAX_DEPTH } from '../lib/session-data.js'

const nested = (levels: number): unknown => {
  let value: unknown = 'leaf'
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { inner: value }
  return value
}

type Action = (req: FastifyRequest) => void

async function run (t: Test, action: Action, options: Record<string, unknown> = {}): Promise<{ status: number, body: any, cookie: string | undefined }> {
  const { app } = await build(t, options, (app: FastifyInstance) => {
    app.post('/', async (req) => {
      action(req)
      return { ok: true }
    })
  })
  const res = await app.inject({ method: 'POST', url: '/' })
  return { status: res.statusCode, body: res.json(), cookie: sessionCookie(res)?.value }
}

t.test('set() refuses a cycle, a BigInt and nesting past the limit, naming the key', async (t) => {
  const cyclic: Record<string, unknown> = { a: 1 }
  cyclic.self = cyclic
  const cases: [string, unknown, RegExp][] = [
    ['cycle', cyclic, /"cycle".*cycle/],
    ['deep cycle', { list: [{ up: null as unknown }] }, /"deep cycle".*cycle/],
    ['bigint', 10n, /"bigint".*BigInt/],
    ['nested bigint', { ids: [1, 2, 3n] }, /"nested bigint".*BigInt/],
    ['too deep', nested(MAX_DEPTH + 1), new RegExp(`"too deep".*deeper than ${MAX_DEPTH} levels`)]
  ]
  const deep = cases[1]![1] as { list: [{ up: unknown }] }
  deep.list[0].up = deep
  for (const [key, value, message] of cases) {
    const res = await run(t, (req) => req.session.set(key, value))
    t.equal(res.status, 500, key)
    t.equal(res.body.code, 'FST_ENCSESS_INVALID_SESSION_DATA', key)
    t.match(res.body.message, message, `${key}: names the key and the problem`)
    t.equal(res.cookie, undefined, `${key}: no cookie`)
  }
})

t.test('what JSON represents is accepted: the depth limit itself, shared objects, toJSON', async (t) => {
  const shared = { name: 'ada' }
  const res = await run(t, (req) => {
    req.session.set('deep', nested(MAX_DEPTH))
    req.session.set('twice', { a: shared, b: [shared, shared] })
    req.session.set('when', new Date(0))
    req.session.set('plain', 'text')
  })
  t.equal(res.status, 200)
  t.ok(res.cookie)
})

t.test('a value changed in place after set() is caught when the session is saved', async (t) => {
  for (const store of [undefined, new MemoryStore()]) {
    const res = await run(t, (req) => {
      const profile: Record<string, unknown> = {}
      req.session.set('profile', profile)
      profile.self = profile
    }, { store })
    t.equal(res.status, 500)
    t.equal(res.body.code, 'FST_ENCSESS_INVALID_SESSION_DATA')
    t.match(res.body.message, /"profile".*cycle/)
    t.equal(res.cookie, undefined)
  }
})

t.test('a toJSON that fails is caught when the session is saved, naming what it can', async (t) => {
  const res = await run(t, (req) => req.session.set('amount', { toJSON: () => 5n }))
  t.equal(res.body.code, 'FST_ENCSESS_INVALID_SESSION_DATA')
  t.match(res.body.message, /"amount".*BigInt/)
  const whole = await run(t, (req) => {
    req.session.set('a', 1)
    ;(req.session.data() as Record<string, unknown>).toJSON = () => { throw new Error('broken toJSON') }
  })
  t.equal(whole.status, 500)
  t.equal(whole.body.code, 'FST_ENCSESS_INVALID_SESSION_DATA')
  t.match(whole.body.message, /the session as a whole.*broken toJSON/)
})

t.test('seal() outside HTTP refuses the same values', async (t) => {
  const { app } = await build(t)
  t.throws(() => engine(app).seal({ n: 1n }), { code: 'FST_ENCSESS_INVALID_SESSION_DATA' })
})
