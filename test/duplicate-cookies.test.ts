// Two cookies of the session's name in one request (cookie tossing from a sibling domain): a fixed
// policy, never "first valid one wins": no session at all, counted as `duplicate`. Tested over a
// real socket, since inject builds its own Cookie header.
import t from 'tap'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { build, engine, sessionCookie } from './helpers/app.js'
import { CountingStore } from './helpers/counting-store.js'

function get (port: number, path: string, cookie: string): Promise<{ status: number, body: string, setCookie: string[] | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { cookie } }, (res) => {
      let body = ''
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode!, body, setCookie: res.headers['set-cookie'] }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('two valid session cookies: empty session, counted, whichever order', async (t) => {
  const { app } = await build(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as AddressInfo).port
  const mine = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { owner: 'victim' } }))!.value
  const theirs = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { owner: 'attacker' } }))!.value

  const mineId = JSON.parse((await get(port, '/read', `session=${mine}`)).body).id
  const theirsId = JSON.parse((await get(port, '/read', `session=${theirs}`)).body).id
  t.not(mineId, theirsId)
  for (const header of [`session=${theirs}; session=${mine}`, `session=${mine}; session=${theirs}`, `session=${mine};session=${mine}`]) {
    const res = await get(port, '/read', header)
    t.equal(res.status, 200)
    const { id } = JSON.parse(res.body)
    t.ok(id !== mineId && id !== theirsId, 'neither session is used: a fresh one')
    t.equal(res.setCookie, undefined)
  }
  t.equal(engine(app).metrics.rejected.duplicate, 3)
})

t.test('with a store (offloaded sessions, loaded before the route): the same policy, the store not asked', async (t) => {
  const store = new CountingStore()
  const { app } = await build(t, { store })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as AddressInfo).port
  const big = 'x'.repeat(6000)
  const mine = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { owner: 'victim', big } }))!.value
  const theirs = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { owner: 'attacker', big } }))!.value
  store.calls.length = 0
  const res = await get(port, '/read', `session=${theirs}; session=${mine}`)
  t.equal(res.status, 200)
  t.equal(JSON.parse(res.body).n, null)
  t.equal(res.setCookie, undefined)
  t.same(store.calls, [], 'neither stored session was read')
  t.equal(engine(app).metrics.rejected.duplicate, 1)
})

t.test('look-alike names are not duplicates', async (t) => {
  const { app } = await build(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as AddressInfo).port
  const token = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }))!.value
  for (const header of [`xsession=junk; session=${token}`, `session=${token}; session2=junk`, `session=${token}; my_session=${token}`]) {
    const res = await get(port, '/read', header)
    t.equal(JSON.parse(res.body).n, 1, header.replace(token, '<token>'))
  }
  t.equal(engine(app).metrics.rejected.duplicate, 0)
})

t.test('blanks around the name do not hide a second cookie (a parser trims them)', async (t) => {
  const { app } = await build(t)
  const victim = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { owner: 'victim' } }))!.value
  const attacker = sessionCookie(await app.inject({ method: 'POST', url: '/put', payload: { owner: 'attacker' } }))!.value
  const ids = new Set<string>()
  for (const token of [victim, attacker]) ids.add((await app.inject({ url: '/read', cookies: { session: token } })).json().id)
  t.equal(ids.size, 2)
  for (const header of [`session =${attacker}; session=${victim}`, `session=${victim}; session\t=${attacker}`, ` session \t=${attacker};session=${victim}`]) {
    const res = await app.inject({ url: '/read', headers: { cookie: header } })
    t.notOk(ids.has(res.json().id), 'a fresh session, neither of the two')
  }
  t.equal(engine(app).metrics.rejected.duplicate, 3)
})
