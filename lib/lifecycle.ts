// Where the plugin meets Fastify: the request decorator that loads a session when it is first
// touched, the onRequest hook that preloads it when a store may be needed, and the onSend hook that
// writes Set-Cookie only when the browser's copy is out of date.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { SessionManager } from './manager.js'
import { Session } from './session.js'
import { DUPLICATE } from './loader.js'

type Slot = Record<symbol, Session | null>
type Done = (err: Error | null, payload?: unknown) => void
type RequestDone = (err?: Error) => void

// Sessions handed to routes with `config: { encryptedSession: false }`: never loaded, never saved.
// Remembered here so the onSend hook need not look at the route again (request.routeOptions builds
// a new object on every access).
const detached = new WeakSet<Session>()

/** Seconds a client is told to wait after a store failure. */
const RETRY_AFTER = '1'

export function attach (fastify: FastifyInstance, manager: SessionManager): void {
  const { sessionName, cookieName } = manager.config
  const kSession = Symbol(`fastify-encrypted-session:${sessionName}`)
  // Sessions an app hook read before the plugin's onRequest hook, refused for an unknown kid.
  const retry = new WeakSet<Session>()

  // The session cookie's value; DUPLICATE when the request carries two cookies of this name (a
  // sibling domain can plant one): no "first valid one wins", the request gets no session at all.
  const cookieOf = (request: FastifyRequest): string | undefined | typeof DUPLICATE => {
    const raw = request.headers.cookie
    if (raw === undefined) return undefined
    const value = request.cookies != null ? request.cookies[cookieName] : fastify.parseCookie(raw)[cookieName]
    if (value === undefined) return undefined
    // Cheap test first: a second occurrence of the name anywhere; only then count exactly.
    const first = raw.indexOf(cookieName)
    if (raw.indexOf(cookieName, first + cookieName.length) !== -1 && countNamed(raw, cookieName) > 1) return DUPLICATE
    return value
  }
  // Routes with `config: { encryptedSession: false }` get no session handling at all.
  const skipped = (request: FastifyRequest): boolean => request.routeOptions.config?.encryptedSession === false

  fastify.decorateRequest(kSession as unknown as string, null)
  // A getter, so a route that never reads the session never pays for decrypting it.
  fastify.decorateRequest(sessionName, {
    getter (this: FastifyRequest): Session {
      const slot = this as unknown as Slot
      const current = slot[kSession]
      if (current != null) return current
      let session: Session
      if (skipped(this)) {
        session = new Session(manager.lifetime)
        detached.add(session)
      } else {
        const token = cookieOf(this)
        // With a store, the onRequest hook below loads sessions that carry a cookie; reaching here
        // first means an app hook that runs before it (see SessionLoader.loadEarly).
        if (manager.storage !== undefined && typeof token === 'string' && token !== '') {
          session = manager.loadEarly(token, this.log)
          // Refused for a kid this instance does not know yet: the key refresh hook runs before
          // the onRequest hook below, which then tries the cookie again.
          if (session.isNew && manager.refresher !== undefined && !manager.codec.knowsKid(token)) retry.add(session)
        } else {
          session = manager.load(token, this.log)
        }
      }
      slot[kSession] = session
      return session
    }
  })

  const failed = (request: FastifyRequest, reply: FastifyReply, err: Error, done: (err: Error) => void): void => {
    // The error reply runs onSend again; it must go out without a session cookie, not retry. An
    // error handler that touches the session meets the same error instead of a session loaded
    // again from the cookie.
    const spent = new Session(manager.lifetime)
    spent.unavailable = err
    detached.add(spent)
    ;(request as unknown as Slot)[kSession] = spent
    if ((err as { statusCode?: number }).statusCode === 503) reply.header('retry-after', RETRY_AFTER)
    done(err)
  }

  const refresher = manager.refresher
  if (refresher !== undefined) {
    // A key rolled out on another instance first: refresh (rate-limited) before this request's
    // cookie is opened, so the session is not lost while this instance catches up.
    fastify.addHook('onRequest', function refreshForUnknownKid (request: FastifyRequest, _reply: FastifyReply, done: RequestDone) {
      const token = cookieOf(request)
      if (typeof token !== 'string' || token === '' || manager.codec.knowsKid(token)) {
        done()
        return
      }
      refresher.unknownKid().then(() => done(), () => done())
    })
  }

  if (manager.storage !== undefined) {
    // Offloaded data and revocation need the store, which a synchronous getter cannot wait on;
    // requests without a cookie still cost nothing here.
    fastify.addHook('onRequest', function loadSession (request: FastifyRequest, reply: FastifyReply, done: RequestDone) {
      // Already loaded by an app hook that ran first (a session that needed nothing from the store,
      // or no session): loading it again would drop what that hook changed.
      const early = (request as unknown as Slot)[kSession]
      if (early != null && !retry.has(early)) {
        done()
        return
      }
      const token = cookieOf(request)
      if (token === undefined || token === '' || skipped(request)) {
        done()
        return
      }
      manager.loadAsync(token, request.log).then((session) => {
        (request as unknown as Slot)[kSession] = session
        done()
      }, (err: Error) => failed(request, reply, err, done))
    })

    fastify.addHook('onSend', function saveSession (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: Done) {
      const session = (request as unknown as Slot)[kSession]
      if (session == null || detached.has(session)) {
        done(null, payload)
        return
      }
      if (session.unavailable !== undefined && reply.statusCode === 503) reply.header('retry-after', RETRY_AFTER)
      manager.commitAsync(session, request.protocol === 'https', request.log, request).then((header) => {
        if (header !== undefined) setCookie(request, reply, session, header)
        done(null, payload)
      }, (err: Error) => failed(request, reply, err, done))
    })
    return
  }

  fastify.addHook('onSend', function saveSession (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: Done) {
    const session = (request as unknown as Slot)[kSession]
    if (session == null || detached.has(session)) {
      done(null, payload)
      return
    }
    let header: string | undefined
    try {
      header = manager.commit(session, request.protocol === 'https', request.log)
    } catch (err) {
      failed(request, reply, err as Error, done)
      return
    }
    if (header !== undefined) setCookie(request, reply, session, header)
    done(null, payload)
  })

  function setCookie (request: FastifyRequest, reply: FastifyReply, session: Session, header: string): void {
    manager.metrics.cookieBytes.observe(header.length)
    reply.header('set-cookie', header)
    const affinity = manager.affinityCookie(session, request.protocol === 'https')
    if (affinity !== undefined) reply.header('set-cookie', affinity)
  }
}

// Counts the cookies named `name` exactly as the cookie parser (jshttp's cookie, under
// @fastify/cookie) sees them: the name is what precedes the first "=" of each ";"-separated pair,
// with spaces and tabs stripped and nothing else. JavaScript's trim() would also strip a no-break
// space (byte 0xA0) and so count a look-alike "\u00a0name" that the parser reads as another
// cookie: whoever could plant one would end the victim's session on every request.
function countNamed (header: string, name: string): number {
  let n = 0
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq !== -1 && stripBlanks(pair.slice(0, eq)) === name) n++
  }
  return n
}

const BLANKS = /^[ \t]+|[ \t]+$/g
const stripBlanks = (text: string): string => text.replace(BLANKS, '')
