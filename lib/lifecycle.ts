// Where the plugin meets Fastify: the request decorator that loads a session when it is first
// touched, and the onSend hook that writes Set-Cookie only when the browser's copy is out of date.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { SessionManager } from './manager.js'
import type { Session } from './session.js'

type Slot = Record<symbol, Session | null>

export function attach (fastify: FastifyInstance, manager: SessionManager): void {
  const { sessionName, cookieName } = manager.config
  const kSession = Symbol(`fastify-encrypted-session:${sessionName}`)

  const cookieOf = (request: FastifyRequest): string | undefined =>
    request.cookies != null ? request.cookies[cookieName] : fastify.parseCookie(request.headers.cookie ?? '')[cookieName]

  fastify.decorateRequest(kSession as unknown as string, null)
  // A getter, so a route that never reads the session never pays for decrypting it.
  fastify.decorateRequest(sessionName, {
    getter (this: FastifyRequest): Session {
      const slot = this as unknown as Slot
      return slot[kSession] ?? (slot[kSession] = manager.load(cookieOf(this), this.log))
    }
  })

  fastify.addHook('onSend', function saveSession (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: Error | null, payload?: unknown) => void) {
    const session = (request as unknown as Slot)[kSession]
    if (session == null) {
      done(null, payload)
      return
    }
    let header: string | undefined
    try {
      header = manager.commit(session, request.protocol === 'https', request.log)
    } catch (err) {
      // The error reply runs onSend again; it must go out without a session cookie, not retry.
      ;(request as unknown as Slot)[kSession] = null
      done(err as Error)
      return
    }
    if (header !== undefined) reply.header('set-cookie', header)
    done(null, payload)
  })
}
