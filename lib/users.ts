// Per-user sessions (the userKey option): "sign out everywhere" and a user's list of sessions.
// An allow-list, so that every failure narrows access: a session bound to a user is accepted only
// while its id is listed in that user's record in the store. Ending sessions rewrites the record; a
// store that forgot everything (a Redis restart) forgets the lists, and their sessions are refused.
// Each instance keeps the records it read in a bounded cache, trusted only while the store's
// watch (see SessionStore.watch) proves that changes announced elsewhere have reached it: then a
// request of a user-bound session costs no store round trip at all.
import { createHmac } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Codec } from './codec.js'
import { isRecord, type Claims, type SessionRecord } from './claims.js'
import { errors } from './errors.js'
import type { Session } from './session.js'
import type { Storage } from './storage.js'
import type { SessionStore, StoreEntry, StoreWatch } from './stores/store.js'
import { TokenCache } from './token-cache.js'

/** Most sessions listed per user and key: a login past it ends that user's oldest session. */
export const MAX_USER_SESSIONS = 64
/** Most bytes of JSON that userMeta may attach to one listed session. */
export const MAX_META_BYTES = 512
const MAX_USER_ID_LENGTH = 1024
// Two logins of one user at the same moment race on one record: the loser reads it again.
const ATTEMPTS = 8
const RECORD_PREFIX = 'u:'

export type UserKey = (data: SessionRecord) => unknown
export type UserMeta = (request: unknown) => unknown

/** One listed session, as the record holds it (sealed) and listUserSessions returns it. */
export interface ListedSession {
  id: string
  createdAt: number
  expiresAt: number
  meta?: SessionRecord
}

interface UserList {
  version: number
  list: ListedSession[]
}

/**
 * A user id as userKey gives it: undefined or null for "no user", a non-empty string or a finite
 * number (as its decimal string, so 42 and '42' are one user), or false for anything else.
 */
function userIdOf (value: unknown): string | undefined | false {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : false
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_USER_ID_LENGTH ? value : false
}

function checkUserId (value: unknown): string {
  const id = userIdOf(value)
  if (typeof id !== 'string') throw new errors.FST_ENCSESS_INVALID_USER_ID(typeof value)
  return id
}

export class UserSessions {
  readonly #store: SessionStore
  readonly #storage: Storage
  readonly #codec: Codec
  readonly #aud: string
  readonly #name: string
  readonly #userKey: UserKey
  readonly #userMeta: UserMeta | undefined
  readonly #now: () => number
  // Record key to the session ids it lists, as read from the store.
  readonly #cache: TokenCache<Set<string>>
  readonly #watch: StoreWatch | undefined
  // Counts announcements: a read that saw one arrive while it was under way is not cached.
  #epoch = 0

  constructor (store: SessionStore, storage: Storage, codec: Codec, aud: string, name: string, userKey: UserKey, userMeta: UserMeta | undefined, now: () => number, cacheMax: number) {
    this.#store = store
    this.#storage = storage
    this.#codec = codec
    this.#aud = `${aud}#users`
    this.#name = name
    this.#userKey = userKey
    this.#userMeta = userMeta
    this.#now = now
    this.#cache = new TokenCache<Set<string>>(Math.max(1, cacheMax), 16 * 1024 * 1024, (key, ids) => key.length + 48 * ids.size + 96)
    this.#watch = store.watch?.((key) => {
      this.#epoch++
      if (key === undefined) this.#cache.clear()
      else this.#cache.delete(key)
    })
  }

  close (): void {
    this.#watch?.close()
  }

  /** True while records cached here may be trusted (see SessionStore.watch): for health checks. */
  get live (): boolean {
    return this.#watch?.live === true
  }

  /**
   * The key of a user's record: an HMAC of the id under the store key of `kid` (the key that was
   * current when the session began, like its store key), bound to this registration.
   */
  #recordKey (userId: string, kid: string): string | undefined {
    const entry = this.#codec.ring.byKid(kid)
    return entry === undefined ? undefined : createHmac('sha256', entry.storeKey).update(`users\0${this.#aud}\0${userId}`).digest('base64url')
  }

  /**
   * Is this user-bound session (claims.usr set) still listed in its user's record? Answered at
   * once from the cache (a request then awaits nothing), else by reading the record.
   */
  allows (claims: Claims): boolean | Promise<boolean> {
    // Bound under a key that has left the ring: endUserSessions could no longer find its record.
    if (this.#codec.ring.byKid(claims.skid!) === undefined) return false
    const live = this.live
    if (live && this.#cache.get(claims.usr!)?.has(claims.sid) === true) return true
    return this.#fetch(claims.usr!, claims.sid, live)
  }

  async #fetch (key: string, sid: string, live: boolean): Promise<boolean> {
    const epoch = this.#epoch
    const ids = new Set((await this.#read(key)).list.map((s) => s.id))
    if (live && this.live && epoch === this.#epoch) this.#cache.set(key, ids)
    return ids.has(sid)
  }

  /**
   * Before a session's response is sealed: lists it under the user its data names (login,
   * regenerate), unlists it when that changes (logout by data), and unlists the identities it gave
   * up (delete, regenerate). A userKey that fails or gives no usable id ends the session.
   */
  commit (session: Session, log: FastifyBaseLogger, request: unknown): Promise<void> | undefined {
    const bind = !session.deleted && session.unavailable === undefined && session.changed
    // Most responses change nothing here: they cost no promise.
    if (!bind && !session.retired.some((old) => old.user !== undefined)) return undefined
    return this.#commit(session, log, request, bind)
  }

  async #commit (session: Session, log: FastifyBaseLogger, request: unknown, bind: boolean): Promise<void> {
    if (bind) await this.#bind(session, log, request)
    for (const old of session.retired) {
      const key = old.user
      if (key === undefined) continue
      old.user = undefined
      try {
        await this.#change(key, (list) => without(list, old.id))
      } catch (err) {
        // As with tombstones: logout still clears the cookie; anything else needs the record.
        if (!session.deleted) throw err
        log.error({ session: this.#name, err }, 'store unavailable at logout: cookie cleared, but the session could not be removed from its user\'s list')
      }
    }
  }

  async #bind (session: Session, log: FastifyBaseLogger, request: unknown): Promise<void> {
    let id: string | undefined | false
    try {
      id = userIdOf(this.#userKey(session.record))
    } catch {
      id = false
    }
    session.storeKid ??= this.#codec.ring.current.kid
    const wanted = id === undefined ? undefined : id === false ? false : this.#recordKey(id, session.storeKid) ?? false
    if (wanted === false) {
      log.warn({ session: this.#name }, 'userKey gave no usable user id (a non-empty string or a finite number), or the session\'s store key is retired: the session was ended')
      session.delete()
      return
    }
    if (wanted === session.userRecord) return
    const previous = session.userRecord
    session.userRecord = undefined
    if (previous !== undefined) await this.#change(previous, (list) => without(list, session.id))
    if (wanted === undefined) return
    const entry: ListedSession = { id: session.id, createdAt: session.createdAt, expiresAt: session.expiresAt }
    const meta = this.#meta(request, log)
    if (meta !== undefined) entry.meta = meta
    await this.#change(wanted, (list) => {
      // Past the bound, the oldest other sessions go (never the one logging in).
      const others = list.filter((s) => s.id !== entry.id).sort((a, b) => a.createdAt - b.createdAt)
      return [...others.slice(Math.max(0, others.length - MAX_USER_SESSIONS + 1)), entry]
    })
    session.userRecord = wanted
  }

  #meta (request: unknown, log: FastifyBaseLogger): SessionRecord | undefined {
    if (this.#userMeta === undefined) return undefined
    let json: string | undefined
    try {
      const value = this.#userMeta(request)
      if (value === undefined) return undefined
      json = isRecord(value) ? JSON.stringify(value) : undefined
    } catch {}
    if (json === undefined || Buffer.byteLength(json) > MAX_META_BYTES) {
      log.warn({ session: this.#name }, `userMeta must return a plain object of at most ${MAX_META_BYTES} bytes of JSON (or undefined), and not throw; the session is listed without it`)
      return undefined
    }
    return JSON.parse(json) as SessionRecord
  }

  /** Ends every listed session of the user but `except`; resolves how many were ended. */
  async endUserSessions (userId: unknown, options?: { except?: string | { id: string } }): Promise<number> {
    const id = checkUserId(userId)
    const except = typeof options?.except === 'string' ? options.except : options?.except?.id
    let ended = 0
    for (const key of this.#keysOf(id)) {
      const { before, after } = await this.#change(key, (list) => {
        const kept = list.filter((s) => s.id === except)
        return kept.length === list.length ? undefined : kept
      })
      ended += before.length - after.length
    }
    return ended
  }

  /** Ends one session of the user; false (and nothing changes) when it is not one of theirs. */
  async endSession (userId: unknown, sessionId: unknown): Promise<boolean> {
    const id = checkUserId(userId)
    let ended = false
    for (const key of this.#keysOf(id)) {
      const { before, after } = await this.#change(key, (list) => without(list, sessionId))
      if (after.length < before.length) ended = true
    }
    return ended
  }

  /** The user's live sessions, oldest first. */
  async listUserSessions (userId: unknown): Promise<ListedSession[]> {
    const id = checkUserId(userId)
    const now = this.#now()
    const all: ListedSession[] = []
    for (const key of this.#keysOf(id)) {
      for (const s of (await this.#read(key)).list) if (s.expiresAt > now) all.push(s)
    }
    return all.sort((a, b) => a.createdAt - b.createdAt)
  }

  // Every key in the ring may have begun sessions of this user: one record each.
  #keysOf (userId: string): string[] {
    return this.#codec.ring.kids.map((kid) => this.#recordKey(userId, kid)!)
  }

  async #read (key: string): Promise<UserList> {
    const entry = await this.#storage.bounded('user record read', this.#store.get(RECORD_PREFIX + key))
    if (entry === undefined) return { version: 0, list: [] }
    return { version: entry.version, list: this.#open(key, entry) }
  }

  // Anything that is not a record this registration sealed for this key and version lists nothing.
  #open (key: string, entry: StoreEntry): ListedSession[] {
    const opened = this.#codec.open(entry.value, Number.MAX_SAFE_INTEGER)
    if (typeof opened === 'string') return []
    let body: unknown
    try {
      body = JSON.parse(opened.plaintext.toString('utf8'))
    } catch {
      return []
    }
    if (!isRecord(body) || body.aud !== this.#aud || body.usr !== key || body.ver !== entry.version || !Array.isArray(body.list)) return []
    return body.list as ListedSession[]
  }

  /**
   * Read, change, compare-and-set, announce. `change` gets the live (unexpired) sessions and
   * returns the new list, or undefined when nothing changes. The record lives as long as its
   * longest-lived session.
   */
  async #change (key: string, change: (list: ListedSession[]) => ListedSession[] | undefined): Promise<{ before: ListedSession[], after: ListedSession[] }> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const { version, list } = await this.#read(key)
      const now = this.#now()
      const before = list.filter((s) => s.expiresAt > now)
      const after = change(before)
      if (after === undefined) return { before, after: before }
      const ttl = Math.max(1, ...after.map((s) => s.expiresAt - now))
      const value = this.#codec.seal(JSON.stringify({ aud: this.#aud, usr: key, ver: version + 1, list: after }))
      this.#forget(key)
      if (await this.#storage.bounded('user record write', this.#store.set(RECORD_PREFIX + key, { version: version + 1, value }, ttl, version))) {
        this.#forget(key)
        if (this.#store.notify !== undefined) await this.#storage.bounded('user record announcement', this.#store.notify(key))
        return { before, after }
      }
    }
    throw new errors.FST_ENCSESS_STORE_CONFLICT()
  }

  #forget (key: string): void {
    this.#epoch++
    this.#cache.delete(key)
  }
}

function without (list: ListedSession[], id: unknown): ListedSession[] | undefined {
  const kept = list.filter((s) => s.id !== id)
  return kept.length === list.length ? undefined : kept
}
