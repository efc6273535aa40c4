// Session records: plain objects that no key can turn into something else. Their prototype is one
// empty, frozen object with no prototype of its own, so "__proto__", "constructor" or "toString"
// are ordinary keys (no accessor or method is inherited), a polluted Object.prototype never shows
// through, and for-in sees own keys only. A record with a null prototype would do the same, but V8
// keeps objects made by Object.create(null) in dictionary mode: JSON.stringify of a 100-byte
// session took 3 times as long as of the same data in an ordinary object (0.8 µs against 0.25 µs
// on Node 26), and a shallow copy 3 times too (107 ns against 36 ns), on every write.
import type { SessionRecord } from './claims.js'

const RECORD_PROTO: object = Object.freeze(Object.create(null))

/** An empty record. */
export function newRecord (): SessionRecord {
  return Object.create(RECORD_PROTO) as SessionRecord
}

/** Makes a parsed JSON object a record in place (its own keys are kept as they are). */
export function adoptRecord (parsed: object): SessionRecord {
  return Object.setPrototypeOf(parsed, RECORD_PROTO) as SessionRecord
}

/** A shallow copy: a new record with the same values. */
export function copyRecord (record: SessionRecord): SessionRecord {
  return Object.assign(newRecord(), record)
}

/**
 * A deep copy of a value that came from JSON.parse (or from this function): exactly what parsing
 * its JSON again would give, own "__proto__" keys included, in a fifth of the time of that round
 * trip. Only for such values: anything else (a Date, undefined members) it copies as it is.
 */
export function cloneJson (value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    const copy = new Array<unknown>(value.length)
    for (let i = 0; i < value.length; i++) copy[i] = cloneJson(value[i])
    return copy
  }
  const copy: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    const member = cloneJson((value as Record<string, unknown>)[key])
    // An assignment to "__proto__" would set the prototype; JSON.parse makes it an own key.
    if (key === '__proto__') Object.defineProperty(copy, key, { value: member, writable: true, enumerable: true, configurable: true })
    else copy[key] = member
  }
  return copy
}

/**
 * True when `value` would come back from a JSON round trip as a value equal to `json`, which came
 * from JSON.parse: the same plain objects and arrays with the same keys in the same order, and the
 * same strings, booleans, nulls and numbers (-0 equals 0, which is what JSON makes of it). Anything
 * JSON would change (a Date, a toJSON, an undefined member, NaN, a class instance) is not equal.
 * For a route that read an object and left it as it was, this lets a cache go on sharing the
 * cache's own parsed copy instead of copying the route's.
 */
export function sameJson (value: unknown, json: unknown): boolean {
  if (typeof value !== 'object' || value === null) return value === json && (typeof value !== 'number' || Number.isFinite(value))
  if (typeof json !== 'object' || json === null) return false
  if (Array.isArray(value)) {
    if (!Array.isArray(json) || Object.getPrototypeOf(value) !== Array.prototype || value.length !== json.length) return false
    for (let i = 0; i < value.length; i++) if (!sameJson(value[i], json[i])) return false
    return true
  }
  if (Array.isArray(json) || Object.getPrototypeOf(value) !== Object.prototype) return false
  const keys = Object.keys(value)
  const jsonKeys = Object.keys(json)
  if (keys.length !== jsonKeys.length) return false
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    if (key !== jsonKeys[i] || key === 'toJSON' || !sameJson((value as Record<string, unknown>)[key], (json as Record<string, unknown>)[key])) return false
  }
  return true
}
