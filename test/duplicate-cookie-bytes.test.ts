// A second session cookie counts only when the cookie parser itself reads its name as the
// session's: look-alike names (a no-break space, %-encoding) are other cookies and leave the
// victim's session alone, while spaces and tabs, which the parser strips, still make a duplicate.
// Written as raw bytes over a real socket: an HTTP client would refuse or re-encode them.
import t from 'tap'
import { connect, type AddressInfo } from 'node:net'
import { build, engine, sessionCookie } from './helpers/app.js'

const NAME = '__Host-sid'

/** Sends one GET with a Cookie header of exactly these bytes; the status and the JSON body. */
function rawGet (port: number, cookie: Buffer): Promise<{ status: number, body: any }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (d) => chunks.push(d))
    socket.on('error', reject)
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const status = Number(text.slice(9, 12))
      resolve({ status, body: JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) })
    })
    socket.end(Buffer.concat([
      Buffer.from('GET /read HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: ', 'latin1'),
      cookie,
      Buffer.from('\r\n\r\n', 'latin1')
    ]))
  })
}

const bytes = (...parts: (string | number[])[]): Buffer =>
  Buffer.concat(parts.map((p) => typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p)))

t.test('look-alike names are other cookies; blanks the parser strips still make a duplicate', async (t) => {
  const { app } = await build(t, { cookieName: NAME, cookie: { secure: true } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as AddressInfo).port
  const victim = sessionCookie(await app.inject({ method: 'POST', url: '/incr' }), NAME)!.value
  const metrics = engine(app).metrics

  const kept: [string, Buffer][] = [
    ['0xA0 before the name', bytes([0xa0], `${NAME}=x; ${NAME}=${victim}`)],
    ['0xA0 before the name, after the victim', bytes(`${NAME}=${victim}; `, [0xa0], `${NAME}=x`)],
    ['0xA0 after the name', bytes(`${NAME}`, [0xa0], `=x; ${NAME}=${victim}`)],
    ['0xA0 between a space and the name', bytes(`${NAME}=${victim}; `, [0xa0, 0x20], `${NAME}=x`)],
    ['%-encoded name', bytes(`__Host%2Dsid=x; ${NAME}=${victim}`)],
    ['%-encoded letter', bytes(`${NAME}=${victim}; __Host-s%69d=x`)]
  ]
  for (const [what, header] of kept) {
    const res = await rawGet(port, header)
    t.equal(res.status, 200, what)
    t.equal(res.body.n, 1, `${what}: the victim's session is used`)
  }
  t.equal(metrics.rejected.duplicate, 0, 'none of them counted')

  const duplicates: [string, Buffer][] = [
    ['tab before the name', bytes(`${NAME}=${victim};\t${NAME}=x`)],
    ['tab after the name', bytes(`${NAME}\t=x; ${NAME}=${victim}`)],
    ['spaces around the name', bytes(`${NAME}=${victim};   ${NAME}  =x`)],
    ['no blank at all', bytes(`${NAME}=${victim};${NAME}=x`)]
  ]
  for (const [what, header] of duplicates) {
    const res = await rawGet(port, header)
    t.equal(res.status, 200, what)
    t.equal(res.body.n, null, `${what}: no session at all`)
  }
  t.equal(metrics.rejected.duplicate, duplicates.length, 'each counted once as duplicate')
})
