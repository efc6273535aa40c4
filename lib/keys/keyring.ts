// The key set in the form the hot path wants: the current key, and every key by kid together with
// the exact protected header we emit for it. Swapping a whole ring is one assignment, so a refresh
// never exposes half of an old set and half of a new one.
import { createHash, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto'
import type { RawKey } from './parse.js'

export interface KeyEntry {
  readonly kid: string
  readonly key: KeyObject
  /** base64url of `{"alg":"dir","enc":"A256GCM","kid":"…"}`: the first segment of our tokens. */
  readonly header: string
  /** The header segment as ASCII bytes: the JWE additional authenticated data. */
  readonly aad: Buffer
  /** The same two for `{"alg":"A256KW",…}`, used when key wrapping is on. */
  readonly kwHeader: string
  readonly kwAad: Buffer
  /** Key for HMAC-ing session ids into store keys, derived so it is never the encryption key. */
  readonly storeKey: Buffer
}

export class KeyRing {
  readonly current: KeyEntry
  readonly #byKid: Map<string, KeyEntry>
  readonly #byHeader: Map<string, KeyEntry>
  readonly #byKwHeader: Map<string, KeyEntry>
  /** kids plus a check value: lets operators compare rollouts without revealing key bytes. */
  readonly fingerprint: string

  constructor (keys: readonly RawKey[]) {
    const entries = keys.map(toEntry)
    this.current = entries[0]!
    this.#byKid = new Map(entries.map((e) => [e.kid, e]))
    this.#byHeader = new Map(entries.map((e) => [e.header, e]))
    this.#byKwHeader = new Map(entries.map((e) => [e.kwHeader, e]))
    this.fingerprint = fingerprintOf(keys)
  }

  /** Exact match on the header segment we emit: the common case, with no parsing at all. */
  byHeader (header: string): KeyEntry | undefined {
    return this.#byHeader.get(header)
  }

  /** The same for the A256KW header. */
  byKwHeader (header: string): KeyEntry | undefined {
    return this.#byKwHeader.get(header)
  }

  byKid (kid: string): KeyEntry | undefined {
    return this.#byKid.get(kid)
  }

  get kids (): string[] {
    return [...this.#byKid.keys()]
  }
}

function toEntry ({ kid, bytes }: RawKey): KeyEntry {
  const header = Buffer.from(`{"alg":"dir","enc":"A256GCM","kid":"${kid}"}`).toString('base64url')
  const kwHeader = Buffer.from(`{"alg":"A256KW","enc":"A256GCM","kid":"${kid}"}`).toString('base64url')
  return {
    kid,
    key: createSecretKey(bytes),
    header,
    aad: Buffer.from(header, 'ascii'),
    kwHeader,
    kwAad: Buffer.from(kwHeader, 'ascii'),
    storeKey: Buffer.from(hkdfSync('sha256', bytes, Buffer.alloc(0), 'fastify-encrypted-session store-key v1', 32))
  }
}

function fingerprintOf (keys: readonly RawKey[]): string {
  // Only a truncated hash over a derived value is shown: it identifies the set, reveals nothing.
  const hash = createHash('sha256')
  for (const { kid, bytes } of keys) {
    hash.update(kid).update('\0')
    hash.update(new Uint8Array(hkdfSync('sha256', bytes, Buffer.alloc(0), 'fastify-encrypted-session fingerprint v1', 16)))
  }
  return `${keys.map((k) => k.kid).join(',')}#${hash.digest('base64url').slice(0, 16)}`
}
