// An in-process store: for a single instance, for development and for tests. It forgets everything
// on restart and is not shared between processes, so behind a load balancer use RedisStore instead.
import { LRUCache } from 'lru-cache'
import { errors } from '../errors.js'
import { checkWrite, type SessionStore, type StoreEntry, type StoreWatch } from './store.js'

export interface MemoryStoreOptions {
  /** Most entries kept at once; the least recently used go first. Default 10000. */
  maxEntries?: number
  /** Most bytes kept at once (keys + values + a fixed overhead per entry). Default 64 MiB. */
  maxBytes?: number
  /**
   * Clock in milliseconds, for tests. Defaults to `performance.now()`: monotonic, so a wall-clock
   * step (NTP, DST, a manual change) can neither revive nor kill sessions early.
   */
  now?: () => number
}

interface Held {
  version: number
  value: string
  expiresAt: number
}

const DEFAULT_MAX_ENTRIES = 10_000
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024
// lru-cache allocates its index arrays for `max` entries up front, so a mistyped huge number would
// cost gigabytes before a single session is stored. Past this, a shared store is the right tool.
const MAX_ENTRIES_LIMIT = 2 ** 24
// Rough cost of one entry beyond its strings (the record object, the cache's index slots), so
// that a flood of tiny entries still counts against maxBytes.
const ENTRY_OVERHEAD = 64
const KNOWN_OPTIONS = new Set(['maxEntries', 'maxBytes', 'now'])

function positiveInteger (name: string, value: unknown, fallback: number, limit: number, example: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0 || value > limit) {
    throw new errors.FST_ENCSESS_INVALID_OPTION(
      name,
      `MemoryStore ${name} must be a whole number from 1 to ${limit} (got ${String(value)}); pass e.g. { ${name}: ${example} }, or leave it out for the default`
    )
  }
  return value
}

export class MemoryStore implements SessionStore {
  readonly #cache: LRUCache<string, Held>
  readonly #maxBytes: number
  readonly #now: () => number
  // One process holds every copy of what this store knows: a change is announced by a direct call.
  readonly #watchers = new Set<(key: string | undefined) => void>()

  constructor (options: MemoryStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new errors.FST_ENCSESS_INVALID_OPTION(
        'store',
        'MemoryStore options must be an object such as { maxEntries: 10000, maxBytes: 67108864 }'
      )
    }
    for (const name of Object.keys(options)) {
      if (!KNOWN_OPTIONS.has(name)) {
        throw new errors.FST_ENCSESS_INVALID_OPTION(
          name,
          'MemoryStore does not know this option; it accepts maxEntries, maxBytes and now'
        )
      }
    }
    const maxEntries = positiveInteger('maxEntries', options.maxEntries, DEFAULT_MAX_ENTRIES, MAX_ENTRIES_LIMIT, '10000')
    this.#maxBytes = positiveInteger('maxBytes', options.maxBytes, DEFAULT_MAX_BYTES, Number.MAX_SAFE_INTEGER, '67108864')
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new errors.FST_ENCSESS_INVALID_OPTION(
        'now',
        'MemoryStore now must be a function returning milliseconds, e.g. () => performance.now(); leave it out outside tests'
      )
    }
    this.#now = options.now ?? (() => performance.now())
    // Expiry is kept in the record rather than in lru-cache's own TTL so that the injected clock is
    // the single source of truth: lru-cache debounces its clock reads with timers and treats a
    // start time of 0 as "no TTL", both of which would make a fake clock lie.
    // Every set() passes the entry's size, so no sizeCalculation is needed (or ever called).
    this.#cache = new LRUCache<string, Held>({ max: maxEntries, maxSize: this.#maxBytes })
  }

  /** Entries held, including expired ones not yet reclaimed. */
  get size (): number {
    return this.#cache.size
  }

  /** Bytes held by the size estimate that maxBytes bounds. */
  get calculatedSize (): number {
    return this.#cache.calculatedSize
  }

  async get (key: string): Promise<StoreEntry | undefined> {
    const record = this.#live(key, true)
    return record === undefined ? undefined : { version: record.version, value: record.value }
  }

  async set (key: string, entry: StoreEntry, ttl: number, expectedVersion?: number): Promise<boolean> {
    checkWrite(entry, ttl, expectedVersion)
    const size = sizeOf(key, entry.value)
    if (size > this.#maxBytes) {
      // lru-cache would drop such an entry without a word (and delete the old one); the caller
      // must learn that the session was not saved.
      throw new errors.FST_ENCSESS_STORE_UNAVAILABLE(
        `entry larger than the memory store: ${size} bytes, maxBytes is ${this.#maxBytes}`
      )
    }
    if (expectedVersion !== undefined) {
      // No await between this read and the write below, so the check and the write are atomic
      // with respect to every other request in this process.
      const current = this.#live(key, false)
      const currentVersion = current === undefined ? 0 : current.version
      // A tombstone (-1) must stay ended: no expected version, not even -1, may write over it.
      if (currentVersion === -1 || currentVersion !== expectedVersion) return false
    }
    this.#cache.set(key, {
      version: entry.version,
      value: entry.value,
      expiresAt: this.#now() + ttl * 1000
    }, { size })
    return true
  }

  async delete (key: string): Promise<void> {
    this.#cache.delete(key)
  }

  watch (listener: (key: string | undefined) => void): StoreWatch {
    this.#watchers.add(listener)
    return { live: true, close: () => this.#watchers.delete(listener) }
  }

  async notify (key: string): Promise<void> {
    for (const listener of this.#watchers) listener(key)
  }

  #live (key: string, touch: boolean): Held | undefined {
    const record = touch ? this.#cache.get(key) : this.#cache.peek(key)
    if (record === undefined) return undefined
    if (this.#now() >= record.expiresAt) {
      // Reclaim now rather than waiting for eviction, so expired sessions free their bytes.
      this.#cache.delete(key)
      return undefined
    }
    return record
  }
}

// Values are sealed JWE strings (ASCII), so string length is their byte length; keys are ids.
function sizeOf (key: string, value: string): number {
  return key.length + value.length + ENTRY_OVERHEAD
}
