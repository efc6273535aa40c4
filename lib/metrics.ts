// Counters the plugin keeps per registration. Plain numbers, readable without any dependency; every
// label set is fixed in advance, so no request can create a new series (an attacker's kid included).
import { REJECT_REASONS, type RejectReason } from './codec.js'

export type { MetricsSnapshot } from '../types/index.js'
import type { MetricsSnapshot } from '../types/index.js'

/** A fixed-bucket histogram: bounded memory whatever is observed. */
export class Histogram {
  readonly buckets: readonly number[]
  /** counts[i] = observations <= buckets[i] (non-cumulative; the last slot is +Inf). */
  readonly counts: number[]
  sum = 0
  count = 0

  constructor (buckets: readonly number[]) {
    this.buckets = buckets
    this.counts = new Array(buckets.length + 1).fill(0)
  }

  observe (value: number): void {
    let i = 0
    while (i < this.buckets.length && value > this.buckets[i]!) i++
    this.counts[i]!++
    this.sum += value
    this.count++
  }
}

export class Metrics {
  readonly rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>
  opened = 0
  cacheHits = 0
  /** Offloaded reads answered from the cache of stored values: the value was fetched, not decrypted. */
  storedCacheHits = 0
  sealed: Record<string, number> = Object.create(null)
  decrypted: Record<string, number> = Object.create(null)
  rotated = 0
  offloaded = 0
  returnedToCookie = 0
  readonly store = { hits: 0, misses: 0, errors: 0, conflicts: 0 }
  tooLarge = 0
  /** Key-set refreshes from a provider: succeeded, failed (old set kept), triggered by unknown kids. */
  readonly keyRefresh = { ok: 0, failed: 0, unknownKid: 0 }
  /** Size in bytes of every session Set-Cookie written. */
  readonly cookieBytes = new Histogram([256, 512, 1024, 2048, 3072, 4096])
  /** Seconds each store call took, failures and timeouts included. */
  readonly storeSeconds = new Histogram([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])

  constructor (kids: readonly string[]) {
    for (const kid of kids) {
      this.sealed[kid] = 0
      this.decrypted[kid] = 0
    }
  }

  /** Called after a key refresh: new kids get series, retired kids keep theirs (history). */
  addKids (kids: readonly string[]): void {
    for (const kid of kids) {
      this.sealed[kid] ??= 0
      this.decrypted[kid] ??= 0
    }
  }

  snapshot (): MetricsSnapshot {
    return structuredClone({
      rejected: this.rejected,
      opened: this.opened,
      cacheHits: this.cacheHits,
      storedCacheHits: this.storedCacheHits,
      sealed: { ...this.sealed },
      decrypted: { ...this.decrypted },
      rotated: this.rotated,
      offloaded: this.offloaded,
      returnedToCookie: this.returnedToCookie,
      store: this.store,
      tooLarge: this.tooLarge,
      keyRefresh: this.keyRefresh
    })
  }
}
