// Session keys kept wrapped by AWS KMS (envelope encryption): the app holds only ciphertext blobs
// (SESSION_KEYS_KMS="kid:<base64 CiphertextBlob>,…", first current) and a KMSClient it created; each
// load asks KMS to Decrypt every blob under an encryption context that binds the data key to its
// app, its purpose and its kid, so a blob copied from another app, purpose or kid is refused.
//
// The AWS SDK is an optional peer dependency: nothing here loads it until kmsKeys() is called, and
// then only for its command classes (the client is the app's own). Every KMS call has a deadline
// (the SDK has none by default). Errors carry the kid, the KMS error name and message, never key
// material or ciphertext; transient failures are plain errors, which the refresher retries at
// startup and survives afterwards (a failed refresh keeps the keys in force).
import { errors } from '../errors.js'
import type { KeyProvider } from './providers.js'

export const KMS_PURPOSE = 'fastify-encrypted-session'
export const KMS_PACKAGE = '@aws-sdk/client-kms'
const KID = /^[A-Za-z0-9._-]{1,64}$/
const RESERVED = ['purpose', 'kid'] as const

// The option types are public: declared once, in types/index.d.ts.
export type { KmsClientLike, KmsWrappedKey, KmsKeysOptions } from '../../types/index.js'
import type { KmsClientLike, KmsKeysOptions, KmsWrappedKey } from '../../types/index.js'

interface KmsCommands {
  DecryptCommand: new (input: Record<string, unknown>) => unknown
  GenerateDataKeyCommand: new (input: Record<string, unknown>) => unknown
}

/** The encryption context every wrapped session key is bound to. */
export function kmsEncryptionContext (app: string, kid: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, app, purpose: KMS_PURPOSE, kid }
}

/**
 * Loads the SDK's command classes, or fails with a coded error that says what to install. `load`
 * is replaceable for tests.
 */
export function loadKmsCommands (load: (id: string) => unknown = require): KmsCommands {
  let mod: Partial<KmsCommands>
  try {
    mod = load(KMS_PACKAGE) as Partial<KmsCommands>
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new errors.FST_ENCSESS_INVALID_OPTION('keys', `kmsKeys() needs the package "${KMS_PACKAGE}" (v3), an optional peer dependency: npm install ${KMS_PACKAGE}`)
    }
    throw err
  }
  if (typeof mod.DecryptCommand !== 'function' || typeof mod.GenerateDataKeyCommand !== 'function') {
    throw new errors.FST_ENCSESS_INVALID_OPTION('keys', `kmsKeys() needs "${KMS_PACKAGE}" v3 (DecryptCommand was not found in it)`)
  }
  return { DecryptCommand: mod.DecryptCommand, GenerateDataKeyCommand: mod.GenerateDataKeyCommand }
}

/** A KeyProvider that decrypts KMS-wrapped session keys on every load. */
export function kmsKeys (options: KmsKeysOptions): KeyProvider {
  if (options === null || typeof options !== 'object') throw new errors.FST_ENCSESS_INVALID_OPTION('kmsKeys', 'pass { client, encryptionContext: { app }, keys? }')
  const { client, keyId } = options
  if (client === null || typeof client !== 'object' || typeof client.send !== 'function') {
    throw new errors.FST_ENCSESS_INVALID_OPTION('kmsKeys.client', `it must be a KMSClient from ${KMS_PACKAGE}`)
  }
  const context = checkContext(options.encryptionContext)
  const timeout = options.requestTimeout ?? 3000
  if (!Number.isSafeInteger(timeout) || timeout < 1 || timeout > 600_000) {
    throw new errors.FST_ENCSESS_INVALID_OPTION('kmsKeys.requestTimeout', 'it must be a whole number from 1 to 600000 ms')
  }
  if (keyId !== undefined && (typeof keyId !== 'string' || keyId === '')) {
    throw new errors.FST_ENCSESS_INVALID_OPTION('kmsKeys.keyId', 'it must be a KMS key id, ARN or alias')
  }
  const source = options.keys
  if (source !== undefined && typeof source !== 'string' && !Array.isArray(source)) {
    throw new errors.FST_ENCSESS_INVALID_OPTION('kmsKeys.keys', 'it must be a "kid:<base64 CiphertextBlob>,…" string or an array of { kid, ciphertext }')
  }
  const { DecryptCommand } = loadKmsCommands()

  return async () => {
    const wrapped = parseWrapped(source ?? readEnv())
    // All keys at once; the first failure aborts the others, as the load has failed anyway.
    const all = new AbortController()
    try {
      return await Promise.all(wrapped.map(async ({ kid, ciphertext }) => {
        const input: Record<string, unknown> = { CiphertextBlob: ciphertext, EncryptionContext: kmsEncryptionContext(context.app, kid, context.extra) }
        if (keyId !== undefined) input.KeyId = keyId
        const out = await callKms(client, new DecryptCommand(input), timeout, all.signal, `Decrypt of session key "${kid}"`, (name) => {
          // A blob KMS cannot open under this context will never open: do not retry it.
          if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') {
            return new errors.FST_ENCSESS_INVALID_KEY(kid, `KMS refused to decrypt it (${name}): the ciphertext is damaged, or was wrapped by another KMS key or for another encryption context (app, purpose, kid)`)
          }
          return undefined
        }) as { Plaintext?: Uint8Array }
        const plaintext = out?.Plaintext
        if (!(plaintext instanceof Uint8Array)) throw new errors.FST_ENCSESS_INVALID_KEY(kid, 'KMS returned no plaintext')
        if (plaintext.byteLength !== 32) {
          plaintext.fill(0)
          throw new errors.FST_ENCSESS_INVALID_KEY(kid, `KMS returned a ${plaintext.byteLength * 8}-bit data key, not 256 (generate it with KeySpec AES_256)`)
        }
        return { kid, key: plaintext }
      }))
    } finally {
      all.abort()
    }
  }
}

/**
 * One KMS call with a deadline: the request is aborted after `ms` (or when `outer` aborts), and the
 * result is bounded by the same deadline even if the client ignored the signal. SDK errors become
 * plain errors naming the operation, the KMS error and its message, with long base64/hex runs
 * removed; `permanent` may turn a KMS error into a coded one that is not retried.
 */
export async function callKms (client: KmsClientLike, command: unknown, ms: number, outer: AbortSignal | undefined, what: string, permanent?: (name: string) => Error | undefined): Promise<unknown> {
  const controller = new AbortController()
  const onOuter = (): void => controller.abort()
  outer?.addEventListener('abort', onOuter, { once: true })
  let timer: NodeJS.Timeout | undefined
  let timedOut = false
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      timedOut = true
      controller.abort()
      reject(new Error(`KMS ${what} did not answer within ${ms} ms`))
    }, ms)
  })
  const sent = Promise.resolve().then(() => client.send(command, { abortSignal: controller.signal }))
  sent.catch(() => {})
  let failure: unknown
  try {
    return await Promise.race([sent, deadline])
  } catch (err) {
    failure = err
  } finally {
    clearTimeout(timer)
    outer?.removeEventListener('abort', onOuter)
  }
  if (timedOut) throw new Error(`KMS ${what} did not answer within ${ms} ms`)
  const coded = permanent?.(errorName(failure))
  if (coded !== undefined) throw coded
  throw new Error(`KMS ${what} failed: ${describeKmsError(failure)}`)
}

/** "Name (HTTP 400, code X): message", safe to log. */
export function describeKmsError (err: unknown): string {
  if (!(err instanceof Error)) return redact(String(err)).slice(0, 300)
  const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata
  const code = (err as { code?: unknown }).code
  const details = [
    meta?.httpStatusCode !== undefined ? `HTTP ${meta.httpStatusCode}` : undefined,
    typeof code === 'string' && code !== err.name ? code : undefined
  ].filter((d) => d !== undefined)
  const message = err.message === '' || err.message === 'UnknownError' ? '' : `: ${redact(err.message).slice(0, 300)}`
  return `${errorName(err)}${details.length > 0 ? ` (${details.join(', ')})` : ''}${message}`
}

function errorName (err: unknown): string {
  const name = (err as { name?: unknown } | null)?.name
  return typeof name === 'string' && /^[A-Za-z0-9_.]{1,64}$/.test(name) ? name : 'Error'
}

// Whatever a server or library put in a message, runs that could be key material or ciphertext
// (40+ characters of base64, base64url or hex) are not repeated. ARNs and key ids stay readable.
function redact (text: string): string {
  return text.replace(/[A-Za-z0-9+/=]{40,}|[A-Za-z0-9_=-]{40,}/g, '[redacted]')
}

function checkContext (input: unknown): { app: string, extra: Record<string, string> } {
  if (input === null || typeof input !== 'object') {
    throw new errors.FST_ENCSESS_INVALID_OPTION('kmsKeys.encryptionContext', 'it must be an object naming the app: { app: "my-app" }')
  }
  const { app, ...extra } = input as Record<string, unknown>
  if (typeof app !== 'string' || app === '') {
    throw new errors.FST_ENCSESS_INVALID_OPTION('kmsKeys.encryptionContext.app', 'it must be a non-empty string naming the app, the same as given to `keygen --app`')
  }
  for (const name of RESERVED) {
    if (name in extra) throw new errors.FST_ENCSESS_INVALID_OPTION(`kmsKeys.encryptionContext.${name}`, 'it is set by the plugin and cannot be given')
  }
  for (const [name, value] of Object.entries(extra)) {
    if (typeof value !== 'string') throw new errors.FST_ENCSESS_INVALID_OPTION(`kmsKeys.encryptionContext.${name}`, 'encryption context values must be strings')
  }
  return { app, extra: extra as Record<string, string> }
}

function readEnv (): string {
  const value = process.env.SESSION_KEYS_KMS
  if (value === undefined || value.trim() === '') {
    throw new errors.FST_ENCSESS_INVALID_OPTION('kmsKeys.keys', 'it was not given and the environment variable SESSION_KEYS_KMS is not set; `npx fastify-encrypted-session keygen --kms-key-id <key> --app <app>` prints an entry')
  }
  return value
}

// Ciphertext blobs are checked for shape only (KMS judges them); messages never echo them.
function parseWrapped (source: string | readonly KmsWrappedKey[]): Array<{ kid: string, ciphertext: Uint8Array }> {
  const list: Array<{ kid: unknown, ciphertext: unknown }> = typeof source === 'string'
    ? source.split(',').map((item, i) => {
      const entry = item.trim()
      const colon = entry.indexOf(':')
      if (colon === -1) throw new errors.FST_ENCSESS_INVALID_OPTION('kmsKeys.keys', `entry ${i + 1} is not of the form "kid:<base64 CiphertextBlob>"`)
      return { kid: entry.slice(0, colon), ciphertext: entry.slice(colon + 1) }
    })
    : source as Array<{ kid: unknown, ciphertext: unknown }>
  if (list.length === 0) throw new errors.FST_ENCSESS_INVALID_OPTION('kmsKeys.keys', 'it holds no key')
  const kids = new Set<string>()
  return list.map((item, i) => {
    if (item === null || typeof item !== 'object') throw new errors.FST_ENCSESS_INVALID_OPTION('kmsKeys.keys', `entry ${i + 1} is not an object { kid, ciphertext }`)
    const { kid, ciphertext } = item
    if (typeof kid !== 'string' || !KID.test(kid)) {
      throw new errors.FST_ENCSESS_INVALID_OPTION('kmsKeys.keys', `entry ${i + 1} has no valid kid (1 to 64 of A-Z a-z 0-9 . _ -)`)
    }
    if (kids.has(kid)) throw new errors.FST_ENCSESS_DUPLICATE_KEY(`kid "${kid}" appears twice`)
    kids.add(kid)
    let bytes: Uint8Array
    if (ciphertext instanceof Uint8Array) bytes = ciphertext
    else if (typeof ciphertext === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(ciphertext) && ciphertext.length % 4 === 0) bytes = Buffer.from(ciphertext, 'base64')
    else throw new errors.FST_ENCSESS_INVALID_KEY(kid, 'its KMS ciphertext is missing or not base64')
    // Real blobs are well over 100 bytes; KMS accepts at most 6144.
    if (bytes.byteLength < 32 || bytes.byteLength > 6144) throw new errors.FST_ENCSESS_INVALID_KEY(kid, `its KMS ciphertext is ${bytes.byteLength} bytes, not a CiphertextBlob`)
    return { kid, ciphertext: bytes }
  })
}
