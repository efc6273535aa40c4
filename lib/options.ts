// Every option is checked here, once, at register; the rest of the plugin trusts what this returns.
import { errors } from './errors.js'
import { checkCookieName, type CookieAttributes } from './cookie.js'
import { parseKeySet, type RawKey } from './keys/parse.js'
import type { KeyProvider } from './keys/providers.js'
import type { RefreshOptions } from './keys/refresher.js'
import type { SessionStore } from './stores/store.js'
import type { FastifyEncryptedSessionOptions } from '../types/index.js'
import { checkRegistry, type RegistryLike } from './prometheus.js'
import type { UserKey, UserMeta } from './users.js'

/**
 * What users pass, typed publicly in types/index.d.ts; every field is re-checked here at runtime
 * because JavaScript callers and JSON config get no compile-time help.
 */
export type SessionOptions = Partial<FastifyEncryptedSessionOptions>

export interface Config {
  /** The static key set; empty until a provider's first load when keyProvider is set. */
  keys: RawKey[]
  keyProvider: KeyProvider | undefined
  refresh: RefreshOptions
  usageLimit: number
  /** Name of the load-balancer affinity cookie, when one is wanted. */
  affinityCookie: string | undefined
  /** Seal with A256KW (true) or dir (false). */
  keyWrap: boolean
  usageWarnAt: number
  cookieName: string
  sessionName: string
  cookie: CookieAttributes
  maxAge: number
  idleTimeout: number
  rolling: boolean
  audience: string
  maxCookieSize: number
  cacheMax: number
  store: SessionStore | undefined
  storeTimeout: number
  revocation: boolean
  /** With a store: reads the user id from the session data (see users.ts). */
  userKey: UserKey | undefined
  userMeta: UserMeta | undefined
  metricsRegistry: RegistryLike | undefined
}

const KNOWN = new Set([
  'keys', 'cookieName', 'sessionName', 'cookie', 'maxAge', 'idleTimeout', 'rolling', 'audience',
  'maxCookieSize', 'cache', 'store', 'storeTimeout', 'revocation', 'metricsRegistry',
  'keyRefreshInterval', 'keyRefreshOnUnknownKid', 'keyLoadTimeout', 'keyLoadAttempts', 'usageBudget',
  'keyManagement', 'affinityCookie', 'userKey', 'userMeta'
])
const JS_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/
// Names already used on the request by Fastify or by plugins a session sits next to.
const RESERVED_SESSION_NAMES = new Set(['body', 'query', 'params', 'headers', 'raw', 'id', 'log', 'cookies', 'server', 'routeOptions', 'user'])
/** RFC 6265 asks browsers to keep cookies of at least 4096 bytes (name, value and attributes). */
export const BROWSER_COOKIE_LIMIT = 4096

export function normalizeOptions (input: unknown): Config {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new errors.FST_ENCSESS_INVALID_OPTION('options', 'pass an options object with at least `keys`')
  }
  const o = input as SessionOptions
  for (const name of Object.keys(o)) {
    if (!KNOWN.has(name)) throw new errors.FST_ENCSESS_INVALID_OPTION(name, `it is not an option of this plugin (known: ${[...KNOWN].join(', ')})`)
  }
  const sessionName = o.sessionName ?? 'session'
  if (typeof sessionName !== 'string' || !JS_NAME.test(sessionName) || RESERVED_SESSION_NAMES.has(sessionName)) {
    throw new errors.FST_ENCSESS_INVALID_OPTION('sessionName', 'it must be an identifier not already used on the request, such as "session"')
  }
  const maxAge = seconds('maxAge', o.maxAge, 86400, 1)
  const idleTimeout = seconds('idleTimeout', o.idleTimeout, 0, 0)
  if (idleTimeout > maxAge) throw new errors.FST_ENCSESS_INVALID_OPTION('idleTimeout', 'it cannot be longer than maxAge')
  const audience = o.audience ?? 'fastify-encrypted-session'
  if (typeof audience !== 'string' || audience.length === 0 || audience.length > 128) {
    throw new errors.FST_ENCSESS_INVALID_OPTION('audience', 'it must be a string of 1 to 128 characters naming this app')
  }
  const maxCookieSize = integer('maxCookieSize', o.maxCookieSize, 4000, 256, BROWSER_COOKIE_LIMIT)
  let cacheMax = 10000
  if (o.cache === false) cacheMax = 0
  else if (o.cache !== undefined) {
    if (o.cache === null || typeof o.cache !== 'object') throw new errors.FST_ENCSESS_INVALID_OPTION('cache', 'it must be false or { max }')
    cacheMax = integer('cache.max', o.cache.max, 10000, 0, 10_000_000)
  }
  if (o.cookie !== undefined && (o.cookie === null || typeof o.cookie !== 'object')) {
    throw new errors.FST_ENCSESS_INVALID_OPTION('cookie', 'it must be an object of cookie attributes')
  }
  const store = o.store
  if (store !== undefined && (store === null || typeof store !== 'object' ||
    typeof store.get !== 'function' || typeof store.set !== 'function' || typeof store.delete !== 'function')) {
    throw new errors.FST_ENCSESS_INVALID_OPTION('store', 'it must implement the SessionStore interface (get, set, delete), e.g. new MemoryStore() or new RedisStore({ client })')
  }
  const revocation = boolean('revocation', o.revocation, false)
  if (revocation && store === undefined) {
    throw new errors.FST_ENCSESS_INVALID_OPTION('revocation', 'it needs a `store` to record ended sessions in')
  }
  const userKey = userKeyOf(o.userKey, store !== undefined)
  if (o.userMeta !== undefined && (typeof o.userMeta !== 'function' || userKey === undefined)) {
    throw new errors.FST_ENCSESS_INVALID_OPTION('userMeta', 'it must be a function (request) => object | undefined, and needs `userKey`')
  }
  const provider = typeof o.keys === 'function' ? o.keys as KeyProvider : undefined
  const budget = o.usageBudget ?? {}
  // `??` has already turned null into the default.
  if (typeof budget !== 'object') throw new errors.FST_ENCSESS_INVALID_OPTION('usageBudget', 'it must be an object { limit, warnAt }')
  const usageLimit = integer('usageBudget.limit', budget.limit, 2 ** 32, 1, 2 ** 32)
  const warnAt = budget.warnAt ?? 0.5
  if (typeof warnAt !== 'number' || !(warnAt > 0 && warnAt <= 1)) throw new errors.FST_ENCSESS_INVALID_OPTION('usageBudget.warnAt', 'it must be a fraction in (0, 1]')
  return {
    keys: provider === undefined ? parseKeySet(o.keys) : [],
    keyProvider: provider,
    refresh: {
      interval: integer('keyRefreshInterval', o.keyRefreshInterval, 300, 0, 86400, ' seconds'),
      // false turns the unknown-kid refresh off (-1); otherwise the least seconds between two.
      unknownKidInterval: o.keyRefreshOnUnknownKid === false ? -1 : integer('keyRefreshOnUnknownKid', o.keyRefreshOnUnknownKid, 30, 0, 86400, ' seconds'),
      timeout: integer('keyLoadTimeout', o.keyLoadTimeout, 5000, 1, 600_000, ' ms'),
      attempts: integer('keyLoadAttempts', o.keyLoadAttempts, 5, 1, 100)
    },
    usageLimit,
    keyWrap: keyManagement(o.keyManagement),
    affinityCookie: o.affinityCookie === undefined ? undefined : affinityName(o.affinityCookie, o.cookieName ?? 'session'),
    usageWarnAt: Math.max(1, Math.floor(usageLimit * warnAt)),
    cookieName: checkCookieName(o.cookieName ?? 'session'),
    sessionName,
    cookie: { ...o.cookie },
    maxAge,
    idleTimeout,
    rolling: boolean('rolling', o.rolling, true),
    audience,
    maxCookieSize,
    cacheMax,
    store,
    storeTimeout: integer('storeTimeout', o.storeTimeout, 1000, 1, 60_000),
    revocation,
    userKey,
    userMeta: o.userMeta as UserMeta | undefined,
    metricsRegistry: o.metricsRegistry === undefined ? undefined : checkRegistry(o.metricsRegistry)
  }
}

function userKeyOf (value: unknown, hasStore: boolean): UserKey | undefined {
  if (value === undefined) return undefined
  if (!hasStore) throw new errors.FST_ENCSESS_INVALID_OPTION('userKey', 'it needs a `store` to keep each user\'s list of sessions in, e.g. new RedisStore({ client, subscriber }) or, for one instance, new MemoryStore()')
  if (typeof value === 'function') return value as UserKey
  if (typeof value !== 'string' || value === '') {
    throw new errors.FST_ENCSESS_INVALID_OPTION('userKey', 'it must be the name of the session data key holding the user id, e.g. \'user\', or a function (data) => id')
  }
  return (data) => data[value]
}

function seconds (name: string, value: unknown, fallback: number, min: number): number {
  return integer(name, value, fallback, min, 400 * 86400, ' seconds')
}

function integer (name: string, value: unknown, fallback: number, min: number, max: number, unit = ''): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    throw new errors.FST_ENCSESS_INVALID_OPTION(name, `it must be a whole number from ${min} to ${max}${unit}`)
  }
  return value as number
}

function affinityName (name: unknown, cookieName: string): string {
  try {
    checkCookieName(name)
  } catch {
    throw new errors.FST_ENCSESS_INVALID_OPTION('affinityCookie', 'it must be a cookie name (an RFC 6265 token)')
  }
  if (name === cookieName) throw new errors.FST_ENCSESS_INVALID_OPTION('affinityCookie', 'it must differ from cookieName')
  return name as string
}

function keyManagement (value: unknown): boolean {
  if (value === undefined || value === 'dir') return false
  if (value === 'A256KW') return true
  throw new errors.FST_ENCSESS_INVALID_OPTION('keyManagement', 'it must be "dir" (default) or "A256KW"')
}

function boolean (name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw new errors.FST_ENCSESS_INVALID_OPTION(name, 'it must be true or false')
  return value
}
