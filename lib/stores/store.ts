// The one interface between the plugin and any store. Values are opaque sealed strings: a store
// never sees session data in the clear and never decides anything about it. Versions make writes
// compare-and-set, so two requests racing on one session cannot silently overwrite each other.

/** Public store types live in types/index.d.ts; these aliases keep lib/ importing from one place. */
export type { SessionStore, StoreEntry, StoreWatch } from '../../types/index.js'
import type { StoreEntry } from '../../types/index.js'

/**
 * Checks every store shares on a write. These are caller bugs, not store failures: a key written
 * without a TTL would live forever, and a version must be an integer to be read back.
 */
export function checkWrite (entry: unknown, ttl: unknown, expectedVersion: unknown): asserts entry is StoreEntry {
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl <= 0) {
    throw new TypeError(`Session store ttl must be a whole number of seconds > 0, got ${String(ttl)}`)
  }
  const e = entry as StoreEntry | null
  if (typeof e !== 'object' || e === null || typeof e.value !== 'string' ||
      !Number.isSafeInteger(e.version) || e.version < -1) {
    throw new TypeError('Session store entry must be { version: integer >= -1, value: string }')
  }
  if (expectedVersion !== undefined && !Number.isSafeInteger(expectedVersion)) {
    throw new TypeError(`Session store expectedVersion must be an integer, got ${String(expectedVersion)}`)
  }
}
