// Compact JWE (RFC 7516) with alg "dir" (or, optionally, "A256KW") and enc "A256GCM", written with synchronous node:crypto:
// jose's async WebCrypto path costs ten times more per request. Every check that can reject a token
// runs before any decryption work, and nothing here throws on untrusted input.
import { createCipheriv, createDecipheriv, randomFillSync, type KeyObject } from 'node:crypto'
import type { KeyEntry, KeyRing } from './keys/keyring.js'

/** Why a token was refused: a small closed set that labels metrics, so it must stay bounded. */
export type { RejectReason } from '../types/index.js'
import type { RejectReason } from '../types/index.js'

export const REJECT_REASONS: readonly RejectReason[] = [
  'oversized', 'malformed', 'header', 'unknown_kid', 'decrypt', 'payload', 'context', 'expired', 'idle',
  'revoked', 'store_missing', 'store_invalid', 'duplicate', 'future'
]

export interface Opened {
  plaintext: Buffer
  entry: KeyEntry
}

// A 12-byte IV is exactly 16 characters and a 16-byte tag exactly 22 (the last one canonical):
// fixed lengths here are what pin the IV and tag sizes before any decryption.
const IV = /^[A-Za-z0-9_-]{16}$/
// An A256KW-wrapped 32-byte content key is 40 bytes: 54 characters.
const WRAPPED = /^[A-Za-z0-9_-]{53}[AQgw]$/
// RFC 3394's default initial value, which JWE's A256KW uses.
const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex')
const TAG = /^[A-Za-z0-9_-]{21}[AQgw]$/
const B64URL = /^[A-Za-z0-9_-]+$/
// Canonical last characters for an encoding whose length mod 4 is 2 (4 spare bits) or 3 (2 spare bits).
const LAST_OF_2 = /[AQgw]$/
const LAST_OF_3 = /[AEIMQUYcgkosw048]$/
const ALLOWED_HEADER = new Set(['alg', 'enc', 'kid'])

// base64url digit values by character code, -1 for anything else.
const DIGIT = new Int8Array(128).fill(-1)
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) DIGIT[c.charCodeAt(0)] = i
// Decoded ciphertexts up to this size reuse one buffer; larger ones (store values) get their own.
const SCRATCH_MAX = 64 * 1024

const IV_BYTES = 12
// base64url characters of one IV (12 bytes, a multiple of 3: no padding, no partial group).
const IV_TEXT = 16
const CEK_BYTES = 32
// Seals per refill of the random pool: each takes one IV and, with A256KW, one content key.
const POOL_SLOTS = 512

export class Codec {
  #ring: KeyRing
  // Randomness comes from a pool filled in bulk: one getrandom call per 512 seals instead of one
  // per seal. Each slot is handed out once and the pool is refilled when exhausted. The IVs lie
  // side by side at its start, 12 bytes each, a multiple of 3: their base64url text is encoded in
  // one pass per refill, 16 characters per IV, and each IV's bytes have a view made once.
  readonly #pool: Buffer
  readonly #ivs: Buffer[]
  readonly #keys: Buffer[]
  #ivText = ''
  #next: number

  // Decoding into buffers that are kept skips Buffer.from's allocation and its separate length pass:
  // about half the cost of decoding a 3 KB ciphertext. open() is synchronous, so nothing else can
  // use them between the decode and the decryption, which copies what it needs.
  #scratch = Buffer.allocUnsafe(4096)
  readonly #iv = Buffer.allocUnsafe(IV_BYTES)
  readonly #tag = Buffer.allocUnsafe(16)

  readonly #onSeal: (kid: string) => void
  /** Seal with A256KW (a fresh content key per token, wrapped by the key ring's key) instead of dir. */
  readonly wrap: boolean

  constructor (ring: KeyRing, onSeal: (kid: string) => void = () => {}, wrap = false) {
    this.#ring = ring
    this.#onSeal = onSeal
    this.wrap = wrap
    const ivBytes = IV_BYTES * POOL_SLOTS
    this.#pool = Buffer.allocUnsafe(ivBytes + (wrap ? CEK_BYTES * POOL_SLOTS : 0))
    this.#ivs = Array.from({ length: POOL_SLOTS }, (_, i) => this.#pool.subarray(i * IV_BYTES, (i + 1) * IV_BYTES))
    this.#keys = wrap ? Array.from({ length: POOL_SLOTS }, (_, i) => this.#pool.subarray(ivBytes + i * CEK_BYTES, ivBytes + (i + 1) * CEK_BYTES)) : []
    this.#next = POOL_SLOTS
  }

  /** Length of the token seal() would produce for a plaintext of `bytes` bytes under `entry`. */
  sealedLength (bytes: number, entry: KeyEntry = this.#ring.current): number {
    // header . encrypted key (empty for dir, 54 chars for A256KW) . 16-char IV . ciphertext (as
    // long as the plaintext) . 22-char tag
    return (this.wrap ? entry.kwHeader.length + 54 : entry.header.length) + 2 + 16 + 1 + Math.ceil(bytes * 4 / 3) + 1 + 22
  }

  get ring (): KeyRing {
    return this.#ring
  }

  set ring (ring: KeyRing) {
    this.#ring = ring
  }

  seal (plaintext: string | Buffer, entry: KeyEntry = this.#ring.current): string {
    if (this.#next === POOL_SLOTS) {
      randomFillSync(this.#pool)
      this.#ivText = this.#pool.toString('base64url', 0, IV_BYTES * POOL_SLOTS)
      this.#next = 0
    }
    const slot = this.#next++
    const iv = this.#ivs[slot]!
    let prefix = `${entry.header}.`
    let key: KeyObject | Buffer = entry.key
    let aad = entry.aad
    if (this.wrap) {
      key = this.#keys[slot]!
      const kw = createCipheriv('id-aes256-wrap', entry.key, KW_IV)
      prefix = `${entry.kwHeader}.${Buffer.concat([kw.update(key), kw.final()]).toString('base64url')}`
      aad = entry.kwAad
    }
    // Encryption always makes a 16-byte tag in GCM; options are left out (one lookup less per seal).
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    cipher.setAAD(aad)
    const ct = cipher.update(plaintext)
    // GCM is a stream mode: final() adds no bytes, it only computes the tag.
    cipher.final()
    this.#onSeal(entry.kid)
    return `${prefix}.${this.#ivText.slice(slot * IV_TEXT, (slot + 1) * IV_TEXT)}.${ct.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`
  }

  /** Returns the plaintext and the key that opened it, or the reason the token was refused. */
  open (token: string, maxLength: number): Opened | RejectReason {
    if (token.length > maxLength) return 'oversized'
    const d1 = token.indexOf('.')
    if (d1 <= 0) return 'malformed'
    // The encrypted-key segment: empty for dir, a 40-byte wrapped key for A256KW (when enabled).
    let d2 = d1 + 1
    let wrappedText: string | undefined
    if (token.charCodeAt(d2) !== 46 /* '.' */) {
      if (!this.wrap) return 'malformed'
      d2 = d1 + 55
      if (token.charCodeAt(d2) !== 46) return 'malformed'
      wrappedText = token.slice(d1 + 1, d2)
      if (!WRAPPED.test(wrappedText)) return 'malformed'
    }
    const d3 = d2 + 17
    if (token.charCodeAt(d3) !== 46) return 'malformed'
    const d4 = token.indexOf('.', d3 + 1)
    if (d4 === -1 || token.indexOf('.', d4 + 1) !== -1) return 'malformed'
    const ivText = token.slice(d2 + 1, d3)
    const tagText = token.slice(d4 + 1)
    if (!IV.test(ivText) || !TAG.test(tagText)) return 'malformed'
    const header = token.slice(0, d1)
    const wrapped = wrappedText !== undefined
    let entry = wrapped ? this.#ring.byKwHeader(header) : this.#ring.byHeader(header)
    let aad: Buffer | undefined
    if (entry === undefined) {
      const resolved = this.#resolveHeader(header)
      if (typeof resolved === 'string') return resolved
      // The header's alg must agree with the shape of the encrypted-key segment.
      if (resolved.wrapped !== wrapped) return 'header'
      entry = resolved.entry
      aad = Buffer.from(header, 'ascii')
    }

    const ct = this.#decode(token.slice(d3 + 1, d4))
    if (ct === undefined) return 'malformed'

    try {
      let key: KeyObject | Buffer = entry.key
      if (wrappedText !== undefined) {
        const kw = createDecipheriv('id-aes256-wrap', entry.key, KW_IV)
        key = Buffer.concat([kw.update(Buffer.from(wrappedText, 'base64url')), kw.final()])
      }
      // IV and tag passed the fixed-length patterns above, so they decode to exactly 12 and 16 bytes.
      this.#iv.write(ivText, 'base64url')
      this.#tag.write(tagText, 'base64url')
      const decipher = createDecipheriv('aes-256-gcm', key, this.#iv, { authTagLength: 16 })
      decipher.setAAD(aad ?? (wrapped ? entry.kwAad : entry.aad))
      decipher.setAuthTag(this.#tag)
      const plaintext = decipher.update(ct)
      // GCM is a stream mode: final() only checks the tag (it throws on a mismatch) and adds no bytes.
      decipher.final()
      return { plaintext, entry }
    } catch {
      return 'decrypt'
    }
  }

  /**
   * The bytes of a canonical base64url text, or undefined. Node's decoder skips characters outside
   * its alphabet and also takes "+" and "/", so a token with a stray byte could decode to the very
   * ciphertext that authenticates. Each such character is caught without a second pass over the
   * bytes: a skipped one makes the decoded count short (for every length that is not 1 mod 4, fewer
   * digits always mean fewer bytes), the two standard-alphabet ones are searched for, and the spare
   * bits of the last digit must be zero. (Re-encoding and comparing did the same at twice the cost.)
   */
  #decode (text: string): Buffer | undefined {
    const n = text.length
    if (n % 4 === 1) return undefined
    const bytes = (n * 3) >>> 2
    let out: Buffer
    if (bytes <= SCRATCH_MAX) {
      if (this.#scratch.length < bytes) this.#scratch = Buffer.allocUnsafe(SCRATCH_MAX)
      out = this.#scratch.subarray(0, bytes)
    } else {
      out = Buffer.allocUnsafe(bytes)
    }
    if (out.write(text, 'base64url') !== bytes) return undefined
    if (text.indexOf('+') !== -1 || text.indexOf('/') !== -1) return undefined
    if (n % 4 !== 0) {
      const code = text.charCodeAt(n - 1)
      const digit = code < 128 ? DIGIT[code]! : -1
      // Two leftover digits carry 4 spare bits, three carry 2.
      if (digit < 0 || (digit & (n % 4 === 2 ? 0x0f : 0x03)) !== 0) return undefined
    }
    return out
  }

  /**
   * Whether a token names a kid of the current ring. Cheap (no decryption), for deciding whether
   * a key refresh might help; malformed tokens count as known, since no refresh would help them.
   */
  knowsKid (token: string): boolean {
    const dot = token.indexOf('.')
    if (dot <= 0) return true
    const header = token.slice(0, dot)
    if (this.#ring.byHeader(header) !== undefined || this.#ring.byKwHeader(header) !== undefined) return true
    return this.#resolveHeader(header) !== 'unknown_kid'
  }

  // A header that is not byte-for-byte one we emit (another JOSE library may order the members
  // differently): parse it and accept exactly alg=dir (or A256KW when enabled), enc=A256GCM and a
  // kid, nothing more.
  #resolveHeader (header: string): { entry: KeyEntry, wrapped: boolean } | RejectReason {
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
    if (!(alg === 'dir' || (this.wrap && alg === 'A256KW')) || enc !== 'A256GCM' || typeof kid !== 'string') return 'header'
    const entry = this.#ring.byKid(kid)
    return entry === undefined ? 'unknown_kid' : { entry, wrapped: alg === 'A256KW' }
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
