// Whether a token's times make it acceptable now, judged against the lifetime configured now and not
// only against the deadlines it was sealed with: lowering maxAge or idleTimeout and restarting
// shortens every live session at once, and raising them never lengthens one already issued. The
// token cache and the decrypting path both ask this one function, so they cannot disagree; later
// checks of "is this token acceptable now" (per-user revocation, say) belong here too.
import type { RejectReason } from './codec.js'

/**
 * Seconds another instance's clock may run ahead of ours. A token issued by it may carry an `iat`
 * (and an idle deadline) up to this far in our future; anything further was not issued by a clock
 * we share and is refused as `future`.
 */
export const CLOCK_SKEW = 60

/** The clock every lifetime is judged by: whole seconds since the epoch. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000)

/** The lifetime configured now, in seconds (idleTimeout 0: none). */
export interface LifetimeLimits {
  maxAge: number
  idleTimeout: number
}

/** The times a token carries, seconds since the epoch. */
export interface TokenTimes {
  iat: number
  exp: number
  idl?: number
}

/** Undefined when a token with these times is acceptable at `now`, or the reason it is not. */
export function refusalAt (times: TokenTimes, limits: LifetimeLimits, now: number): RejectReason | undefined {
  if (times.iat > now + CLOCK_SKEW) return 'future'
  if (now >= times.exp || now >= times.iat + limits.maxAge) return 'expired'
  if (times.idl === undefined) return undefined
  if (now >= times.idl) return 'idle'
  if (limits.idleTimeout > 0 && times.idl > now + limits.idleTimeout + CLOCK_SKEW) return 'idle'
  return undefined
}
