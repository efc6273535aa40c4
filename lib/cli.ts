#!/usr/bin/env node
// Operator helper. `fastify-encrypted-session keygen [--kid ID]` prints a new key as a SESSION_KEYS
// entry and as a JWK. With `--kms-key-id`, KMS generates the data key (GenerateDataKey, AES_256,
// bound to the app by the encryption context) and only its wrapped form, a SESSION_KEYS_KMS entry,
// is printed: the plaintext key is never shown. Output goes to stdout only, so it can be piped into
// a secret store; `--format env` or `--format jwk` prints that one line alone, for scripts.
import type { EventEmitter } from 'node:events'
import { generateKey } from './keys/generate.js'
import { callKms, kmsEncryptionContext, KMS_PACKAGE } from './keys/kms.js'

const KID = /^[A-Za-z0-9._-]{1,64}$/
const KMS_TIMEOUT = 10_000
const VALUE_FLAGS = new Set(['--kid', '--kms-key-id', '--app', '--region', '--endpoint', '--context', '--format'])
const FORMATS = new Set(['env', 'jwk'])
const USAGE = [
  'usage: fastify-encrypted-session keygen [--kid ID] [--format env|jwk]',
  '       fastify-encrypted-session keygen --kms-key-id KEY --app NAME [--kid ID] [--region R] [--endpoint URL] [--context key=value]...',
  '',
  'keygen prints a new 256-bit key as a SESSION_KEYS entry and as a JWK (with comments);',
  '--format env prints only the entry, --format jwk only the JWK. With --kms-key-id, KMS generates',
  'the key and only its wrapped form (a SESSION_KEYS_KMS entry) is printed.'
]

/** Runs the command line `argv` (without node and the script); returns the exit code. */
export async function main (argv: readonly string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    for (const line of USAGE) out(line)
    return 0
  }
  const [command, ...rest] = argv
  if (command !== 'keygen') return usage(err, command === undefined ? 'no command given' : `unknown command: ${command}`)
  const flags = new Map<string, string>()
  const context: Record<string, string> = {}
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    const eq = arg.indexOf('=')
    const flag = arg.startsWith('--') && eq !== -1 ? arg.slice(0, eq) : arg
    if (!VALUE_FLAGS.has(flag)) return usage(err, `unknown argument: ${arg}`)
    const value = eq !== -1 && arg.startsWith('--') ? arg.slice(eq + 1) : rest[++i]
    if (value === undefined) return usage(err, `${flag} needs a value`)
    if (flag === '--context') {
      const at = value.indexOf('=')
      if (at < 1) return usage(err, '--context takes key=value')
      context[value.slice(0, at)] = value.slice(at + 1)
    } else {
      flags.set(flag, value)
    }
  }
  const kid = flags.get('--kid')
  if (kid !== undefined && !KID.test(kid)) return usage(err, 'a kid is 1 to 64 of A-Z a-z 0-9 . _ -')
  const format = flags.get('--format')
  if (format !== undefined && !FORMATS.has(format)) return usage(err, '--format is env or jwk')
  const kmsKeyId = flags.get('--kms-key-id')
  if (kmsKeyId === undefined) {
    for (const flag of ['--app', '--region', '--endpoint']) if (flags.has(flag)) return usage(err, `${flag} goes with --kms-key-id`)
    if (Object.keys(context).length > 0) return usage(err, '--context goes with --kms-key-id')
    const key = generateKey(kid)
    if (format === 'env') out(key.entry)
    else if (format === 'jwk') out(JSON.stringify(key.jwk))
    else {
      out('# SESSION_KEYS entry: put it first in SESSION_KEYS to make it the current key')
      out(key.entry)
      out('# The same key as a JWK, for a JWK Set file')
      out(JSON.stringify(key.jwk))
    }
    return 0
  }
  if (format !== undefined) return usage(err, '--format goes without --kms-key-id (KMS prints only the wrapped entry)')
  const app = flags.get('--app')
  if (kmsKeyId === '') return usage(err, '--kms-key-id needs a KMS key id, ARN or alias')
  if (app === undefined || app === '') return usage(err, '--kms-key-id needs --app NAME (the app the key is bound to, as in kmsKeys({ encryptionContext: { app } }))')
  for (const name of ['app', 'purpose', 'kid']) if (name in context) return usage(err, `--context cannot set "${name}"`)
  const endpoint = flags.get('--endpoint')
  if (endpoint !== undefined && !URL.canParse(endpoint)) return usage(err, '--endpoint must be a URL')
  return kmsKeygen({ kmsKeyId, app, kid: kid ?? generateKey().kid, region: flags.get('--region'), endpoint, context }, out, err)
}

interface KmsKeygen {
  kmsKeyId: string
  app: string
  kid: string
  region: string | undefined
  endpoint: string | undefined
  context: Record<string, string>
}

async function kmsKeygen (o: KmsKeygen, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let sdk: { KMSClient: new (config: Record<string, unknown>) => { send: (c: unknown, o?: unknown) => Promise<any>, destroy: () => void }, GenerateDataKeyCommand: new (input: Record<string, unknown>) => unknown }
  try {
    sdk = require(KMS_PACKAGE)
  } catch {
    err(`fastify-encrypted-session: --kms-key-id needs the package "${KMS_PACKAGE}" (v3): npm install ${KMS_PACKAGE}`)
    return 1
  }
  const client = new sdk.KMSClient({
    ...(o.region !== undefined && { region: o.region }),
    ...(o.endpoint !== undefined && { endpoint: o.endpoint })
  })
  try {
    const command = new sdk.GenerateDataKeyCommand({ KeyId: o.kmsKeyId, KeySpec: 'AES_256', EncryptionContext: kmsEncryptionContext(o.app, o.kid, o.context) })
    const result = await callKms(client, command, KMS_TIMEOUT, undefined, `GenerateDataKey with key "${o.kmsKeyId}"`) as { CiphertextBlob?: Uint8Array, Plaintext?: Uint8Array, KeyId?: string }
    // The plaintext is not needed here: wipe it.
    result.Plaintext?.fill(0)
    if (!(result.CiphertextBlob instanceof Uint8Array) || result.CiphertextBlob.byteLength === 0) {
      err('fastify-encrypted-session: KMS GenerateDataKey returned no CiphertextBlob')
      return 1
    }
    const extra = Object.entries(o.context).map(([k, v]) => `, ${k}=${v}`).join('')
    out(`# SESSION_KEYS_KMS entry: data key wrapped by ${result.KeyId ?? o.kmsKeyId} for app=${o.app}${extra}`)
    out('# Put it first in SESSION_KEYS_KMS to make it the current key; load it with kmsKeys({ client, encryptionContext: { app } })')
    out(`${o.kid}:${Buffer.from(result.CiphertextBlob).toString('base64')}`)
    return 0
  } catch (e) {
    // callKms and the SDK's command constructor throw Error objects only.
    err(`fastify-encrypted-session: ${(e as Error).message}`)
  } finally {
    client.destroy()
  }
  return 1
}

function usage (err: (line: string) => void, problem: string): number {
  err(`fastify-encrypted-session: ${problem}`)
  for (const line of USAGE.slice(0, 2)) err(line)
  return 2
}

/** The parts of `process` the command line uses; tests pass their own. */
export interface Proc {
  argv: readonly string[]
  stdout: EventEmitter & { write (chunk: string): unknown }
  stderr: { write (chunk: string): unknown }
  exitCode?: number | string | null | undefined
}

/**
 * Runs main() on a process's arguments and streams. A reader that goes away early (`| head -1`)
 * makes stdout fail with EPIPE: that ends the output quietly, not with a stack trace.
 */
export async function run (proc: Proc): Promise<void> {
  let closed = false
  proc.stdout.on('error', (e: NodeJS.ErrnoException) => {
    closed = true
    if (e.code === 'EPIPE') return
    proc.stderr.write(`fastify-encrypted-session: cannot write the output: ${e.message}\n`)
    proc.exitCode = 1
  })
  const out = (line: string): void => { if (!closed) proc.stdout.write(`${line}\n`) }
  const err = (line: string): void => { proc.stderr.write(`${line}\n`) }
  try {
    const code = await main(proc.argv.slice(2), out, err)
    if (proc.exitCode !== 1) proc.exitCode = code
  } catch (e) {
    err(`fastify-encrypted-session: ${String(e)}`)
    proc.exitCode = 1
  }
}

/** Runs the command line when `entry` (require.main) is this file, as with `npx fastify-encrypted-session`. */
export function runIfMain (entry: unknown, proc: Proc): Promise<void> | undefined {
  return entry === module ? run(proc) : undefined
}

// run() settles every failure itself (exit code and message), so the promise needs no handler.
runIfMain(require.main, process)
