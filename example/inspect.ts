// What the demo page shows about the current session: read from the cookie the browser sent, as any
// other service holding the key could read it (its header is plain base64url JSON; its claims open
// with jose, a JOSE library that shares no code with the plugin), plus the plugin's own counters.
import type { FastifyRequest } from 'fastify'
import type { MetricsSnapshot, SessionManager } from '../types/index.js'

export interface Inspection {
  /**
   * Where the session's data lives, as the cookie says; 'unknown' when the demo cannot open the
   * cookie itself (keys given as a JWK Set rather than kid:key entries).
   */
  where: 'none' | 'cookie' | 'store' | 'refused' | 'unknown'
  /** The store's class, when the data lives there; its version (the cookie's `ref`). */
  store: string
  storeVersion: number | null
  /** Bytes of the Set-Cookie that carries this cookie (name, value, attributes), and the limit. */
  cookieBytes: number
  maxCookieSize: number
  /** The `kid` in the cookie's protected header: the key that sealed it. */
  kid: string | null
  /** Key ids this instance holds, the current (sealing) one first. */
  keyIds: string[]
  /** Seconds since the epoch, from the session: when it began, when it ends, when it idles out. */
  createdAt: number | null
  expiresAt: number | null
  idleExpiresAt: number | null
  now: number
  /** Decodes that ended in a session (`ok`) and refusals by reason. */
  outcomes: { ok: number, refused: MetricsSnapshot['rejected'] }
}

export interface InspectContext {
  manager: SessionManager
  cookieName: string
  maxCookieSize: number
  storeName: string
  /** The keys this instance holds, as SESSION_KEYS entries (kid:base64url). */
  keyEntries: () => readonly string[]
  /** Bytes a Set-Cookie adds to `name=value` (its attributes), as last sent. */
  attributeBytes: () => number
}

export async function inspect (request: FastifyRequest, ctx: InspectContext): Promise<Inspection> {
  const token = request.cookies[ctx.cookieName]
  const session = request.session
  const snapshot = ctx.manager.metrics.snapshot()
  const base: Inspection = {
    where: 'none',
    store: ctx.storeName,
    storeVersion: null,
    cookieBytes: 0,
    maxCookieSize: ctx.maxCookieSize,
    kid: null,
    keyIds: ctx.manager.keyFingerprint.split('#')[0]!.split(','),
    createdAt: null,
    expiresAt: null,
    idleExpiresAt: null,
    now: Math.floor(Date.now() / 1000),
    outcomes: { ok: snapshot.opened, refused: snapshot.rejected }
  }
  if (token === undefined || token === '') return base
  base.cookieBytes = ctx.cookieName.length + 1 + token.length + ctx.attributeBytes()
  base.kid = headerKid(token)
  if (session.isNew) return { ...base, where: 'refused' }
  const claims = await openClaims(token, base.kid, ctx.keyEntries())
  return {
    ...base,
    where: claims === undefined ? 'unknown' : claims.ref === undefined ? 'cookie' : 'store',
    storeVersion: claims?.ref ?? null,
    createdAt: session.createdAt,
    expiresAt: session.expiresAt,
    idleExpiresAt: session.idleExpiresAt ?? null
  }
}

/** The kid of a compact JWE's protected header, which anyone can read; null when it has none. */
export function headerKid (token: string): string | null {
  try {
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as { kid?: unknown }
    return typeof header.kid === 'string' ? header.kid : null
  } catch {
    return null
  }
}

/**
 * The token's claims, opened with jose and the key its kid names. Only called for a cookie the
 * plugin accepted, so this succeeds unless the keys are not in SESSION_KEYS form.
 */
async function openClaims (token: string, kid: string | null, entries: readonly string[]): Promise<{ ref?: number } | undefined> {
  const entry = entries.find((e) => e.startsWith(`${kid}:`))
  if (entry === undefined) return undefined
  const { compactDecrypt } = await import('jose')
  const { plaintext } = await compactDecrypt(token, Buffer.from(entry.slice(entry.indexOf(':') + 1), 'base64url'), {
    keyManagementAlgorithms: ['dir'],
    contentEncryptionAlgorithms: ['A256GCM']
  })
  return JSON.parse(Buffer.from(plaintext).toString('utf8')) as { ref?: number }
}

/** A copy of a token with one character of its ciphertext changed: still well-formed, no longer authentic. */
export function tamper (token: string): string {
  const parts = token.split('.')
  const ciphertext = parts[3] ?? ''
  if (parts.length !== 5 || ciphertext.length < 4) return `${token}x`
  const at = Math.floor(ciphertext.length / 2)
  const flipped = ciphertext[at] === 'A' ? 'B' : 'A'
  parts[3] = ciphertext.slice(0, at) + flipped + ciphertext.slice(at + 1)
  return parts.join('.')
}
