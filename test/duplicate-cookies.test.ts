// Two cookies of the session's name in one request (cookie tossing from a sibling domain): a fixed
// policy, never "first valid one wins": no session at all, counted as `duplicate`. Tested over a
// real socket, since inject builds its own Cookie header.
import t from 'tap'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { build, engine, sessionCookie } from './helpers/app.js'

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

  const alone = await get(port, '/read', `session=${mine}`)
  t.equal(JSON.parse(alone.body).id.length, 22)
  for (const header of [`session=${theirs}; session=${mine}`, `session=${mine}; session=${theirs}`, `session=${mine};session=${mine}`]) {
    const res = await get(port, '/read', header)
    t.equal(res.status, 200)
    t.same(JSON.parse(res.body).n, null, 'neither session is used')
    t.equal(res.setCookie, undefined)
  }
  t.equal(engine(app).metrics.rejected.duplicate, 3)
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
