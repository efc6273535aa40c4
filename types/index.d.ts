// Public type declarations of fastify-encrypted-session. The implementation in lib/ is checked
// against these (lib/index.ts imports them), so they cannot drift apart unnoticed.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { FastifyError } from '@fastify/error'
// The plugin registers @fastify/cookie, so its request.cookies / reply.setCookie augmentation is part
// of this package's types: an app that never imports @fastify/cookie still sees them typed.
import type {} from '@fastify/cookie'

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The session of this request, loaded from its cookie the first time it is read (a route that
     * never reads it pays nothing). Registered under another name with the `sessionName` option.
     */
    session: fastifyEncryptedSession.Session
  }
  interface FastifyInstance {
    /** The registered sessions' managers: seal and open tokens outside HTTP, read metrics. */
    encryptedSession: fastifyEncryptedSession.SessionManagers
  }
  interface FastifyContextConfig {
    /** Set to false on a route to skip session handling there (health checks, static files). */
    encryptedSession?: boolean
  }
}

type FastifyEncryptedSession = FastifyPluginAsync<
  fastifyEncryptedSession.FastifyEncryptedSessionOptions | readonly fastifyEncryptedSession.FastifyEncryptedSessionOptions[]
>

declare namespace fastifyEncryptedSession {
  /**
   * Declare your session's shape by merging into this interface:
   * `declare module 'fastify-encrypted-session' { interface SessionData { user: string } }`.
   * Until you do, any string key is allowed; once you do, unknown keys are compile errors.
   */

  export interface SessionData {}

  /** The data shape in effect: SessionData once declared, otherwise an open record. */
  export type EffectiveSessionData = keyof SessionData extends never ? Record<string, unknown> : SessionData

  /** Cookie attributes. Values outside RFC 6265 are refused at register. */
  export interface CookieOptions {
    /** Domain attribute. Default: none (host-only cookie). */
    domain?: string
    /** Path attribute. Default: "/". */
    path?: string
    /** HttpOnly attribute. Default: true. */
    httpOnly?: boolean
    /**
     * Secure attribute. Default: true. "auto" sets it only for requests that arrived over HTTPS
     * (request.protocol, which honours Fastify's trustProxy). `__Host-`/`__Secure-` names require true.
     */
    secure?: boolean | 'auto'
    /** SameSite attribute. Default: "lax". true means "strict", false omits the attribute. */
    sameSite?: 'lax' | 'strict' | 'none' | boolean
    /** Partitioned attribute (CHIPS). Default: false. */
    partitioned?: boolean
    /** Priority attribute. Default: none. */
    priority?: 'low' | 'medium' | 'high'
  }

  /** A key given as an id plus 32 bytes (raw, or base64url without padding). */
  export interface KeyInput {
    kid: string
    key: string | Uint8Array
  }

  /** A JWK Set of symmetric keys: `{ keys: [{ kty: "oct", kid, k }] }`; the first key is current. */
  export interface JsonWebKeySet {
    keys: ReadonlyArray<{ kty: 'oct', kid: string, k: string, alg?: 'dir' | 'A256GCM', use?: 'enc' }>
  }

  /**
   * The keys, first one current (it seals), the rest decrypt only. One of: the SESSION_KEYS format
   * "kid:base64url,kid:base64url"; a JWK Set (object or JSON string); an array of { kid, key }.
   */
  export type KeySet = string | JsonWebKeySet | readonly KeyInput[]

  /**
   * A source of keys: an async function returning a KeySet, asked at register and on refresh.
   * `watch`, when present, lets the source announce changes (a replaced file) for a prompt refresh.
   */
  export type KeyProvider = (() => Promise<KeySet> | KeySet) & { watch?: (changed: () => void) => () => void }

  export interface FastifyEncryptedSessionOptions {
    /**
     * Required; there is no default key. A KeySet, or a KeyProvider (envKeys(), fileKeys(path),
     * kmsKeys(…) or your own async function) that is asked again while the app runs.
     * Generate a key with `npx fastify-encrypted-session keygen`. `undefined` is accepted by the
     * types so that `keys: process.env.SESSION_KEYS` compiles; it fails register with
     * FST_ENCSESS_NO_KEYS.
     */
    keys: KeySet | KeyProvider | undefined
    /** With a KeyProvider: seconds between refreshes; 0 for none. Default: 300. */
    keyRefreshInterval?: number
    /**
     * With a KeyProvider: least seconds between refreshes triggered by cookies with unknown kids
     * (the first one always refreshes); false turns them off. Default: 30.
     */
    keyRefreshOnUnknownKid?: number | false
    /** With a KeyProvider: milliseconds one load may take. Default: 5000. */
    keyLoadTimeout?: number
    /** With a KeyProvider: tries (with exponential backoff) of the first load before register fails. Default: 5. */
    keyLoadAttempts?: number
    /**
     * AES-GCM usage budget per key and per process: a warning is logged once a key has sealed
     * `warnAt` × `limit` tokens. Defaults: limit 2^32 (NIST SP 800-38D, random IVs), warnAt 0.5.
     */
    usageBudget?: { limit?: number, warnAt?: number }
    /**
     * "dir" seals every token directly with the key (default). "A256KW" draws a fresh content key
     * per token and wraps it with the key: the key's GCM usage budget no longer limits how many
     * tokens it can seal, at 54 more bytes per cookie and one more cipher call. With "A256KW",
     * tokens of both kinds are accepted, so it can be switched on without logging anyone out.
     */
    keyManagement?: 'dir' | 'A256KW'
    /**
     * Name of a second cookie carrying the session's load-balancer affinity value (a one-way hash
     * of the session id: stable for the session, reveals nothing, opens nothing), for balancers
     * that hash on a cookie (e.g. nginx `hash $cookie_<name> consistent`). Default: none.
     */
    affinityCookie?: string
    /** Cookie name. Default: "session". `__Host-` and `__Secure-` prefixes are supported. */
    cookieName?: string
    /** Name of the request property. Default: "session". */
    sessionName?: string
    /** Cookie attributes. Defaults: HttpOnly, SameSite=Lax, Path=/, Secure. */
    cookie?: CookieOptions
    /** Absolute session lifetime in seconds, counted from creation; never extended. Default: 86400. */
    maxAge?: number
    /** Idle timeout in seconds; 0 turns it off. Default: 0. */
    idleTimeout?: number
    /**
     * With idleTimeout: push the idle deadline forward on activity, re-sealing the cookie once half
     * the idle window has passed (never past maxAge). Default: true.
     */
    rolling?: boolean
    /** Names this app inside every token, so another app with the same keys refuses it. Default: "fastify-encrypted-session". */
    audience?: string
    /** Largest Set-Cookie (name, value, attributes) in bytes, 256 to 4096. Default: 4000. */
    maxCookieSize?: number
    /** Cache of already-authenticated tokens (exact match; expiry still checked). Default: { max: 10000 }. */
    cache?: false | { max?: number }
    /** Where sessions too large for a cookie go. Default: none (too large is an error). */
    store?: SessionStore
    /** Milliseconds a request waits for the store before failing with 503. Default: 1000. */
    storeTimeout?: number
    /** With a store: record ended sessions so copies of their cookies stop working. Default: false. */
    revocation?: boolean
    /**
     * With a store: where the session data holds the user id (a key name, or a function of the
     * data returning a string, a number, or undefined for "no user"). A session whose data names a
     * user is listed in that user's record at login and accepted only while listed there, which
     * makes endUserSessions / listUserSessions / endSession possible. See docs/users.md.
     */
    userKey?: string | ((data: Record<string, unknown>) => string | number | undefined | null)
    /**
     * With userKey: what to list with a session when it logs in (e.g. a device label from the
     * user-agent): a plain object of at most 512 bytes of JSON, returned by listUserSessions.
     */
    userMeta?: (request: FastifyRequest) => Record<string, unknown> | undefined
    /**
     * A prom-client Registry (fastify-metrics' `client.register` works) to expose the counters and
     * histograms on, labelled by session name. prom-client itself is not loaded. Default: none.
     */
    metricsRegistry?: { registerMetric(metric: any): void, getSingleMetric(name: string): unknown }
  }

  export interface Session<T extends object = EffectiveSessionData> {
    /** The stable session id (128 random bits, base64url). Changes on regenerate() and delete(). */
    readonly id: string
    /** True once set(), regenerate() or options() was called in this request. */
    changed: boolean
    /** True after delete(): the response clears the cookie. */
    deleted: boolean
    /** True when the cookie was sealed with a decrypt-only key; it is re-sealed on this response. */
    rotated: boolean
    /** True when no valid cookie came in. */
    readonly isNew: boolean
    /** Seconds since the epoch: when the session began, when it ends, when it idles out. */
    readonly createdAt: number
    readonly expiresAt: number
    readonly idleExpiresAt: number | undefined
    get<K extends keyof T & string>(key: K): T[K] | undefined
    /** Sets a value; undefined removes the key. */
    set<K extends keyof T & string>(key: K, value: T[K] | undefined): void
    /** The data object. Mutating it directly does not mark the session changed. */
    data(): Partial<T>
    /** Ends the session and clears the cookie; a later set() starts a new session. */
    delete(): void
    /** New id and lifetime; data dropped except the listed keys. Call it at login. */
    regenerate(keep?: ReadonlyArray<keyof T & string>): void
    /** Re-send the cookie and push the idle deadline forward. */
    touch(): void
    /** Cookie attributes for this response only. */
    options(opts: CookieOptions): void
  }

  /** One stored entry; the value is sealed, never session data in the clear. */
  export interface StoreEntry {
    /** 1, 2, 3… for data; -1 for an ended session (tombstone); 0 when unreadable. */
    version: number
    value: string
  }

  /** The interface any store implements. Promise-based; every write carries a TTL. */
  export interface SessionStore {
    /**
     * `maxLength`, when given: the plugin refuses any value longer than this, unread. A store that
     * can measure a value in place (RedisStore) resolves 'oversized' instead of fetching it.
     */
    get(key: string): Promise<StoreEntry | undefined>
    get(key: string, maxLength?: number): Promise<StoreEntry | undefined | 'oversized'>
    /** With expectedVersion: compare-and-set (0 = no entry); resolves false when it did not write. */
    set(key: string, entry: StoreEntry, ttl: number, expectedVersion?: number): Promise<boolean>
    delete(key: string): Promise<void>
    /**
     * Optional: a read for a caller that holds the entry it last saw. Resolves 'unchanged' when the
     * stored entry has `version` and its value begins with `head`, otherwise what get() resolves.
     * A store where a read moves the whole value over a network implements it to save that.
     */
    getIfChanged?(key: string, version: number, head: string, maxLength?: number): Promise<StoreEntry | undefined | 'unchanged' | 'oversized'>
    /**
     * Optional, for `userKey`: tells `listener` about every change to a per-user record announced by
     * notify() on any instance (the record's key; undefined for "forget everything, changes may have
     * been missed"). While the returned watch is `live`, every change announced more than
     * STORE_WATCH_BOUND_MS ago has been delivered. A store without it is read on every request of
     * a user-bound session.
     */
    watch?(listener: (key: string | undefined) => void): StoreWatch
    /** Optional, with watch(): announces a change to the record stored under `key` to every watcher. */
    notify?(key: string): Promise<void>
  }

  /** What SessionStore.watch() returns. */
  export interface StoreWatch {
    /** True while changes announced more than STORE_WATCH_BOUND_MS ago are known to have arrived. */
    readonly live: boolean
    close(): void
  }

  export type RejectReason =
    | 'oversized' | 'malformed' | 'header' | 'unknown_kid' | 'decrypt' | 'payload' | 'context'
    | 'expired' | 'idle' | 'revoked' | 'store_missing' | 'store_invalid' | 'duplicate' | 'future'

  export interface MetricsSnapshot {
    rejected: Record<RejectReason, number>
    opened: number
    cacheHits: number
    /** Offloaded session reads whose value matched one this instance already authenticated. */
    storedCacheHits: number
    sealed: Record<string, number>
    decrypted: Record<string, number>
    rotated: number
    offloaded: number
    returnedToCookie: number
    store: { hits: number, misses: number, errors: number, conflicts: number }
    tooLarge: number
    keyRefresh: { ok: number, failed: number, unknownKid: number }
  }

  /** One registration's engine. */
  export interface SessionManager {
    /** Seals a new session holding `data` (checked against SessionData); returns the cookie value. */
    seal(data?: Partial<EffectiveSessionData>): string
    /** Opens a cookie value; null when it is refused for any reason. */
    open(token: string): Session | null
    /** kids plus a check value of the key set; safe to expose on a health endpoint. */
    readonly keyFingerprint: string
    readonly metrics: { snapshot(): MetricsSnapshot } & MetricsSnapshot
    /**
     * With a KeyProvider: refresh now (resolves true when a new set was applied), and the
     * 'refreshed' / 'failed' events of every refresh, for rollout tooling and health checks.
     */
    readonly refresher?: {
      refresh(): Promise<boolean>
      on(event: 'refreshed' | 'failed', listener: () => void): unknown
      once(event: 'refreshed' | 'failed', listener: () => void): unknown
    }
    /** The load-balancer affinity value of a session id (see affinityCookie). */
    affinity(sessionId: string): string
    /** Replaces the key set atomically (same formats as the `keys` option). */
    replaceKeys(keys: KeySet): void
    /**
     * With userKey: ends, on every instance, every session of the user that exists now, except
     * `except` (a session id, or a request's session). Resolves how many were ended.
     */
    endUserSessions(userId: string | number, options?: { except?: string | { id: string } }): Promise<number>
    /** With userKey: the user's live sessions, oldest first. */
    listUserSessions(userId: string | number): Promise<UserSessionInfo[]>
    /** With userKey: ends one session of the user; false when it is not one of theirs. */
    endSession(userId: string | number, sessionId: string): Promise<boolean>
    /** With userKey: `live` is true while this instance may answer from its cache of users' lists. */
    readonly users?: { readonly live: boolean }
  }

  /** One of a user's sessions, as listUserSessions returns it. Times in seconds since the epoch. */
  export interface UserSessionInfo {
    id: string
    createdAt: number
    expiresAt: number
    /** What userMeta returned at login, if anything. */
    meta?: Record<string, unknown>
  }

  export interface SessionManagers {
    /** The manager of the session registered as `name` (default "session"). */
    get(name?: string): SessionManager
  }

  export interface GeneratedKey {
    kid: string
    key: string
    entry: string
    jwk: { kty: 'oct', kid: string, k: string, alg: 'dir', use: 'enc' }
  }

  export type ErrorCode =
    | 'FST_ENCSESS_NO_KEYS'
    | 'FST_ENCSESS_INVALID_KEY_SET'
    | 'FST_ENCSESS_INVALID_KEY'
    | 'FST_ENCSESS_DUPLICATE_KEY'
    | 'FST_ENCSESS_KEYS_UNAVAILABLE'
    | 'FST_ENCSESS_INVALID_OPTION'
    | 'FST_ENCSESS_COOKIE_TOO_LARGE'
    | 'FST_ENCSESS_STORE_UNAVAILABLE'
    | 'FST_ENCSESS_STORE_CONFLICT'
    | 'FST_ENCSESS_COOKIE_ORDER'
    | 'FST_ENCSESS_INVALID_SESSION_DATA'
    | 'FST_ENCSESS_SESSION_TOO_LARGE'
    | 'FST_ENCSESS_INVALID_USER_ID'
    | 'FST_ENCSESS_SESSION_NOT_LOADED'

  export type EncryptedSessionError = FastifyError & { code: ErrorCode }

  export const errors: { readonly [C in ErrorCode]: new (...args: any[]) => FastifyError & { code: C } }
  export function generateKey (kid?: string): GeneratedKey
  /** Reads a variable (default SESSION_KEYS) from the environment on every load. */
  export function envKeys (name?: string, env?: Record<string, string | undefined>): KeyProvider
  /** Reads a JWK Set or SESSION_KEYS-format file, and watches it (Kubernetes secret updates included). */
  export function fileKeys (path: string): KeyProvider

  /** The part of a KMSClient (@aws-sdk/client-kms v3) that kmsKeys uses; pass the client itself. */
  export interface KmsClientLike {
    send(command: any, options?: { abortSignal?: AbortSignal }): Promise<any>
  }

  /** One KMS-wrapped session key: the CiphertextBlob of GenerateDataKey, base64 or bytes. */
  export interface KmsWrappedKey {
    kid: string
    ciphertext: string | Uint8Array
  }

  export interface KmsKeysOptions {
    /** A KMSClient you created; it is never closed by the plugin. */
    client: KmsClientLike
    /**
     * The wrapped keys, first one current: "kid:<base64 CiphertextBlob>,…" (what
     * `keygen --kms-key-id … --app …` prints) or an array. Default: the SESSION_KEYS_KMS environment
     * variable, read on every load.
     */
    keys?: string | readonly KmsWrappedKey[]
    /**
     * The encryption context each key was wrapped with: `app` (required) plus any extra string
     * entries; the plugin adds `purpose: "fastify-encrypted-session"` and `kid`.
     */
    encryptionContext: { app: string, [key: string]: string }
    /** The KMS key (id, ARN or alias) expected to have wrapped the keys. Default: any (KMS decides). */
    keyId?: string
    /** Milliseconds one KMS call may take before it is aborted. Default: 3000. */
    requestTimeout?: number
  }

  /**
   * A KeyProvider that decrypts KMS-wrapped session keys with KMS Decrypt on every load. Needs the
   * optional peer dependency @aws-sdk/client-kms, which is loaded only when this is called.
   */
  export function kmsKeys (options: KmsKeysOptions): KeyProvider

  export interface MemoryStoreOptions {
    /** Most entries kept; least recently used go first. Default: 10000. */
    maxEntries?: number
    /** Most bytes kept (keys, values and a fixed overhead per entry). Default: 64 MiB. */
    maxBytes?: number
    /** Clock in milliseconds, for tests. Default: performance.now(). */
    now?: () => number
  }

  /** In-process store, bounded by entries and bytes, expiring entries by TTL. One instance only. */
  export class MemoryStore implements SessionStore {
    constructor (options?: MemoryStoreOptions)
    /** Entries held (expired ones not yet reclaimed included). */
    readonly size: number
    /** Bytes held, as bounded by maxBytes. */
    readonly calculatedSize: number
    get (key: string): Promise<StoreEntry | undefined>
    set (key: string, entry: StoreEntry, ttl: number, expectedVersion?: number): Promise<boolean>
    delete (key: string): Promise<void>
    watch (listener: (key: string | undefined) => void): StoreWatch
    notify (key: string): Promise<void>
  }

  /**
   * The part of an ioredis `Redis` (standalone or Sentinel) or `Cluster` that RedisStore uses; pass
   * the client itself. Declared here so that apps without Redis need no ioredis types.
   */
  export interface RedisClientLike {
    get(key: string): Promise<string | null>
    set(key: string, value: Buffer, mode: 'EX', seconds: number): Promise<unknown>
    del(key: string): Promise<number>
    defineCommand(name: string, definition: { lua: string, numberOfKeys?: number }): void
    /** With `userKey`: announces a change to a user's record to the other instances. */
    publish(channel: string, message: string): Promise<unknown>
  }

  export interface RedisStoreOptions {
    /** An ioredis Redis (standalone or Sentinel) or Cluster instance; the store never closes it. */
    client: RedisClientLike
    /** Prepended to every key. Default: "sess:". */
    prefix?: string
    /**
     * With `userKey`: a second ioredis connection (same server or cluster), which the store puts in
     * subscriber mode to hear about ended sessions; the app creates and closes it. Without it, a
     * request of a user-bound session costs one GET.
     */
    subscriber?: RedisSubscriberLike
  }

  /** The part of an ioredis `Redis` or `Cluster` that RedisStore uses as `subscriber`. */
  export interface RedisSubscriberLike {
    subscribe(channel: string): Promise<unknown>
    unsubscribe(channel: string): Promise<unknown>
    ping(): Promise<unknown>
    on(event: string, listener: (...args: any[]) => void): unknown
    off(event: string, listener: (...args: any[]) => void): unknown
  }

  /** Store on Redis through an ioredis client the app creates; see "Redis deployment". */
  export class RedisStore implements SessionStore {
    constructor (options: RedisStoreOptions)
    get (key: string): Promise<StoreEntry | undefined>
    set (key: string, entry: StoreEntry, ttl: number, expectedVersion?: number): Promise<boolean>
    delete (key: string): Promise<void>
    watch (listener: (key: string | undefined) => void): StoreWatch
    notify (key: string): Promise<void>
  }

  export const fastifyEncryptedSession: FastifyEncryptedSession
  export { fastifyEncryptedSession as default }
}

declare function fastifyEncryptedSession (...params: Parameters<FastifyEncryptedSession>): ReturnType<FastifyEncryptedSession>

export = fastifyEncryptedSession
