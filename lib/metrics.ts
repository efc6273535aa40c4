// Counters the plugin keeps per registration. Plain numbers, readable without any dependency; every
// label set is fixed in advance, so no request can create a new series (an attacker's kid included).
import { REJECT_REASONS, type RejectReason } from './codec.js'

export interface MetricsSnapshot {
  /** Cookies refused, by reason. */
  rejected: Record<RejectReason, number>
  /** Cookies opened successfully. */
  opened: number
  /** Opens answered from the authenticated-token cache. */
  cacheHits: number
  /** Tokens sealed, by kid (only kids of the configured key set appear). */
  sealed: Record<string, number>
  /** Successful opens by kid: shows when an old key is no longer in use. */
  decrypted: Record<string, number>
  /** Cookies re-sealed because they were opened with a decrypt-only key. */
  rotated: number
  /** Sessions moved to the store / back into the cookie. */
  offloaded: number
  returnedToCookie: number
  store: { hits: number, misses: number, errors: number, conflicts: number }
  /** Responses refused because the session did not fit in a cookie. */
  tooLarge: number
}

export class Metrics {
  readonly rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>
  opened = 0
  cacheHits = 0
  sealed: Record<string, number> = Object.create(null)
  decrypted: Record<string, number> = Object.create(null)
  rotated = 0
  offloaded = 0
  returnedToCookie = 0
  readonly store = { hits: 0, misses: 0, errors: 0, conflicts: 0 }
  tooLarge = 0

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
      sealed: { ...this.sealed },
      decrypted: { ...this.decrypted },
      rotated: this.rotated,
      offloaded: this.offloaded,
      returnedToCookie: this.returnedToCookie,
      store: this.store,
      tooLarge: this.tooLarge
    })
  }
}
