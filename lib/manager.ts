// One registration's engine: turns a cookie value into a Session and a Session back into a
// Set-Cookie value. It holds everything per registration (keys, cache, counters), never globally.
import { LRUCache } from 'lru-cache'
import type { FastifyBaseLogger } from 'fastify'
import { Codec, type Opened, type RejectReason } from './codec.js'
import { parseClaims, serializeClaims, isRecord, type Claims, type SessionRecord } from './claims.js'
import { cookieWriter, type CookieWriter } from './cookie.js'
import { errors } from './errors.js'
import { KeyRing } from './keys/keyring.js'
import { parseKeySet } from './keys/parse.js'
import { Metrics } from './metrics.js'
import { Session, type Lifetime } from './session.js'
import type { Config } from './options.js'

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

export class SessionManager {
  readonly config: Config
  readonly metrics: Metrics
  readonly codec: Codec
  readonly lifetime: Lifetime
  readonly #aud: string
  readonly #writer: CookieWriter
  // Tokens that already authenticated once, exact string match, to their plaintext. Expiry and
  // context are still checked on every use; a key-set change empties it.
  readonly #opened: LRUCache<string, Opened> | undefined
  /** The largest cookie value we could have produced: anything longer is refused unread. */
  readonly maxTokenLength: number

  constructor (config: Config) {
    this.config = config
    const ring = new KeyRing(config.keys)
    this.codec = new Codec(ring)
    this.metrics = new Metrics(ring.kids)
    this.lifetime = { maxAge: config.maxAge, idleTimeout: config.idleTimeout, now: nowSeconds }
    this.#aud = `${config.audience}#${config.cookieName}`
    this.#writer = cookieWriter(config.cookieName, config.cookie)
    this.maxTokenLength = config.maxCookieSize - config.cookieName.length - 1
    this.#opened = config.cacheMax > 0
      ? new LRUCache<string, Opened>({
        max: config.cacheMax,
        maxSize: 64 * 1024 * 1024,
        sizeCalculation: (value, key) => key.length + value.plaintext.length + 64
      })
      : undefined
    // Fail at register, not on the first request, if the cookie attributes are unusable.
    this.#writer.serialize('x', 0, true)
  }

  get keyFingerprint (): string {
    return this.codec.ring.fingerprint
  }

  /** Replaces the whole key set in one step; tokens cached under the old set are forgotten. */
  replaceKeys (keys: unknown): void {
    const ring = new KeyRing(parseKeySet(keys))
    this.codec.ring = ring
    this.metrics.addKids(ring.kids)
    this.#opened?.clear()
  }

  /** Authenticates and checks a token. Never throws on untrusted input. */
  openClaims (token: string): { claims: Claims, opened: Opened } | RejectReason {
    let opened = this.#opened?.get(token)
    if (opened !== undefined) {
      this.metrics.cacheHits++
    } else {
      const result = this.codec.open(token, this.maxTokenLength)
      if (typeof result === 'string') return result
      opened = result
      this.#opened?.set(token, opened)
    }
    const claims = parseClaims(opened.plaintext, this.#aud, this.lifetime.now())
    if (typeof claims === 'string') return claims
    return { claims, opened }
  }

  /**
   * The session for a request's cookie value: the one it carries, or a new empty one when there is
   * no cookie or it is refused. Refusals all look the same to the client; only the log and the
   * counters know why.
   */
  load (token: string | undefined, log: FastifyBaseLogger): Session {
    if (token === undefined || token === '') return new Session(this.lifetime)
    const result = this.openClaims(token)
    if (typeof result === 'string') {
      this.#refuse(result, log)
      return new Session(this.lifetime)
    }
    const { claims, opened } = result
    if (claims.dat === undefined) {
      // Offloaded data needs the store, which only the async loader has.
      this.#refuse('store_missing', log)
      return new Session(this.lifetime)
    }
    return this.#accept(claims, opened)
  }

  #accept (claims: Claims, opened: Opened, data?: SessionRecord): Session {
    const session = new Session(this.lifetime, claims, data).markLoaded()
    this.metrics.opened++
    this.metrics.decrypted[opened.entry.kid]!++
    if (opened.entry !== this.codec.ring.current) session.rotated = true
    return session
  }

  #refuse (reason: RejectReason, log: FastifyBaseLogger): void {
    this.metrics.rejected[reason]++
    log.debug({ session: this.config.sessionName, reason }, 'session cookie refused; continuing with an empty session')
  }

  /**
   * The Set-Cookie value this response needs for `session`, or undefined when the browser's copy
   * is still right. Throws a coded error rather than send a cookie the browser would drop.
   */
  commit (session: Session, https: boolean, log: FastifyBaseLogger): string | undefined {
    if (session.deleted) return this.#writer.clear(https, session.cookieOptions)
    if (!session.needsSeal(this.config.rolling)) return undefined
    if (session.rotated) this.metrics.rotated++
    const header = this.#cookieFor(session, { dat: session.data() as SessionRecord }, https)
    if (header.length > this.config.maxCookieSize) {
      this.metrics.tooLarge++
      log.error({ session: this.config.sessionName, bytes: header.length, limit: this.config.maxCookieSize }, 'session cookie too large; response refused')
      throw new errors.FST_ENCSESS_COOKIE_TOO_LARGE(header.length, this.config.maxCookieSize)
    }
    return header
  }

  #cookieFor (session: Session, body: { dat: SessionRecord } | { ref: number }, https: boolean): string {
    const token = this.sealClaims(session.claims(this.#aud, body))
    return this.#writer.serialize(token, session.remaining(), https, session.cookieOptions)
  }

  sealClaims (claims: Claims): string {
    const entry = this.codec.ring.current
    this.metrics.sealed[entry.kid]!++
    return this.codec.seal(serializeClaims(claims), entry)
  }

  /** For WebSocket upgrades and tests: a new session holding `data`, sealed as a cookie value. */
  seal (data: SessionRecord = {}): string {
    if (!isRecord(data)) throw new TypeError('seal(data) takes a plain object')
    const session = new Session(this.lifetime)
    for (const [k, v] of Object.entries(data)) session.set(k, v)
    return this.sealClaims(session.claims(this.#aud, { dat: session.data() as SessionRecord }))
  }

  /** For WebSocket upgrades and tests: the session a cookie value carries, or null if refused. */
  open (token: string): Session | null {
    const result = this.openClaims(token)
    if (typeof result === 'string' || result.claims.dat === undefined) return null
    return this.#accept(result.claims, result.opened)
  }
}
