// The JSON object inside every token, and the checks that run on it after authentication.
// Field names are short because they travel in every cookie; the README documents each one.
import type { RejectReason } from './codec.js'
import { refusalAt, type LifetimeLimits } from './lifetime.js'
import { adoptRecord, newRecord, sameJson } from './record.js'

export type SessionRecord = Record<string, unknown>

export interface Claims {
  /** Stable session id: 16 random bytes, base64url. */
  sid: string
  /** Audience and cookie name, "<audience>#<cookieName>": binds the token to one use. */
  aud: string
  /** Issued at: when the session began, seconds since the epoch. Never moves. */
  iat: number
  /** Absolute expiry, seconds since the epoch. Never extended, not even by rotation. */
  exp: number
  /** Idle deadline, seconds since the epoch, present only when idleTimeout is set. */
  idl?: number
  /** Session data, when it lives in the cookie. */
  dat?: SessionRecord
  /** Version of the offloaded data, when the data lives in the store instead. */
  ref?: number
  /** With a store: kid of the key current when the session began; it derives the store key. */
  skid?: string
  /** With userKey: the key of the user's record of sessions (an HMAC of the user id; see users.ts). */
  usr?: string
}

const SID = /^[A-Za-z0-9_-]{22,64}$/
const KID = /^[A-Za-z0-9._-]{1,64}$/

export function parseClaims (plaintext: string, aud: string, limits: LifetimeLimits, now: number): Claims | RejectReason {
  let claims: unknown
  try {
    claims = JSON.parse(plaintext)
  } catch {
    return 'payload'
  }
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) return 'payload'
  const c = claims as Record<string, unknown>
  if (typeof c.sid !== 'string' || !SID.test(c.sid)) return 'payload'
  if (!isTime(c.iat) || !isTime(c.exp) || (c.idl !== undefined && !isTime(c.idl))) return 'payload'
  const hasData = c.dat !== undefined
  if (hasData === (c.ref !== undefined)) return 'payload'
  if (hasData ? !isRecord(c.dat) : !(Number.isSafeInteger(c.ref) && (c.ref as number) > 0)) return 'payload'
  if (c.skid !== undefined && (typeof c.skid !== 'string' || !KID.test(c.skid))) return 'payload'
  if ((c.ref !== undefined || c.usr !== undefined) && c.skid === undefined) return 'payload'
  if (c.usr !== undefined && (typeof c.usr !== 'string' || !SID.test(c.usr))) return 'payload'
  if (c.aud !== aud) return 'context'
  const refused = refusalAt(c as unknown as Claims, limits, now)
  if (refused !== undefined) return refused
  if (hasData) adoptRecord(c.dat as object)
  return c as unknown as Claims
}

export function serializeClaims (c: Claims): string {
  return JSON.stringify(c)
}

/**
 * A record's long string values that JSON.stringify last left unescaped, by key: their JSON is the
 * value in quotes. Strings are immutable, so a value that is still the same string still needs no
 * escaping, and the memo holds nothing but references to strings the data holds anyway (keeping
 * the JSON text itself cost a 1M-request soak 70 MB of peak RSS). The memo belongs to one session,
 * so how long a stringify takes says nothing about any other session's data.
 */
export type JsonMemo = Map<string, string>

// Below this, JSON.stringify of a string costs less than the memo's bookkeeping. Node 20's V8
// escapes strings at about 4 ns a character: 65 us for a 16 KB value, on every write of the session.
const MEMO_MIN = 1024

/**
 * Exactly JSON.stringify(record), quoting instead of stringifying the long string values that the
 * memo knows need no escaping, with the memo of this result. Anything with a toJSON at the top is left to JSON.stringify
 * (its toJSON would be called with the key, which only JSON.stringify of the whole record does).
 */
export function stringifyRecord (record: SessionRecord, memo: JsonMemo | undefined): { json: string, memo: JsonMemo | undefined } {
  if (typeof record.toJSON === 'function') return { json: JSON.stringify(record), memo: undefined }
  let next: JsonMemo | undefined
  let json = '{'
  for (const key in record) {
    const value = record[key]
    let member: string | undefined
    if (typeof value === 'string' && value.length >= MEMO_MIN) {
      member = memo?.get(key) === value ? `"${value}"` : JSON.stringify(value)
      // Escaping always lengthens, so the same length plus quotes means nothing was escaped.
      if (member.length === value.length + 2) (next ??= new Map()).set(key, value)
    } else {
      if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
        return { json: JSON.stringify(record), memo: undefined }
      }
      member = JSON.stringify(value)
      if (member === undefined) continue
    }
    json += `${json.length === 1 ? '' : ','}${JSON.stringify(key)}:${member}`
  }
  return { json: `${json}}`, memo: next }
}

/**
 * A copy of session data that is exactly what JSON.parse(JSON.stringify(record)) would give, or
 * undefined when a top-level value does not survive JSON unchanged (undefined, a function, NaN, -0).
 * Strings and numbers are immutable and shared; objects go through a JSON round trip, which is exact
 * for them by definition (own "__proto__" keys included). With `objects` false, a record holding
 * any object gives undefined instead: for callers that have a cheaper way to copy those. An object
 * identical to `shared`'s under the same key, or equal to it as JSON (see sameJson), is reused
 * from `shared`, not copied: the caller vouches that no one changes `shared` (see Session).
 */
export function copyJsonRecord (record: SessionRecord, objects = true, shared?: SessionRecord): SessionRecord | undefined {
  const copy = newRecord()
  for (const key in record) {
    const value = record[key]
    switch (typeof value) {
      case 'string':
      case 'boolean':
        copy[key] = value
        break
      case 'number':
        if (!Number.isFinite(value) || Object.is(value, -0)) return undefined
        copy[key] = value
        break
      case 'object': {
        const base = shared?.[key]
        // Null; an object still shared; or one the route was handed and left as it was, for which
        // the cache's own copy serves again.
        if (value === null || (base !== undefined && (base === value || sameJson(value, base)))) {
          copy[key] = value === null ? null : base
          break
        }
        if (!objects) return undefined
        const json = JSON.stringify(value)
        if (json === undefined) return undefined
        copy[key] = JSON.parse(json)
        break
      }
      default:
        return undefined
    }
  }
  return copy
}

export function isRecord (value: unknown): value is SessionRecord {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function isTime (value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

/**
 * serializeClaims(c) without its closing brace, for claims that end before the data: what every
 * write seals, built without JSON.stringify. `audJson` is JSON.stringify(c.aud), rendered once by
 * the caller; the session id is base64url (made so, or checked by parseClaims) and the numbers are
 * integers, so neither needs escaping.
 */
export function claimsHead (c: Claims, audJson: string): string {
  let head = `{"sid":"${c.sid}","aud":${audJson},"iat":${c.iat},"exp":${c.exp}`
  if (c.idl !== undefined) head += `,"idl":${c.idl}`
  if (c.skid !== undefined) head += `,"skid":${JSON.stringify(c.skid)}`
  // base64url, like the session id (made so, or checked by parseClaims).
  if (c.usr !== undefined) head += `,"usr":"${c.usr}"`
  return head
}
