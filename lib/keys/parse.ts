// Turns every accepted key-set format into one list of { kid, bytes }, checking each key strictly.
// Errors name the kid (or the entry's position) and never include key material.
import { timingSafeEqual } from 'node:crypto'
import { errors } from '../errors.js'

export interface RawKey {
  kid: string
  bytes: Buffer
}

/** What the `keys` option accepts; see the README's "Keys" section. */
export type KeySetInput =
  | string
  | { keys: readonly JsonWebKeyLike[] }
  | readonly { kid: string, key: string | Uint8Array }[]

interface JsonWebKeyLike {
  kty?: unknown
  kid?: unknown
  k?: unknown
  alg?: unknown
  use?: unknown
}

const KID = /^[A-Za-z0-9._-]{1,64}$/
// 32 bytes in unpadded base64url are 43 characters; the last one carries 2 bits of padding that
// must be zero, so only these characters may end a canonical encoding.
const KEY_B64 = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/

export function parseKeySet (input: unknown): RawKey[] {
  if (input === undefined || input === null || input === '') throw new errors.FST_ENCSESS_NO_KEYS()
  let keys: RawKey[]
  if (typeof input === 'string') {
    const text = input.trim()
    keys = text.startsWith('{') ? fromJwks(parseJson(text)) : fromEnvString(text)
  } else if (Array.isArray(input)) {
    keys = input.map(fromPair)
  } else if (typeof input === 'object' && Array.isArray((input as { keys?: unknown }).keys)) {
    keys = fromJwks(input)
  } else {
    // null was refused above, so typeof names what was given.
    throw new errors.FST_ENCSESS_INVALID_KEY_SET(`expected a string, a JWK Set or an array, got ${typeof input}`)
  }
  if (keys.length === 0) throw new errors.FST_ENCSESS_INVALID_KEY_SET('the set holds no key')
  checkUnique(keys)
  return keys
}

function fromEnvString (text: string): RawKey[] {
  return text.split(',').map((entry, i) => {
    const item = entry.trim()
    const colon = item.indexOf(':')
    if (colon === -1) {
      throw new errors.FST_ENCSESS_INVALID_KEY_SET(`entry ${i + 1} is not of the form "kid:key"`)
    }
    const kid = checkKid(item.slice(0, colon), i)
    return { kid, bytes: decodeKey(kid, item.slice(colon + 1)) }
  })
}

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new errors.FST_ENCSESS_INVALID_KEY_SET('the string starts with "{" but is not valid JSON')
  }
}

function fromJwks (jwks: unknown): RawKey[] {
  const list = (jwks as { keys?: unknown }).keys
  if (!Array.isArray(list)) throw new errors.FST_ENCSESS_INVALID_KEY_SET('a JWK Set needs a "keys" array')
  return list.map((jwk: JsonWebKeyLike, i: number) => {
    if (jwk === null || typeof jwk !== 'object') {
      throw new errors.FST_ENCSESS_INVALID_KEY_SET(`JWK ${i + 1} is not an object`)
    }
    const kid = checkKid(jwk.kid, i)
    if (jwk.kty !== 'oct') throw new errors.FST_ENCSESS_INVALID_KEY(kid, 'a JWK must have kty "oct"')
    if (jwk.alg !== undefined && jwk.alg !== 'dir' && jwk.alg !== 'A256GCM') {
      throw new errors.FST_ENCSESS_INVALID_KEY(kid, 'a JWK "alg", when present, must be "dir" or "A256GCM"')
    }
    if (jwk.use !== undefined && jwk.use !== 'enc') {
      throw new errors.FST_ENCSESS_INVALID_KEY(kid, 'a JWK "use", when present, must be "enc"')
    }
    return { kid, bytes: decodeKey(kid, jwk.k) }
  })
}

function fromPair (pair: unknown, i: number): RawKey {
  if (pair === null || typeof pair !== 'object') {
    throw new errors.FST_ENCSESS_INVALID_KEY_SET(`entry ${i + 1} is not an object { kid, key }`)
  }
  const { kid: rawKid, key } = pair as { kid?: unknown, key?: unknown }
  const kid = checkKid(rawKid, i)
  if (key instanceof Uint8Array) {
    if (key.byteLength !== 32) throw new errors.FST_ENCSESS_INVALID_KEY(kid, `it is ${key.byteLength * 8} bits, not 256`)
    return { kid, bytes: checkEntropy(kid, Buffer.from(key)) }
  }
  return { kid, bytes: decodeKey(kid, key) }
}

function checkKid (kid: unknown, i: number): string {
  if (typeof kid !== 'string' || !KID.test(kid)) {
    throw new errors.FST_ENCSESS_INVALID_KEY_SET(`entry ${i + 1} has no valid kid (1 to 64 of A-Z a-z 0-9 . _ -)`)
  }
  return kid
}

function decodeKey (kid: string, encoded: unknown): Buffer {
  if (typeof encoded !== 'string') throw new errors.FST_ENCSESS_INVALID_KEY(kid, 'the key is missing or not a string')
  if (!KEY_B64.test(encoded)) {
    // Say what is wrong without echoing any part of the value.
    const bits = Math.floor(encoded.replace(/[^A-Za-z0-9_-]/g, '').length * 6 / 8) * 8
    const why = /[^A-Za-z0-9_-]/.test(encoded)
      ? 'it is not unpadded base64url'
      : bits === 256 ? 'its base64url encoding is not canonical' : `it is ${bits} bits, not 256`
    throw new errors.FST_ENCSESS_INVALID_KEY(kid, why)
  }
  return checkEntropy(kid, Buffer.from(encoded, 'base64url'))
}

// A key of one repeated byte (all zeros, say) is a placeholder, not a random key. A key whose 32
// bytes are all printable ASCII (0x20-0x7E) is text: a password, a phrase, a hex or base64 string
// passed as bytes, with far fewer than 256 bits of entropy. A random key is all printable with
// probability (95/256)^32, about 1.7e-14, so refusing those costs nobody a real key.
function checkEntropy (kid: string, bytes: Buffer): Buffer {
  if (bytes.every((b) => b === bytes[0])) {
    throw new errors.FST_ENCSESS_INVALID_KEY(kid, 'it repeats a single byte, so it is not random')
  }
  if (bytes.every((b) => b >= 0x20 && b <= 0x7e)) {
    throw new errors.FST_ENCSESS_INVALID_KEY(kid, 'all its bytes are printable ASCII, so it is text (a password or phrase), not random bytes')
  }
  return bytes
}

function checkUnique (keys: RawKey[]): void {
  const kids = new Set<string>()
  for (let i = 0; i < keys.length; i++) {
    const a = keys[i]!
    if (kids.has(a.kid)) throw new errors.FST_ENCSESS_DUPLICATE_KEY(`kid "${a.kid}" appears twice`)
    kids.add(a.kid)
    for (let j = 0; j < i; j++) {
      const b = keys[j]!
      if (timingSafeEqual(a.bytes, b.bytes)) {
        throw new errors.FST_ENCSESS_DUPLICATE_KEY(`kids "${b.kid}" and "${a.kid}" hold the same key bytes`)
      }
    }
  }
}
