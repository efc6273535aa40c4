// The one interface between the plugin and any store. Values are opaque sealed strings: a store
// never sees session data in the clear, and never decides anything about it.

export interface SessionStore {
  /** The value stored under `key`, or undefined when there is none (missing, expired, evicted). */
  get (key: string): Promise<string | undefined>
  /** Stores `value` under `key` for `ttl` seconds (always > 0: no entry lives forever). */
  set (key: string, value: string, ttl: number): Promise<void>
  /** Removes `key`; removing a missing key is not an error. */
  delete (key: string): Promise<void>
}
