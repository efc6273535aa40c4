// Tokens made by jose, the reference JOSE implementation, with claims we choose: interop checks
// and a way to craft expired or foreign tokens without touching the plugin's own sealing code.
import { CompactEncrypt, base64url } from 'jose'
import type { GeneratedKey } from '../../lib/keys/generate.js'

/** Claims to seal; deliberately loose so tests can also seal wrong types. */
export type ClaimsInput = Record<string, unknown>

export const SID = 'AAAAAAAAAAAAAAAAAAAAAA'

export async function joseToken (key: GeneratedKey, claims: ClaimsInput, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const body = { sid: SID, aud: 'fastify-encrypted-session#session', iat: now, exp: now + 3600, dat: {}, ...claims }
  for (const [k, v] of Object.entries(body)) if (v === undefined) delete (body as Record<string, unknown>)[k]
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(body)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: key.kid, ...header })
    .encrypt(base64url.decode(key.key))
}
