// Compact JWE (RFC 7516) with alg "dir" and enc "A256GCM", written with synchronous node:crypto:
// jose's async WebCrypto path costs ten times more per request. Every check that can reject a token
// runs before any decryption work, and nothing here throws on untrusted input.
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto'
import type { KeyEntry, KeyRing } from './keys/keyring.js'

/** Why a token was refused: a small closed set that labels metrics, so it must stay bounded. */
export type { RejectReason } from '../types/index.js'
import type { RejectReason } from '../types/index.js'

export const REJECT_REASONS: readonly RejectReason[] = [
  'oversized', 'malformed', 'header', 'unknown_kid', 'decrypt', 'payload', 'context', 'expired', 'idle',
  'revoked', 'store_missing', 'store_invalid', 'duplicate'
]

export interface Opened {
  plaintext: Buffer
  entry: KeyEntry
}

// A 12-byte IV is exactly 16 characters and a 16-byte tag exactly 22 (the last one canonical):
// fixed lengths here are what pin the IV and tag sizes before any decryption.
const IV = /^[A-Za-z0-9_-]{16}$/
const TAG = /^[A-Za-z0-9_-]{21}[AQgw]$/
const B64URL = /^[A-Za-z0-9_-]+$/
// Canonical last characters for an encoding whose length mod 4 is 2 (4 spare bits) or 3 (2 spare bits).
const LAST_OF_2 = /[AQgw]$/
const LAST_OF_3 = /[AEIMQUYcgkosw048]$/
const ALLOWED_HEADER = new Set(['alg', 'enc', 'kid'])

const IV_BYTES = 12
const IV_POOL_SIZE = IV_BYTES * 512

export class Codec {
  #ring: KeyRing
  // IVs come from a pool filled in bulk: one getrandom call per 512 seals instead of one per seal.
  // Each slot is handed out once and the pool is refilled with fresh randomness when exhausted.
  #ivPool = Buffer.allocUnsafe(IV_POOL_SIZE)
  #ivOffset = IV_POOL_SIZE

  readonly #onSeal: (kid: string) => void

  constructor (ring: KeyRing, onSeal: (kid: string) => void = () => {}) {
    this.#ring = ring
    this.#onSeal = onSeal
  }

  /** Length of the token seal() would produce for a plaintext of `bytes` bytes under `entry`. */
  sealedLength (bytes: number, entry: KeyEntry = this.#ring.current): number {
    // header . (empty key) . 16-char IV . ciphertext (as long as the plaintext) . 22-char tag
    return entry.header.length + 2 + 16 + 1 + Math.ceil(bytes * 4 / 3) + 1 + 22
  }

  get ring (): KeyRing {
    return this.#ring
  }

  set ring (ring: KeyRing) {
    this.#ring = ring
  }

  seal (plaintext: string | Buffer, entry: KeyEntry = this.#ring.current): string {
    if (this.#ivOffset === IV_POOL_SIZE) {
      randomFillSync(this.#ivPool)
      this.#ivOffset = 0
    }
    const iv = this.#ivPool.subarray(this.#ivOffset, this.#ivOffset + IV_BYTES)
    this.#ivOffset += IV_BYTES
    const cipher = createCipheriv('aes-256-gcm', entry.key, iv, { authTagLength: 16 })
    cipher.setAAD(entry.aad)
    const head = cipher.update(plaintext)
    const tail = cipher.final()
    const ct = tail.length === 0 ? head : Buffer.concat([head, tail])
    this.#onSeal(entry.kid)
    return `${entry.header}..${iv.toString('base64url')}.${ct.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`
  }

  /** Returns the plaintext and the key that opened it, or the reason the token was refused. */
  open (token: string, maxLength: number): Opened | RejectReason {
    if (token.length > maxLength) return 'oversized'
    const d1 = token.indexOf('.')
    if (d1 <= 0 || token.charCodeAt(d1 + 1) !== 46 /* '.' */) return 'malformed'
    const d3 = d1 + 18
    if (token.charCodeAt(d3) !== 46) return 'malformed'
    const d4 = token.indexOf('.', d3 + 1)
    if (d4 === -1 || token.indexOf('.', d4 + 1) !== -1) return 'malformed'
    const ivText = token.slice(d1 + 2, d3)
    const tagText = token.slice(d4 + 1)
    if (!IV.test(ivText) || !TAG.test(tagText)) return 'malformed'
    const header = token.slice(0, d1)
    let entry = this.#ring.byHeader(header)
    let aad: Buffer | undefined
    if (entry === undefined) {
      const resolved = this.#resolveHeader(header)
      if (typeof resolved === 'string') return resolved
      entry = resolved
      aad = Buffer.from(header, 'ascii')
    }

    // Node's base64 decoder skips characters outside the alphabet, so a token with a stray byte
    // could decode to the very ciphertext that authenticates. Re-encoding and comparing rejects
    // every non-canonical or foreign character at native speed (a regex over kilobytes did not).
    const ctText = token.slice(d3 + 1, d4)
    const ct = Buffer.from(ctText, 'base64url')
    if (ct.toString('base64url') !== ctText) return 'malformed'

    try {
      const decipher = createDecipheriv('aes-256-gcm', entry.key, Buffer.from(ivText, 'base64url'), { authTagLength: 16 })
      decipher.setAAD(aad ?? entry.aad)
      decipher.setAuthTag(Buffer.from(tagText, 'base64url'))
      const head = decipher.update(ct)
      const last = decipher.final()
      return { plaintext: last.length === 0 ? head : Buffer.concat([head, last]), entry }
    } catch {
      return 'decrypt'
    }
  }

  /**
   * Whether a token names a kid of the current ring. Cheap (no decryption), for deciding whether
   * a key refresh might help; malformed tokens count as known, since no refresh would help them.
   */
  knowsKid (token: string): boolean {
    const dot = token.indexOf('.')
    if (dot <= 0) return true
    const header = token.slice(0, dot)
    if (this.#ring.byHeader(header) !== undefined) return true
    return this.#resolveHeader(header) !== 'unknown_kid'
  }

  // A header that is not byte-for-byte one we emit (another JOSE library may order the members
  // differently): parse it and accept exactly alg=dir, enc=A256GCM and a kid, nothing more.
  #resolveHeader (header: string): KeyEntry | RejectReason {
    if (!B64URL.test(header) || !canonical(header)) return 'malformed'
    let parsed: unknown
    try {
      parsed = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'))
    } catch {
      return 'header'
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return 'header'
    for (const name of Object.keys(parsed)) if (!ALLOWED_HEADER.has(name)) return 'header'
    const { alg, enc, kid } = parsed as Record<string, unknown>
    if (alg !== 'dir' || enc !== 'A256GCM' || typeof kid !== 'string') return 'header'
    return this.#ring.byKid(kid) ?? 'unknown_kid'
  }
}

function canonical (text: string): boolean {
  switch (text.length % 4) {
    case 0: return true
    case 2: return LAST_OF_2.test(text)
    case 3: return LAST_OF_3.test(text)
    default: return false
  }
}
