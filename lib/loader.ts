// Cookie value → Session, for one registration: authenticates the token (remembering the tokens
// already authenticated), checks its claims, fetches offloaded data and asks the user's list.
// Refusals are an empty session, counted and logged at debug; untrusted input never throws here.
import type { FastifyBaseLogger } from 'fastify'
import type { Codec, RejectReason } from './codec.js'
import { parseClaims, type Claims, type SessionRecord } from './claims.js'
import type { KeyEntry } from './keys/keyring.js'
import { errors } from './errors.js'
import { refusalAt } from './lifetime.js'
import type { Metrics } from './metrics.js'
import { Session, type Lifetime } from './session.js'
import type { Storage } from './storage.js'
import { TokenCache } from './token-cache.js'
import type { UserSessions } from './users.js'
import type { Config } from './options.js'

/** Stands for "two cookies of the session's name in one request". */
export const DUPLICATE = Symbol('duplicate session cookie')

/** An authentic token's plaintext and key; `token` is set when it was just decrypted. */
interface Known {
  plaintext: string
  entry: KeyEntry
  token?: string
  /**
   * In the cache only: the plaintext's claims, set when this instance sealed the token or else
   * parsed and checked on its first reuse. Their data is shared by every later request with this
   * token and never changed (see Session).
   */
  claims?: Claims
  /**
   * The store key (an HMAC of the session id) once derived for this token's session: a token in
   * the cache comes back request after request, and deriving the key cost as much as a small seal.
   */
  storeKey?: StoreKey
}

/** A derived store key and the session id and kid it was derived from. */
type StoreKey = NonNullable<Session['storeKey']>

/** A cache entry: the exact token it stands for, and what it was found to hold. */
interface Cached extends Known {
  exact: string
}

// The cache is keyed by a number made of the first 7 characters of a token's GCM tag (its last 22
// characters, random like the IV that produced them): 42 bits, so two live tokens of 10,000 share
// a key about once in 10^5 fillings, and then one just misses the cache. A hit still requires the
// whole token to be identical. Not a string: hashing a 4 KB token for every lookup cost more than
// the lookup saved, and V8 internalizes a string Map key on every get, set and delete (a string
// table lookup and a copy: 0.7 µs of the 10 µs of a small write).
const TAG_LENGTH = 22
const KEY_CHARS = 7
function cacheKey (token: string): number {
  let key = 0
  // Any string gives some number (NaN when it is too short): the exact match decides.
  for (let i = token.length - TAG_LENGTH, end = i + KEY_CHARS; i < end; i++) key = key * 128 + token.charCodeAt(i)
  return key
}

/** A token that passed every check: its claims, where they came from, and whether they are the cache's. */
export interface Authentic {
  claims: Claims
  opened: Known
  shared: boolean
}

/** What a token carries besides the claims: the data (as a record and as its JSON) or a store reference. */
export type Body = { dat: SessionRecord, json: string } | { ref: number }

export class SessionLoader {
  readonly #config: Config
  readonly #codec: Codec
  readonly #lifetime: Lifetime
  readonly #metrics: Metrics
  readonly #aud: string
  readonly #maxTokenLength: number
  readonly #storage: Storage | undefined
  readonly #users: UserSessions | undefined
  // Tokens known to be authentic, exact string match, to their plaintext: tokens this instance
  // sealed (the browser sends them back next) and tokens it opened that stay the browser's cookie.
  // A token replaced in a response is dropped (a cached one) or not kept (one just decrypted).
  // Audience and shape are checked when a token's claims are first parsed (they cannot change for
  // the same token), expiry on every use; a key-set change empties it.
  readonly #opened: TokenCache<Cached, number> | undefined

  constructor (config: Config, codec: Codec, lifetime: Lifetime, metrics: Metrics, aud: string, maxTokenLength: number, storage: Storage | undefined, users: UserSessions | undefined) {
    this.#config = config
    this.#codec = codec
    this.#lifetime = lifetime
    this.#metrics = metrics
    this.#aud = aud
    this.#maxTokenLength = maxTokenLength
    this.#storage = storage
    this.#users = users
    // Bytes: the token, its plaintext, and as much again for the claims parsed from it on reuse.
    this.#opened = config.cacheMax > 0
      ? new TokenCache<Cached, number>(config.cacheMax, 64 * 1024 * 1024, (_key, value) => value.exact.length + 2 * value.plaintext.length + 96)
      : undefined
  }

  /** After a key-set change: tokens cached under the old set are forgotten. */
  forget (): void {
    this.#opened?.clear()
  }

  /** Authenticates and checks a token. Never throws on untrusted input. */
  openClaims (token: string): Authentic | RejectReason {
    const cached = this.#opened?.get(cacheKey(token))
    if (cached !== undefined && cached.exact === token) {
      this.#metrics.cacheHits++
      const now = this.#lifetime.now()
      let claims = cached.claims
      if (claims === undefined) {
        // The audience and shape never change for a cached token; only time is checked again.
        const parsed = parseClaims(cached.plaintext, this.#aud, this.#lifetime, now)
        if (typeof parsed === 'string') return parsed
        claims = cached.claims = parsed
      } else {
        const refused = refusalAt(claims, this.#lifetime, now)
        if (refused !== undefined) return refused
      }
      return { claims, opened: cached, shared: true }
    }
    const result = this.#codec.open(token, this.#maxTokenLength)
    if (typeof result === 'string') return result
    const opened = { plaintext: result.plaintext.toString('utf8'), entry: result.entry, token }
    const claims = parseClaims(opened.plaintext, this.#aud, this.#lifetime, this.#lifetime.now())
    if (typeof claims === 'string') return claims
    return { claims, opened, shared: false }
  }

  /** After a response: the token the browser keeps is worth remembering. */
  remember (session: Session): void {
    const known = session.source as Known | undefined
    if (known?.token !== undefined && this.#opened !== undefined) {
      this.#opened.set(cacheKey(known.token), { plaintext: known.plaintext, entry: known.entry, exact: known.token, storeKey: known.storeKey })
    }
  }

  /**
   * A token just sealed for `session` from `plaintext` (`head` and `body` are its claims, `head`
   * without its last member): the browser sends it back on its next request, so knowing it saves
   * that decryption, and knowing its claims saves parsing them.
   */
  sealed (token: string, plaintext: string, head: Claims, body: Body, entry: KeyEntry, session: Session): void {
    if (this.#opened === undefined) return
    // The data is copied (strings, numbers and objects no route can reach are shared), so nothing
    // the route does with the session afterwards can reach the cached claims.
    const cached: Cached = { plaintext, entry, exact: token, storeKey: session.storeKey }
    if ('ref' in body) {
      cached.claims = Object.assign(head, { ref: body.ref })
    } else {
      const dat = session.snapshot(true)
      if (dat !== undefined) cached.claims = Object.assign(head, { dat })
    }
    // The token this one replaces is the browser's no longer: dropped now, its entry dies young
    // instead of outliving thousands of requests in the old generation of the heap. (A request
    // already on its way with it is decrypted instead.)
    // Added before the old one is deleted: a Map that a delete leaves less than half full shrinks
    // (V8 reallocates its table), which with one session on a fresh table was every request.
    this.#opened.set(cacheKey(token), cached)
    const replaced = session.source as Partial<Cached> | undefined
    if (replaced?.exact !== undefined) this.#opened.delete(cacheKey(replaced.exact))
  }

  /**
   * The session for a request's cookie value: the one it carries, or a new empty one when there is
   * no cookie or it is refused. Refusals all look the same to the client; only the log and the
   * counters know why.
   */
  load (token: string | undefined | typeof DUPLICATE, log: FastifyBaseLogger): Session {
    if (token === undefined || token === '') return new Session(this.#lifetime)
    if (token === DUPLICATE) {
      this.#refuse('duplicate', log)
      return new Session(this.#lifetime)
    }
    return this.#openNow(token, log, false)
  }

  /**
   * load() with a store configured, before loadAsync() could run (an app hook that runs before the
   * plugin's): a session that needs nothing from the store opens as in load(); one that does
   * cannot be vouched for synchronously, and saying so beats accepting an ended session or
   * handing out an empty one.
   */
  loadEarly (token: string, log: FastifyBaseLogger): Session {
    return this.#openNow(token, log, true)
  }

  // The synchronous open behind load() and loadEarly(); they differ only for a session that needs
  // the store: without one it is refused (store_missing), before the store's hook ran it is an error.
  #openNow (token: string, log: FastifyBaseLogger, early: boolean): Session {
    const result = this.openClaims(token)
    if (typeof result === 'string') {
      this.#refuse(result, log)
      return new Session(this.#lifetime)
    }
    if (this.#needsStore(result.claims)) {
      if (early) throw new errors.FST_ENCSESS_SESSION_NOT_LOADED()
      this.#refuse('store_missing', log)
      return new Session(this.#lifetime)
    }
    return this.#accept(result)
  }

  // Whether only the store can complete or vouch for a session with these claims: its data was
  // offloaded, it is on a user's list, or (revocation) it may have been ended. Sessions from before
  // the store was configured have no skid: nothing of theirs is stored.
  #needsStore (claims: Claims): boolean {
    return claims.dat === undefined ||
      (claims.usr !== undefined && this.#users !== undefined) ||
      (this.#config.revocation && claims.skid !== undefined)
  }

  /**
   * The loader used when a store is configured: it fetches offloaded data and, with revocation,
   * checks that the session was not ended. Refusals give an empty session as in load(); a store
   * that fails or times out rejects with FST_ENCSESS_STORE_UNAVAILABLE.
   */
  async loadAsync (token: string | undefined | typeof DUPLICATE, log: FastifyBaseLogger): Promise<Session> {
    const storage = this.#storage!
    if (token === undefined || token === '' || token === DUPLICATE) return this.load(token, log)
    const result = this.openClaims(token)
    if (typeof result === 'string') {
      this.#refuse(result, log)
      return new Session(this.#lifetime)
    }
    try {
      return await this.#loadStored(result, storage, log)
    } catch (err) {
      // The store failed: the request goes on, but its session data cannot be read or changed
      // (each attempt is a 503); delete() still works, so logout clears the cookie.
      const session = this.#accept(result)
      session.unavailable = err as Error
      return session
    }
  }

  async #loadStored (result: Authentic, storage: Storage, log: FastifyBaseLogger): Promise<Session> {
    const { claims } = result
    if (claims.usr !== undefined && this.#users !== undefined) {
      const allowed = this.#users.allows(claims)
      if (allowed !== true && (allowed === false || !await allowed)) {
        this.#refuse('revoked', log)
        return new Session(this.#lifetime)
      }
    }
    const needsStore = claims.ref !== undefined || this.#config.revocation
    if (!needsStore) return this.#accept(result)
    // Sessions from before the store was configured have no skid: nothing of theirs is stored.
    if (claims.skid === undefined) return this.#accept(result)
    const key = this.#keyOf(result.opened, claims.sid, claims.skid, storage)
    if (key === undefined) {
      this.#refuse('store_invalid', log)
      return new Session(this.#lifetime)
    }
    if (claims.ref === undefined) {
      if (await storage.isRevoked(key)) {
        this.#refuse('revoked', log)
        return new Session(this.#lifetime)
      }
      const session = this.#accept(result)
      session.storeKey = result.opened.storeKey
      return session
    }
    const stored = await storage.read(key, claims.sid, claims.ref)
    if (typeof stored === 'string') {
      this.#refuse(stored, log)
      return new Session(this.#lifetime)
    }
    const session = this.#accept(result, stored)
    session.storedVersion = stored.version
    session.jsonMemo = stored.memo
    session.storeKey = result.opened.storeKey
    return session
  }

  // Memoized on what the token opened to (the cache entry, for a cached token): the same session id
  // and kid always give the same key, and a key-set change empties the cache.
  #keyOf (opened: Known, sid: string, kid: string, storage: Storage): string | undefined {
    const memo = opened.storeKey
    if (memo !== undefined && memo.id === sid && memo.kid === kid) return memo.key
    const key = storage.keyOf(sid, kid)
    if (key !== undefined) opened.storeKey = { id: sid, kid, key }
    return key
  }

  /** `stored`: the offloaded data, when the claims only refer to it. */
  #accept ({ claims, opened, shared }: Authentic, stored?: { data: SessionRecord, shared: boolean }): Session {
    const session = new Session(this.#lifetime, claims, stored?.data, stored?.shared ?? shared).markLoaded()
    // Freshly decrypted (`token` set): remembered if the browser keeps it; a cache entry (`exact`
    // set): dropped if a write replaces it.
    session.source = opened
    this.#metrics.opened++
    this.#metrics.decrypted[opened.entry.kid]!++
    if (opened.entry !== this.#codec.ring.current) session.rotated = true
    return session
  }

  #refuse (reason: RejectReason, log: FastifyBaseLogger): void {
    this.#metrics.rejected[reason]++
    log.debug({ session: this.#config.sessionName, reason }, 'session cookie refused; continuing with an empty session')
  }

  /** For WebSocket upgrades and tests: the session a cookie value carries, or null if refused. */
  open (token: string): Session | null {
    const result = this.openClaims(token)
    if (typeof result === 'string' || this.#needsStore(result.claims)) return null
    return this.#accept(result)
  }
}
