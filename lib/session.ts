// The per-request session: data plus the flags that tell the response what to write. It does no I/O
// and no crypto; lifecycle.ts reads its flags when the reply is sent.
import { randomBytes } from 'node:crypto'
import { copyJsonRecord, type Claims, type JsonMemo, type SessionRecord } from './claims.js'
import type { CookieAttributes } from './cookie.js'
import { checkSessionValue } from './session-data.js'
import { cloneJson, copyRecord, newRecord } from './record.js'

export interface Lifetime {
  /** Absolute lifetime in seconds. */
  maxAge: number
  /** Idle timeout in seconds, or 0 for none. */
  idleTimeout: number
  /** Current time in whole seconds; a function so tests and callers share one notion of now. */
  now: () => number
}

export function newSessionId (): string {
  return randomBytes(16).toString('base64url')
}

/** What is left to clean up of an identity a session gave up. */
export interface Retired {
  id: string
  storeKid: string | undefined
  storedVersion: number
  /** Seconds since the epoch until which copies of its cookie would still be accepted. */
  until: number
  /** True when a cookie carried it in (a brand-new id never reached a browser or a store). */
  issued: boolean
  /** The user record it was listed in, if any (see users.ts). */
  user: string | undefined
}

export class Session<T extends object = SessionRecord> {
  #id: string
  #data: SessionRecord
  // A cache's parsed data (of a token, or of an offloaded value), shared by every request that
  // loads the same one and never changed by any: #data is this very record until the first write,
  // then a shallow copy of it. An object value still identical to #base's under the same key is
  // shared: handing it out (get(), data()) first replaces it with a private copy of that value
  // alone, and a write replaces only its own key. So a route that sets a counter copies no object,
  // and the claims cached for the next token can reuse every object no request could reach.
  #base: SessionRecord | undefined
  #lifetime: Lifetime
  /** When the session began (claims.iat). */
  #created: number
  #expires: number
  #idleUntil: number | undefined
  #cookieOptions: CookieAttributes | undefined
  /** Identities this session had before regenerate()/delete() in this request: their stored data must go. */
  readonly retired: Retired[] = []
  /** Version of the offloaded data this session was loaded from (0 when it lived in the cookie). */
  storedVersion: number
  /** With a store: the kid that derives this session's store key (see Storage.keyOf). */
  storeKid: string | undefined
  /** @internal The loaded data's long strings that need no JSON escaping, when the store's cache knew them. */
  jsonMemo: JsonMemo | undefined
  /** @internal The store key last derived for this session, with the id and kid it was derived from. */
  storeKey: { id: string, kid: string, key: string } | undefined
  /** @internal With userKey: the record of the user this session is listed under (claims.usr). */
  userRecord: string | undefined
  changed = false
  deleted = false
  /**
   * @internal What the loader knows of the token this session came from: freshly decrypted (to
   * remember if the browser keeps it) or its cache entry (to drop when a write replaces it).
   */
  source: unknown
  /** Opened with a decrypt-only key: re-seal with the current key on this response. */
  rotated = false
  #touched = false
  /**
   * Set when the store failed while loading this session's data: reading or changing the data
   * throws this error (a 503), while delete() still works so that logout clears the cookie.
   */
  unavailable: Error | undefined

  constructor (lifetime: Lifetime, claims?: Claims, data?: SessionRecord, shared = false) {
    this.#lifetime = lifetime
    if (claims === undefined) {
      this.#id = newSessionId()
      this.#data = newRecord()
      const now = lifetime.now()
      this.#created = now
      this.#expires = now + lifetime.maxAge
      this.#idleUntil = this.#nextIdleDeadline(now)
      this.storedVersion = 0
      this.storeKid = undefined
    } else {
      this.#id = claims.sid
      const loaded = data ?? claims.dat
      this.#data = loaded ?? newRecord()
      this.#base = shared ? loaded : undefined
      this.#created = claims.iat
      // A maxAge lowered since the token was sealed shortens it; a raised one never lengthens it.
      this.#expires = Math.min(claims.exp, claims.iat + lifetime.maxAge)
      this.#idleUntil = claims.idl
      this.storedVersion = claims.ref ?? 0
      this.storeKid = claims.skid
      this.userRecord = claims.usr
    }
  }

  /** The stable session id. It changes only on regenerate() or delete(). */
  get id (): string {
    return this.#id
  }

  /** True for a session that no cookie carried in (new, or the cookie was refused). */
  get isNew (): boolean {
    return !this.#loadedFromCookie
  }

  #loadedFromCookie = false
  /** @internal Called by the loader for a session that a valid cookie carried in. */
  markLoaded (): this {
    this.#loadedFromCookie = true
    return this
  }

  get<K extends keyof T & string> (key: K): T[K] | undefined {
    if (this.unavailable !== undefined) throw this.unavailable
    if (!Object.hasOwn(this.#data, key)) return undefined
    const value = this.#data[key]
    // An object handed out may be changed in place by the caller: it must be this request's own.
    if (this.#isShared(key, value)) return this.#ownValue(key, value) as T[K]
    return value as T[K]
  }

  set<K extends keyof T & string> (key: K, value: T[K] | undefined): void {
    if (typeof key !== 'string') throw new TypeError('session keys must be strings')
    if (this.unavailable !== undefined) throw this.unavailable
    checkSessionValue(key, value)
    this.#revive()
    const data = this.#detach()
    if (value === undefined) delete data[key]
    else data[key] = value
    this.changed = true
  }

  /** The session data as a plain object. Mutating it does not mark the session changed; use set(). */
  data (): Partial<T> {
    if (this.unavailable !== undefined) throw this.unavailable
    // The caller may change anything in it from now on: nothing in it may be shared any more.
    const data = this.#detach()
    for (const key in data) if (this.#isShared(key, data[key])) this.#ownValue(key, data[key])
    this.#base = undefined
    return data as Partial<T>
  }

  /** @internal The data for serializing, without the private copy data() would make. Read-only. */
  get record (): SessionRecord {
    return this.#data
  }

  /**
   * @internal A copy of the data for a cache to keep, exactly what parsing its JSON would give,
   * sharing what no route can change: strings, numbers, and objects still shared with the record
   * this session was loaded from. Objects of this request's own are copied, or with `copyOwn`
   * false make it undefined; so does any value that JSON would not give back unchanged.
   */
  snapshot (copyOwn: boolean): SessionRecord | undefined {
    return copyJsonRecord(this.#data, copyOwn, this.#base)
  }

  /** @internal True when some of the data is shared with a cache (see #base). */
  get sharesData (): boolean {
    return this.#base !== undefined
  }

  /** Ends the session: the response clears the cookie. A set() afterwards starts a fresh session. */
  delete (): void {
    this.#retire()
    this.unavailable = undefined
    this.userRecord = undefined
    this.#id = newSessionId()
    this.#data = newRecord()
    this.#base = undefined
    this.deleted = true
    this.changed = false
  }

  /** New id and new lifetime; data is dropped except the listed keys (the login-time defence against fixation). */
  regenerate (keep: readonly (keyof T & string)[] = []): void {
    if (this.unavailable !== undefined) throw this.unavailable
    // Kept objects that are still shared stay so: they are compared with #base by identity.
    const data = this.#data
    const kept = newRecord()
    for (const key of keep) if (Object.hasOwn(data, key)) kept[key] = data[key]
    this.#retire()
    this.#id = newSessionId()
    this.#data = kept
    this.#restartLifetime()
    this.deleted = false
    this.changed = true
  }

  /** Marks the session active: the idle deadline moves forward and the cookie is re-sent. */
  touch (): void {
    if (this.unavailable !== undefined) throw this.unavailable
    this.#touched = true
  }

  /** Per-response cookie attributes (merged over the registered ones). */
  options (opts: CookieAttributes): void {
    this.#cookieOptions = { ...this.#cookieOptions, ...opts }
    this.changed = true
  }

  get cookieOptions (): CookieAttributes | undefined {
    return this.#cookieOptions
  }

  get createdAt (): number {
    return this.#created
  }

  get expiresAt (): number {
    return this.#expires
  }

  get idleExpiresAt (): number | undefined {
    return this.#idleUntil
  }

  /**
   * Whether the response must carry a new cookie. With rolling idle expiry the cookie is re-sealed
   * only once half the idle window has passed, so a busy client does not cost a seal per request.
   */
  needsSeal (rolling: boolean): boolean {
    if (this.changed || this.rotated || this.#touched) return true
    if (!rolling || this.#idleUntil === undefined || this.isNew) return false
    const next = this.#nextIdleDeadline(this.#lifetime.now())!
    return next - this.#idleUntil >= this.#lifetime.idleTimeout / 2
  }

  /** Claims for sealing now: the idle deadline moves to now + idleTimeout, never past expiry. */
  claims (aud: string, body?: { dat: SessionRecord } | { ref: number }): Claims {
    this.#idleUntil = this.#nextIdleDeadline(this.#lifetime.now())
    const c: Claims = { sid: this.#id, aud, iat: this.#created, exp: this.#expires }
    if (this.#idleUntil !== undefined) c.idl = this.#idleUntil
    if (this.storeKid !== undefined) c.skid = this.storeKid
    if (this.userRecord !== undefined) c.usr = this.userRecord
    return body === undefined ? c : Object.assign(c, body)
  }

  /** Seconds until the cookie must be gone: the nearer of the idle and absolute deadlines. */
  remaining (): number {
    const until = this.#idleUntil === undefined ? this.#expires : Math.min(this.#idleUntil, this.#expires)
    return Math.max(0, until - this.#lifetime.now())
  }

  #nextIdleDeadline (now: number): number | undefined {
    const idle = this.#lifetime.idleTimeout
    return idle > 0 ? Math.min(now + idle, this.#expires) : undefined
  }

  #restartLifetime (): void {
    const now = this.#lifetime.now()
    this.#created = now
    this.#expires = now + this.#lifetime.maxAge
    this.#idleUntil = this.#nextIdleDeadline(now)
    // A new id is a new session: nothing stored yet, and its store key comes from today's key.
    this.storedVersion = 0
    this.storeKid = undefined
    this.userRecord = undefined
  }

  /** #data, made this session's own record (its values may still be shared) before a change. */
  #detach (): SessionRecord {
    if (this.#data === this.#base) this.#data = copyRecord(this.#base)
    return this.#data
  }

  #isShared (key: string, value: unknown): boolean {
    return value !== null && typeof value === 'object' && this.#base !== undefined && this.#base[key] === value
  }

  // Shared data came from JSON.parse, so cloneJson gives exactly what a JSON round trip would.
  #ownValue (key: string, value: unknown): unknown {
    const copy = cloneJson(value)
    this.#detach()[key] = copy
    return copy
  }

  #retire (): void {
    this.retired.push({
      id: this.#id,
      storeKid: this.storeKid,
      storedVersion: this.storedVersion,
      until: this.#idleUntil === undefined ? this.#expires : Math.min(this.#idleUntil, this.#expires),
      issued: this.#loadedFromCookie && this.retired.length === 0,
      user: this.userRecord
    })
  }

  // A write after delete() begins a new session rather than resurrecting the ended one.
  #revive (): void {
    if (!this.deleted) return
    this.deleted = false
    this.#restartLifetime()
  }
}
