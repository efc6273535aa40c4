// Fresh keys for operators (the CLI) and the demo's development fallback.
import { randomBytes } from 'node:crypto'

export interface GeneratedKey {
  kid: string
  /** base64url of 32 random bytes */
  key: string
  /** One entry of SESSION_KEYS: "kid:key". */
  entry: string
  /** The same key as a JWK for a JWK Set. */
  jwk: { kty: 'oct', kid: string, k: string, alg: 'dir', use: 'enc' }
}

export function generateKey (kid: string = `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`): GeneratedKey {
  const key = randomBytes(32).toString('base64url')
  return { kid, key, entry: `${kid}:${key}`, jwk: { kty: 'oct', kid, k: key, alg: 'dir', use: 'enc' } }
}
