// One registration's engine: turns a cookie value into a Session (through loader.ts) and a Session
// back into a Set-Cookie value. It holds everything per registration (keys, cache, counters), never
// globally.
import { createHash } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { Codec, type RejectReason } from './codec.js'
import { claimsHead, serializeClaims, isRecord, stringifyRecord, type Claims, type SessionRecord } from './claims.js'
import { cookieWriter, type CookieWriter } from './cookie.js'
import { errors } from './errors.js'
import { KeyRing } from './keys/keyring.js'
import { nowSeconds } from './lifetime.js'
import { parseKeySet, type RawKey } from './keys/parse.js'
import type { KeyRefresher } from './keys/refresher.js'
import { SessionLoader, type Authentic, type Body, type DUPLICATE } from './loader.js'
import { Metrics } from './metrics.js'
import { Session, type Lifetime } from './session.js'
import { dataJson } from './session-data.js'
import { Storage } from './storage.js'
import { UserSessions } from './users.js'
import type { Config } from './options.js'

interface Rendered {
  plaintext: string
  /** The claims without their last member, which is `body`. */
  head: Claims
  body: Body
  maxAge: number
  /** Length of the whole Set-Cookie value this would become. */
  length: number
}

export class SessionManager {
  readonly config: Config
  readonly metrics: Metrics
  readonly codec: Codec
  readonly lifetime: Lifetime
  readonly #aud: string
  /** The audience as JSON, rendered once for every token this instance seals. */
  readonly #audJson: string
  readonly #writer: CookieWriter
  readonly #affinityWriter: CookieWriter | undefined
  // Cookie value → Session, and the memory of tokens already authenticated.
  readonly #loader: SessionLoader
  /** The largest cookie value we could have produced: anything longer is refused unread. */
  readonly maxTokenLength: number
  /** Present when a store is configured. */
  readonly storage: Storage | undefined

  /** Present with the userKey option: the per-user lists of sessions. */
  readonly users: UserSessions | undefined

  /** Present when the keys come from a provider. */
  refresher: KeyRefresher | undefined

  constructor (config: Config, log: FastifyBaseLogger) {
    this.config = config
    const ring = new KeyRing(config.keys)
    this.metrics = new Metrics(ring.kids)
    // Every seal uses a random IV under some key: counting them per kid is the AES-GCM usage
    // budget, and the operator hears about it once a key is due for rotation.
    this.codec = new Codec(ring, (kid) => {
      // With A256KW every token has its own content key, so the key ring's key spends no GCM budget.
      if (++this.metrics.sealed[kid]! === config.usageWarnAt && !config.keyWrap) {
        log.warn({ session: config.sessionName, kid, sealed: config.usageWarnAt, limit: config.usageLimit }, 'session key has used its warning share of the AES-GCM usage budget; rotate it (see "Rotating keys" in the README)')
      }
    }, config.keyWrap)
    this.lifetime = { maxAge: config.maxAge, idleTimeout: config.idleTimeout, now: nowSeconds }
    this.#aud = `${config.audience}#${config.cookieName}`
    this.#audJson = JSON.stringify(this.#aud)
    this.#writer = cookieWriter(config.cookieName, config.cookie)
    this.#affinityWriter = config.affinityCookie === undefined ? undefined : cookieWriter(config.affinityCookie, config.cookie)
    this.maxTokenLength = config.maxCookieSize - config.cookieName.length - 1
    this.storage = config.store === undefined
      ? undefined
      : new Storage(config.store, this.codec, this.#aud, config.storeTimeout, this.metrics, config.cacheMax)
    this.users = config.userKey === undefined
      ? undefined
      : new UserSessions(config.store!, this.storage!, this.codec, this.#aud, config.sessionName, config.userKey, config.userMeta, () => this.lifetime.now(), config.cacheMax)
    this.#loader = new SessionLoader(config, this.codec, this.lifetime, this.metrics, this.#aud, this.maxTokenLength, this.storage, this.users)
    // Fail at register, not on the first request, if the cookie attributes are unusable.
    this.#writer.serialize('x', 0, true)
  }

  get keyFingerprint (): string {
    return this.codec.ring.fingerprint
  }

  /** Replaces the whole key set in one step; tokens cached under the old set are forgotten. */
  replaceKeys (keys: unknown): void {
    this.replaceRawKeys(parseKeySet(keys))
  }

  replaceRawKeys (keys: RawKey[]): void {
    const ring = new KeyRing(keys)
    this.codec.ring = ring
    this.metrics.addKids(ring.kids)
    this.#loader.forget()
    this.storage?.forget()
  }

  /** Authenticates and checks a token. Never throws on untrusted input. */
  openClaims (token: string): Authentic | RejectReason {
    return this.#loader.openClaims(token)
  }

  /**
   * The session for a request's cookie value: the one it carries, or a new empty one when there is
   * no cookie or it is refused (see loader.ts).
   */
  load (token: string | undefined | typeof DUPLICATE, log: FastifyBaseLogger): Session {
    return this.#loader.load(token, log)
  }

  /** With a store, before loadAsync() ran: see SessionLoader.loadEarly. */
  loadEarly (token: string, log: FastifyBaseLogger): Session {
    return this.#loader.loadEarly(token, log)
  }

  /** load() when a store is configured: fetches offloaded data and checks revocation. */
  loadAsync (token: string | undefined | typeof DUPLICATE, log: FastifyBaseLogger): Promise<Session> {
    return this.#loader.loadAsync(token, log)
  }

  /**
   * The Set-Cookie value this response needs for `session`, or undefined when the browser's copy
   * is still right. Throws a coded error rather than send a cookie the browser would drop.
   */
  commit (session: Session, https: boolean, log: FastifyBaseLogger): string | undefined {
    if (session.deleted) return this.#writer.clear(https, session.cookieOptions)
    if (!session.needsSeal(this.config.rolling)) {
      this.#loader.remember(session)
      return undefined
    }
    if (session.rotated) this.metrics.rotated++
    const cookie = this.#render(session, { dat: session.record, json: dataJson(session.record, JSON.stringify) }, https)
    if (cookie.length > this.config.maxCookieSize) this.#tooLarge(cookie.length, log)
    return this.#seal(cookie, session, https)
  }

  /**
   * commit() with a store: large sessions go to the store and the cookie carries a reference;
   * ended identities are tombstoned; data that shrank returns to the cookie. A store failure
   * rejects (503) and a lost compare-and-set rejects (409): never a cookie pointing at data that
   * was not stored. Logout is the exception: its cookie is cleared even when the store is down.
   */
  async commitAsync (session: Session, https: boolean, log: FastifyBaseLogger, request?: unknown): Promise<string | undefined> {
    const storage = this.storage!
    const listing = this.users?.commit(session, log, request)
    if (listing !== undefined) await listing
    await this.#endRetired(session, storage, log)
    if (session.deleted) return this.#writer.clear(https, session.cookieOptions)
    // Its data could not be loaded, so it cannot have changed: the browser keeps its cookie.
    if (session.unavailable !== undefined) return undefined
    if (!session.needsSeal(this.config.rolling)) {
      this.#loader.remember(session)
      return undefined
    }
    if (session.rotated) this.metrics.rotated++
    session.storeKid ??= this.codec.ring.current.kid
    // Stringified once: the same JSON goes into the cookie or, when too large for it, the store.
    const { json, memo } = dataJson(session.record, (record) => stringifyRecord(record, session.jsonMemo))
    const inCookie = this.#render(session, { dat: session.record, json }, https)
    // The store key (an HMAC) is computed only when the store is touched: a session that fits in
    // its cookie and never left it costs nothing more than without a store.
    if (inCookie.length <= this.config.maxCookieSize) {
      if (session.storedVersion > 0) {
        // Back under the line: the cookie holds the data again and the stored copy must go. A
        // failed delete does not fail the response: the cookie no longer points at the entry and
        // it expires with the session anyway.
        this.metrics.returnedToCookie++
        await storage.remove(this.#storeKey(session, storage)!).catch((err) => log.warn({ session: this.config.sessionName, err }, 'could not delete an offloaded session that returned to its cookie'))
      }
      return this.#seal(inCookie, session, https)
    }
    const version = session.storedVersion + 1
    const ttl = Math.max(1, session.remaining())
    // For the store's cache: with data shared from the cache, the few objects this request owns are
    // copied (far cheaper than parsing all of it again); otherwise the JSON is kept and parsed on the
    // next read, which costs less than copying every object now.
    const snapshot = session.snapshot(session.sharesData)
    if (!await storage.write(this.#storeKey(session, storage)!, session.id, version, session.storedVersion, snapshot, json, ttl, memo)) {
      log.info({ session: this.config.sessionName }, 'offloaded session changed or ended by another request; this change was refused')
      throw new errors.FST_ENCSESS_STORE_CONFLICT()
    }
    if (session.storedVersion === 0) this.metrics.offloaded++
    session.storedVersion = version
    const reference = this.#render(session, { ref: version }, https)
    if (reference.length > this.config.maxCookieSize) this.#tooLarge(reference.length, log)
    return this.#seal(reference, session, https)
  }

  // The HMAC is derived once per request: the load that read the entry already has it.
  #storeKey (session: Session, storage: Storage): string | undefined {
    const kid = session.storeKid!
    const memo = session.storeKey
    if (memo !== undefined && memo.id === session.id && memo.kid === kid) return memo.key
    const key = storage.keyOf(session.id, kid)
    if (key !== undefined) session.storeKey = { id: session.id, kid, key }
    return key
  }

  // Identities given up by delete() or regenerate(): tombstone those that could be in a browser or
  // the store, so neither a racing request nor (with revocation) a copied cookie brings them back.
  async #endRetired (session: Session, storage: Storage, log: FastifyBaseLogger): Promise<void> {
    for (const old of session.retired) {
      if (!old.issued || old.storeKid === undefined) continue
      if (old.storedVersion === 0 && !this.config.revocation) continue
      const key = storage.keyOf(old.id, old.storeKid)
      if (key === undefined) continue
      try {
        await storage.end(key, old.until - this.lifetime.now())
      } catch (err) {
        // Logout must still clear the cookie; anything else cannot go on without the tombstone.
        if (!session.deleted) throw err
        log.error({ session: this.config.sessionName, err }, 'store unavailable at logout: cookie cleared, but the ended session could not be recorded')
      }
    }
    session.retired.length = 0
  }

  #tooLarge (bytes: number, log: FastifyBaseLogger): never {
    this.metrics.tooLarge++
    log.error({ session: this.config.sessionName, bytes, limit: this.config.maxCookieSize }, 'session cookie too large; response refused')
    throw new errors.FST_ENCSESS_COOKIE_TOO_LARGE(bytes, this.config.maxCookieSize)
  }

  // The exact Set-Cookie length of a session, known before sealing (GCM adds no bytes), so a
  // session bound for the store is never sealed into a cookie first just to be measured.
  #render (session: Session, body: Body, https: boolean): Rendered {
    // The claims with the data's JSON (or the reference) spliced in as the last member.
    const claims: Claims = session.claims(this.#aud)
    const plaintext = `${claimsHead(claims, this.#audJson)},${'json' in body ? `"dat":${body.json}` : `"ref":${body.ref}`}}`
    const maxAge = session.remaining()
    const length = this.#writer.overhead(maxAge, https, session.cookieOptions) +
      this.codec.sealedLength(Buffer.byteLength(plaintext), this.codec.ring.current)
    return { plaintext, maxAge, length, head: claims, body }
  }

  #seal (rendered: Rendered, session: Session, https: boolean): string {
    const entry = this.codec.ring.current
    const token = this.codec.seal(rendered.plaintext, entry)
    this.#loader.sealed(token, rendered.plaintext, rendered.head, rendered.body, entry, session)
    return this.#writer.serialize(token, rendered.maxAge, https, session.cookieOptions)
  }

  sealClaims (claims: Claims): string {
    return this.codec.seal(serializeClaims(claims))
  }

  /**
   * The load-balancer affinity value of a session: stable for the session's id, and a one-way hash
   * of it, so it reveals nothing about the id and opens nothing (it is not a token).
   */
  affinity (sessionId: string): string {
    return createHash('sha256').update(`fastify-encrypted-session affinity\0${this.#aud}\0${sessionId}`).digest('base64url').slice(0, 22)
  }

  /** The Set-Cookie for the affinity cookie that goes with a session cookie just written. */
  affinityCookie (session: Session, https: boolean): string | undefined {
    const writer = this.#affinityWriter
    if (writer === undefined) return undefined
    if (session.deleted) return writer.clear(https, session.cookieOptions)
    return writer.serialize(this.affinity(session.id), session.remaining(), https, session.cookieOptions)
  }

  /** For WebSocket upgrades and tests: a new session holding `data`, sealed as a cookie value. */
  seal (data: SessionRecord = {}): string {
    if (!isRecord(data)) throw new TypeError('seal(data) takes a plain object')
    const session = new Session(this.lifetime)
    for (const [k, v] of Object.entries(data)) session.set(k, v)
    return this.sealClaims(session.claims(this.#aud, { dat: session.record }))
  }

  endUserSessions (userId: unknown, options?: { except?: string | { id: string } }): Promise<number> {
    return this.#users().endUserSessions(userId, options)
  }

  listUserSessions (userId: unknown): ReturnType<UserSessions['listUserSessions']> {
    return this.#users().listUserSessions(userId)
  }

  endSession (userId: unknown, sessionId: unknown): Promise<boolean> {
    return this.#users().endSession(userId, sessionId)
  }

  #users (): UserSessions {
    if (this.users === undefined) throw new errors.FST_ENCSESS_INVALID_OPTION('userKey', 'per-user sessions need the userKey option (and a store) on this registration')
    return this.users
  }

  /** For WebSocket upgrades and tests: the session a cookie value carries, or null if refused. */
  open (token: string): Session | null {
    return this.#loader.open(token)
  }
}
