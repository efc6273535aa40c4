// The keygen command line for people and scripts: --help, --format env|jwk (one line, nothing
// else), and a reader that stops early (`| head -1`) ends the output quietly. In-process through
// main() and run(); test/cli.test.ts runs the built file as a process, EPIPE included.
import t from 'tap'
import { EventEmitter } from 'node:events'
import { main, run, runIfMain, type Proc } from '../lib/cli.js'
import { parseKeySet } from '../lib/keys/parse.js'

async function cli (...argv: string[]): Promise<{ code: number, out: string[], err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, (l) => out.push(l), (l) => err.push(l))
  return { code, out, err }
}

class FakeProc extends EventEmitter {
  written: string[] = []
  errors: string[] = []
  exitCode: number | undefined = undefined
  stdout: EventEmitter & { write (chunk: string): unknown }
  stderr = { write: (chunk: string) => this.errors.push(chunk) }
  constructor (readonly argv: string[], write: (chunk: string, stdout: EventEmitter) => void = (chunk) => { this.written.push(chunk) }) {
    super()
    const stdout = new EventEmitter() as EventEmitter & { write (chunk: string): unknown }
    stdout.write = (chunk: string) => write(chunk, stdout)
    this.stdout = stdout
  }
}

t.test('--help and -h print the usage on stdout and exit 0, with or without the command', async (t) => {
  for (const argv of [['--help'], ['keygen', '--help'], ['-h'], ['keygen', '--kid', 'x', '-h']]) {
    const r = await cli(...argv)
    t.equal(r.code, 0, argv.join(' '))
    t.match(r.out[0], /^usage: fastify-encrypted-session keygen \[--kid ID\] \[--format env\|jwk\]$/)
    t.ok(r.out.some((l) => l.includes('--format env prints only the entry')))
    t.same(r.err, [])
  }
})

t.test('--format env prints only the SESSION_KEYS entry; --format jwk only the JWK', async (t) => {
  const env = await cli('keygen', '--kid', 'prod', '--format', 'env')
  t.equal(env.code, 0)
  t.equal(env.out.length, 1)
  t.match(env.out[0], /^prod:[A-Za-z0-9_-]{43}$/)
  t.equal(parseKeySet(env.out[0]!).length, 1, 'the plugin accepts it')
  const jwk = await cli('keygen', '--format=jwk', '--kid', 'prod')
  t.equal(jwk.code, 0)
  t.equal(jwk.out.length, 1)
  t.match(JSON.parse(jwk.out[0]!), { kty: 'oct', kid: 'prod', alg: 'dir', use: 'enc' })
  t.equal(parseKeySet({ keys: [JSON.parse(jwk.out[0]!)] }).length, 1, 'the plugin accepts it')
})

t.test('a wrong --format, or --format with --kms-key-id, is a usage error (exit 2, nothing on stdout)', async (t) => {
  for (const [argv, problem] of [
    [['keygen', '--format', 'pem'], /--format is env or jwk/],
    [['keygen', '--format'], /--format needs a value/],
    [['keygen', '--format', 'env', '--kms-key-id', 'alias/k', '--app', 'shop'], /--format goes without --kms-key-id/]
  ] as const) {
    const r = await cli(...argv)
    t.equal(r.code, 2)
    t.same(r.out, [])
    t.match(r.err[0], problem)
    t.match(r.err[1], /^usage: /)
  }
})

t.test('run(): a reader gone early (EPIPE) ends the output quietly with the exit code of main', async (t) => {
  let writes = 0
  const proc = new FakeProc(['node', 'cli', 'keygen'], (_chunk, stdout) => {
    // The reader exited after the first line: the second write fails, and nothing more is written.
    if (++writes === 2) stdout.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))
  })
  await run(proc as unknown as Proc)
  t.equal(proc.exitCode, 0)
  t.same(proc.errors, [], 'no stack trace, no message')
  t.equal(writes, 2, 'no write after the failure')
})

t.test('run(): another output failure, or a throwing stream, is one line on stderr and exit 1', async (t) => {
  const full = new FakeProc(['node', 'cli', 'keygen'])
  const pending = run(full as unknown as Proc)
  full.stdout.emit('error', Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }))
  await pending
  t.equal(full.exitCode, 1)
  t.same(full.errors, ['fastify-encrypted-session: cannot write the output: no space left on device\n'])

  const broken = new FakeProc(['node', 'cli', 'keygen'], () => { throw new Error('stream destroyed') })
  await run(broken as unknown as Proc)
  t.equal(broken.exitCode, 1)
  t.same(broken.errors, ['fastify-encrypted-session: Error: stream destroyed\n'])
})

t.test('runIfMain() runs only when the CLI file is the entry point', async (t) => {
  const other = new FakeProc(['node', 'cli', 'keygen'])
  t.equal(runIfMain({}, other as unknown as Proc), undefined)
  t.same(other.written, [])
  const entry = new FakeProc(['node', 'cli', 'keygen', '--format', 'env'])
  const cliModule = require.cache[require.resolve('../lib/cli.ts')]
  await runIfMain(cliModule, entry as unknown as Proc)
  t.equal(entry.exitCode, 0)
  t.equal(entry.written.length, 1)
})
