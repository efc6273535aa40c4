// Sessions inside @fastify/websocket routes, as the README states it: the handler can read the
// session the upgrade request's cookie carries, but what it writes is not saved, because the 101
// response has already gone out (the reply is hijacked, so no onSend, no Set-Cookie). A real
// WebSocket handshake against an app listening on 127.0.0.1.
import t, { type Test } from 'tap'
import { request } from 'node:http'
import { randomBytes } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyWebsocket from '@fastify/websocket'
import { plugin, KEY1, sessionCookie } from './helpers/app.js'

interface Opened {
  status: number | undefined
  headers: IncomingHttpHeaders
  /** The first text message the server sent. */
  message: string
}

/**
 * Opens a WebSocket with a raw HTTP upgrade (so the 101's headers can be inspected) and reads the
 * server's first frame. Server frames are unmasked; the messages here are short text frames.
 */
async function openSocket (t: Test, base: string, path: string, cookie: string): Promise<Opened> {
  return await new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        cookie
      }
    })
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)))
    req.on('error', reject)
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      let buffered = head
      const frame = (): void => {
        if (buffered.length < 2) return
        const length = buffered[1]! & 0x7f
        if (buffered.length < 2 + length) return
        t.equal(buffered[0], 0x81, 'a single unfragmented text frame')
        t.ok(length < 126, 'a short frame')
        socket.destroy()
        resolve({ status: res.statusCode, headers: res.headers, message: buffered.subarray(2, 2 + length).toString('utf8') })
      }
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk])
        frame()
      })
      socket.on('error', reject)
      frame()
    })
    req.end()
  })
}

async function buildApp (): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(plugin, { keys: KEY1.entry, cookie: { secure: false } })
  await app.register(fastifyWebsocket)
  app.post('/login', async (req) => {
    req.session.set('user', 'ada')
    req.session.set('visits', 1)
    return 'ok'
  })
  app.get('/me', async (req) => ({ user: req.session.get('user') ?? null, visits: req.session.get('visits') ?? null }))
  app.get('/ws', { websocket: true }, (socket, req) => {
    const visits = ((req.session.get('visits') as number | undefined) ?? 0) + 1
    // This write is what the test shows to be lost.
    req.session.set('visits', visits)
    socket.send(JSON.stringify({ user: req.session.get('user') ?? null, visits }))
  })
  return app
}

t.test('a websocket handler reads the session; its writes do not persist', async (t) => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const base = await app.listen({ host: '127.0.0.1', port: 0 })

  const login = await app.inject({ method: 'POST', url: '/login' })
  t.equal(login.statusCode, 200)
  const cookie = `session=${sessionCookie(login)!.value}`

  const opened = await openSocket(t, base, '/ws', cookie)
  t.equal(opened.status, 101, 'the handshake succeeded')
  t.same(JSON.parse(opened.message), { user: 'ada', visits: 2 }, 'the handler read the session from the upgrade request\'s cookie')
  t.equal(opened.headers['set-cookie'], undefined, 'the 101 response carries no Set-Cookie')

  const me = await fetch(`${base}/me`, { headers: { cookie } })
  t.equal(me.status, 200)
  t.equal(me.headers.get('set-cookie'), null)
  t.same(await me.json(), { user: 'ada', visits: 1 }, 'the write made in the websocket handler was not saved')
})

t.test('without a cookie the websocket handler sees an empty session', async (t) => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const opened = await openSocket(t, base, '/ws', 'other=1')
  t.equal(opened.status, 101)
  t.same(JSON.parse(opened.message), { user: null, visits: 1 }, 'no user, no visits yet')
  t.equal(opened.headers['set-cookie'], undefined, 'and nothing is set')
})
