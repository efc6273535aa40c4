// What session data may hold: what JSON represents, nested at most MAX_DEPTH levels. A value is
// checked when set() receives it, where the error can name its key at the line that caused it;
// serializing is guarded too, for what set() cannot see (objects changed in place afterwards, a
// toJSON that throws), so no JSON.stringify error ever reaches a client as a bare 500.
import { errors } from './errors.js'
import type { SessionRecord } from './claims.js'

/** Levels of objects and arrays a session value may nest (the value itself is level 1). */
export const MAX_DEPTH = 100

/**
 * Throws FST_ENCSESS_INVALID_SESSION_DATA when `value` cannot be stored under `key`. Strings,
 * numbers and booleans cost one typeof; an object is walked once, visiting each of its objects and
 * arrays (never a string's characters): about a third of what JSON.stringify of it costs (3 us
 * against 8 us for a 100-node cart), which every commit of the session pays anyway.
 */
export function checkSessionValue (key: string, value: unknown): void {
  if (typeof value !== 'object' && typeof value !== 'bigint') return
  const problem = problemOf(value, 1, [])
  if (problem !== undefined) throw new errors.FST_ENCSESS_INVALID_SESSION_DATA(key, problem)
}

/** `stringify(record)`, with any error it throws turned into the coded error naming the key at fault. */
export function dataJson<T> (record: SessionRecord, stringify: (record: SessionRecord) => T): T {
  try {
    return stringify(record)
  } catch (err) {
    // Only on failure: find the key whose value JSON refused, so the message can name it.
    for (const key of Object.keys(record)) {
      checkSessionValue(key, record[key])
      try {
        JSON.stringify(record[key])
      } catch (inner) {
        throw new errors.FST_ENCSESS_INVALID_SESSION_DATA(key, (inner as Error).message)
      }
    }
    throw new errors.FST_ENCSESS_INVALID_SESSION_DATA('(the session as a whole)', (err as Error).message)
  }
}

// `ancestors`: the objects on the path from the session value down to this one. A repeat among
// them is a cycle; the same object reached by two paths is not (JSON writes it twice). Children
// that are strings, numbers or booleans cost one typeof each, without a call.
function problemOf (value: unknown, depth: number, ancestors: object[]): string | undefined {
  if (typeof value === 'bigint') return 'it holds a BigInt, which JSON cannot represent (store it as a string)'
  if (value === null || typeof value !== 'object') return undefined
  // JSON.stringify uses what toJSON returns, which cannot be known without calling it.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return undefined
  if (depth > MAX_DEPTH) return `it nests objects or arrays deeper than ${MAX_DEPTH} levels`
  if (ancestors.includes(value)) return 'it contains a cycle (an object that contains itself)'
  ancestors.push(value)
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = childProblem(value[i], depth, ancestors)
      if (problem !== undefined) return problem
    }
  } else {
    // Own keys only, as JSON.stringify reads them.
    for (const key of Object.keys(value)) {
      const problem = childProblem((value as Record<string, unknown>)[key], depth, ancestors)
      if (problem !== undefined) return problem
    }
  }
  ancestors.pop()
  return undefined
}

function childProblem (child: unknown, depth: number, ancestors: object[]): string | undefined {
  return (typeof child === 'object' && child !== null) || typeof child === 'bigint' ? problemOf(child, depth + 1, ancestors) : undefined
}
