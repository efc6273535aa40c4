// The demo's per-user routes (example/users-routes.ts): the list of the user's sessions with the
// current one marked, "sign out other devices", and ending one session from the list.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { KEY1, sessionCookie } from './helpers/app.js'

// The built demo (npm run build), as test/demo.test.ts loads it: the demo's SessionData declaration
// stays out of the tests' compilation.
const { buildDemo } = require('../dist/example/app.js') as { buildDemo: (opts: { keys: string }) => Promise<FastifyInstance> }

t.test('demo: list, sign out other devices, end one', async (t) => {
  const app = await buildDemo({ keys: KEY1.entry })
  t.teardown(() => app.close())
  const login = async (agent: string): Promise<string> => sessionCookie(await app.inject({
    method: 'POST', url: '/login', headers: { 'user-agent': agent, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'user=ada'
  }))!.value
  const user = async (cookie: string): Promise<unknown> => (await app.inject({ url: '/api/state', cookies: { session: cookie } })).json().user
  const laptop = await login('laptop')
  const phone = await login('phone')
  const tablet = await login('tablet')
  const list = (await app.inject({ url: '/api/sessions', cookies: { session: laptop } })).json()
  t.same(list.map((s: { meta: { device: string }, current: boolean }) => [s.meta.device, s.current]), [['laptop', true], ['phone', false], ['tablet', false]])
  const end = await app.inject({ method: 'POST', url: '/sessions/end', cookies: { session: laptop }, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `id=${list[1].id}` })
  t.equal(end.statusCode, 303)
  t.equal(await user(phone), null, 'the phone was signed out')
  const others = await app.inject({ method: 'POST', url: '/sessions/others', cookies: { session: laptop } })
  t.equal(others.statusCode, 303)
  t.equal(await user(tablet), null)
  t.equal(await user(laptop), 'ada', 'this device stays')
  for (const url of ['/sessions/others', '/sessions/end']) t.equal((await app.inject({ method: 'POST', url })).statusCode, 401)
  t.equal((await app.inject({ url: '/api/sessions' })).statusCode, 401)
  const noId = await app.inject({ method: 'POST', url: '/sessions/end', cookies: { session: laptop } })
  t.equal(noId.statusCode, 303)
})
