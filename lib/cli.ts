#!/usr/bin/env node
// Operator helper: `fastify-encrypted-session keygen [--kid ID]` prints a new key as a SESSION_KEYS
// entry and as a JWK. Keys go to stdout only, so they can be piped into a secret store.
import { generateKey } from './keys/generate.js'

const KID = /^[A-Za-z0-9._-]{1,64}$/

export function main (argv: readonly string[], out: (line: string) => void, err: (line: string) => void): number {
  const [command, ...rest] = argv
  if (command === 'keygen') {
    let kid: string | undefined
    for (let i = 0; i < rest.length; i++) {
      if (rest[i] === '--kid' && rest[i + 1] !== undefined) kid = rest[++i]
      else if (rest[i]?.startsWith('--kid=')) kid = rest[i]!.slice(6)
      else return usage(err, `unknown argument: ${rest[i]}`)
    }
    if (kid !== undefined && !KID.test(kid)) return usage(err, 'a kid is 1 to 64 of A-Z a-z 0-9 . _ -')
    const key = generateKey(kid)
    out('# SESSION_KEYS entry: put it first in SESSION_KEYS to make it the current key')
    out(key.entry)
    out('# The same key as a JWK, for a JWK Set file')
    out(JSON.stringify(key.jwk))
    return 0
  }
  return usage(err, command === undefined ? 'no command given' : `unknown command: ${command}`)
}

function usage (err: (line: string) => void, problem: string): number {
  err(`fastify-encrypted-session: ${problem}`)
  err('usage: fastify-encrypted-session keygen [--kid ID]')
  return 2
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2), (l) => process.stdout.write(`${l}\n`), (l) => process.stderr.write(`${l}\n`))
}
