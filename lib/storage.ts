// Offloaded session data: where it lives in the store, how it is sealed there, and how long any
// request waits for it. Store keys are HMACs of the session id, values are JWEs bound to their
// session, version and purpose, so a store dump yields neither data nor working cookies.
import { createHmac } from 'node:crypto'
import type { Codec } from './codec.js'
import { isRecord, type JsonMemo, type SessionRecord } from './claims.js'
import { errors } from './errors.js'
import type { Metrics } from './metrics.js'
import type { SessionStore, StoreEntry } from './stores/store.js'
import { TokenCache } from './token-cache.js'
import { adoptRecord } from './record.js'

/**
 * A stored entry read back and authenticated, or why it could not be used. `shared` data is also
 * held by this instance's cache of stored values: the session must copy it before changing it.
 */
export type StoredData = { data: SessionRecord, version: number, shared: boolean, memo?: JsonMemo } | 'store_missing' | 'store_invalid' | 'revoked'

/** A stored value this instance wrote or authenticated, and the data it holds. */
interface KnownValue {
  sid: string
  version: number
  /** The exact sealed value: a read is answered from here only when the store returns this string. */
  value: string
  /**
   * The value up to its random IV (or undefined if it has no such part): what identifies this write
   * to a store that can compare it in place (SessionStore.getIfChanged) instead of returning the value.
   */
  head: string | undefined
  /** Never changed: shared with every session loaded from it, which copies before writing. */
  data?: SessionRecord
  /** Until `data` is needed: the data's JSON exactly as sealed into `value`. */
  json?: string
  /** The data's long strings that need no JSON escaping (see stringifyRecord), for the next write. */
  memo?: JsonMemo
}

/**
 * The longest sealed value the plugin writes, in characters (about 780 KB of session JSON). A
 * longer one in the store was not written by this plugin: it is refused unread where the store can
 * measure it in place (RedisStore), and never decrypted or parsed anywhere, so a planted 10 MB value
 * costs a request no more than a missing one.
 */
export const MAX_STORED_LENGTH = 1024 * 1024

/** Version that marks an ended session; see StoreEntry. */
export const TOMBSTONE = -1

export class Storage {
  readonly #store: SessionStore
  readonly #codec: Codec
  readonly #aud: string
  // The start of every stored plaintext, `{"aud":...,"sid":`, rendered once.
  readonly #head: string
  readonly #timeout: number
  readonly #metrics: Metrics
  // The stored value behind each session this instance last saw, by store key. The next request of
  // that session still fetches the value (the store is the truth: another instance may have written
  // since), but when the store returns exactly the string already authenticated here, its
  // decryption and JSON parsing (tens of microseconds at 16 KB) are skipped. Same reasoning as the
  // token cache: exact match of an authenticated ciphertext, bounded, emptied on key change.
  readonly #known: TokenCache<KnownValue> | undefined

  constructor (store: SessionStore, codec: Codec, aud: string, timeout: number, metrics: Metrics, cacheMax = 0) {
    this.#store = store
    this.#codec = codec
    // A stored value carries its own audience, so it can never pass as a cookie (and vice versa).
    this.#aud = `${aud}#store`
    this.#head = `{"aud":${JSON.stringify(this.#aud)},"sid":`
    this.#timeout = timeout
    this.#metrics = metrics
    // Bytes: the sealed value, and about as much again for the data parsed from it.
    this.#known = cacheMax > 0
      ? new TokenCache<KnownValue>(cacheMax, 64 * 1024 * 1024, (key, known) => key.length + 2 * known.value.length + memoLength(known.memo) + 96)
      : undefined
  }

  /** Forgets every stored value authenticated so far: the keys that did so may be gone. */
  forget (): void {
    this.#known?.clear()
  }

  /**
   * The store key of a session: HMAC of its id under a key derived from the key that was current
   * when the session began (`storeKid`), so every copy of the session's cookie, before or after a
   * rotation, points at the same entry. Undefined when that key has left the ring.
   */
  keyOf (sid: string, storeKid: string): string | undefined {
    const entry = this.#codec.ring.byKid(storeKid)
    return entry === undefined ? undefined : createHmac('sha256', entry.storeKey).update(sid).digest('base64url')
  }

  /**
   * Reads and authenticates a session's data, at version `atLeast` or newer. Newer is normal: a
   * write whose response never reached the browser (a timeout) may still have landed, and the
   * cookie then names the version before it. Older is refused: that is a stale value put back.
   */
  async read (key: string, sid: string, atLeast: number): Promise<StoredData> {
    const known = this.#known?.get(key)
    let entry: StoreEntry | undefined | 'oversized'
    if (known?.head !== undefined && known.sid === sid && known.version >= atLeast && this.#store.getIfChanged !== undefined) {
      // The store compares the start of what it holds with the value known here: the version and the
      // value's random IV name one write (an IV never repeats under a key), so a match is that same
      // value, and the whole value need not cross the network to be compared here.
      const got = await this.#call('read', this.#store.getIfChanged(key, known.version, known.head, MAX_STORED_LENGTH))
      if (got === 'unchanged') {
        this.#metrics.store.hits++
        return this.#fromKnown(known)
      }
      entry = got
    } else {
      entry = await this.#call('read', this.#store.get(key, MAX_STORED_LENGTH))
    }
    if (entry === undefined) {
      this.#metrics.store.misses++
      return 'store_missing'
    }
    this.#metrics.store.hits++
    if (entry === 'oversized') return 'store_invalid'
    if (entry.version === TOMBSTONE) return 'revoked'
    if (entry.version < atLeast || typeof entry.value !== 'string') return 'store_invalid'
    if (known !== undefined && known.value === entry.value && known.version === entry.version && known.sid === sid) {
      return this.#fromKnown(known)
    }
    // A value too long to be ours is refused before any decoding or decryption.
    const opened = this.#codec.open(entry.value, MAX_STORED_LENGTH)
    if (typeof opened === 'string') return 'store_invalid'
    let body: unknown
    try {
      body = JSON.parse(opened.plaintext.toString('utf8'))
    } catch {
      return 'store_invalid'
    }
    // Bound to this session and to the version stored beside it: a value copied from another key,
    // or relabelled with another version, is refused even though it decrypts.
    if (!isRecord(body) || body.aud !== this.#aud || body.sid !== sid || body.ver !== entry.version || !isRecord(body.dat)) {
      return 'store_invalid'
    }
    adoptRecord(body.dat)
    if (this.#known === undefined) return { data: body.dat, version: entry.version, shared: false }
    this.#known.set(key, { sid, version: entry.version, value: entry.value, head: headOf(entry.value), data: body.dat })
    return { data: body.dat, version: entry.version, shared: true }
  }

  #fromKnown (known: KnownValue): StoredData {
    this.#metrics.storedCacheHits++
    if (known.data === undefined) {
      // The JSON that was sealed: parsing it gives exactly what decrypting the value would.
      known.data = adoptRecord(JSON.parse(known.json!) as object)
      known.json = undefined
    }
    return { data: known.data, version: known.version, shared: true, memo: known.memo }
  }

  /** True when the session was ended (a tombstone is stored for it). */
  async isRevoked (key: string): Promise<boolean> {
    const entry = await this.#call('revocation check', this.#store.get(key, MAX_STORED_LENGTH))
    return entry !== 'oversized' && entry?.version === TOMBSTONE
  }

  /**
   * Writes version `version` of a session's data if the stored version is still `expected`.
   * Resolves false when another request got there first (or the session was ended).
   */
  async write (key: string, sid: string, version: number, expected: number, copy: SessionRecord | undefined, dataJson: string, ttl: number, memo?: JsonMemo): Promise<boolean> {
    // dataJson is the session data already stringified for the cookie-size check: not done twice.
    const value = this.#codec.seal(`${this.#head}${JSON.stringify(sid)},"ver":${version},"dat":${dataJson}}`)
    if (value.length > MAX_STORED_LENGTH) throw new errors.FST_ENCSESS_SESSION_TOO_LARGE(value.length, MAX_STORED_LENGTH)
    // Forgotten first: whatever happens to this write, the value known before it is not current.
    this.#known?.delete(key)
    const written = await this.#call('write', this.#store.set(key, { version, value }, ttl, expected))
    if (!written) {
      this.#metrics.store.conflicts++
      return false
    }
    // The session's next request reads this value back, and must get what was sealed, whatever the
    // route does with its objects afterwards: `copy` (see Session.snapshot) shares nothing the route
    // can reach; without one, the JSON just sealed is kept and parsed on the first read.
    if (this.#known !== undefined) {
      const head = headOf(value)
      this.#known.set(key, copy === undefined ? { sid, version, value, head, json: dataJson, memo } : { sid, version, value, head, data: copy, memo })
    }
    return true
  }

  /** Marks a session ended for `ttl` seconds: no compare-and-set matches it, revocation sees it. */
  async end (key: string, ttl: number): Promise<void> {
    this.#known?.delete(key)
    const tombstone: StoreEntry = { version: TOMBSTONE, value: '' }
    await this.#call('end', this.#store.set(key, tombstone, Math.max(1, ttl)))
  }

  async remove (key: string): Promise<void> {
    this.#known?.delete(key)
    await this.#call('delete', this.#store.delete(key))
  }

  /** A store call made elsewhere (per-user records), bounded and counted like this file's own. */
  async bounded<T> (what: string, pending: Promise<T>): Promise<T> {
    return await this.#call(what, pending)
  }

  // Every store call is bounded: a store that hangs costs a request at most `timeout` ms, and a
  // late rejection after the timeout is absorbed instead of becoming an unhandled rejection.
  async #call<T> (what: string, pending: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new errors.FST_ENCSESS_STORE_UNAVAILABLE(`${what} took longer than storeTimeout (${this.#timeout} ms)`)), this.#timeout)
    })
    pending.catch(() => {})
    const started = performance.now()
    // The failure is handled after the try, so that no never-run continuation is left behind it.
    let failure: unknown
    try {
      return await Promise.race([pending, timeout])
    } catch (err) {
      failure = err
    } finally {
      clearTimeout(timer)
      this.#metrics.storeSeconds.observe((performance.now() - started) / 1000)
    }
    this.#metrics.store.errors++
    if ((failure as { code?: string }).code === 'FST_ENCSESS_STORE_UNAVAILABLE') throw failure
    throw new errors.FST_ENCSESS_STORE_UNAVAILABLE(`${what} failed`, { cause: failure })
  }
}

// The memo's strings are the data's own, but with data kept as JSON (see write) they are not
// otherwise held: counted in full.
function memoLength (memo: JsonMemo | undefined): number {
  let length = 0
  if (memo !== undefined) for (const value of memo.values()) length += value.length
  return length
}

/**
 * A compact JWE up to its IV (header, encrypted key, IV). Only values this codec just sealed or
 * authenticated get here, so all five parts and the 16-character IV are there.
 */
function headOf (value: string): string {
  const d2 = value.indexOf('.', value.indexOf('.') + 1)
  return value.slice(0, value.indexOf('.', d2 + 1))
}
