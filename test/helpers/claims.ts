// Opens a cookie value with jose, the reference implementation, to inspect its claims.
import { compactDecrypt, base64url } from 'jose'
import type { GeneratedKey } from '../../lib/keys/generate.js'

export async function claimsOf (token: string, key: GeneratedKey): Promise<Record<string, any>> {
  const { plaintext } = await compactDecrypt(token, base64url.decode(key.key), {
    keyManagementAlgorithms: ['dir'],
    contentEncryptionAlgorithms: ['A256GCM']
  })
  return JSON.parse(new TextDecoder().decode(plaintext))
}
