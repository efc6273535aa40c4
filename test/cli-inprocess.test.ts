// The CLI's paths run in this process through its exported main(), so that coverage sees them
// (test/cli.test.ts runs the built bin as a user would). KMS paths talk to the fake KMS on 127.0.0.1.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { registerHooks } from 'node:module'
import { main } from '../lib/cli.js'
import { parseKeySet } from '../lib/keys/parse.js'
import { fakeKms, withAwsTestCredentials } from './helpers/fake-kms.js'

async function run (...args: string[]): Promise<{ code: number, out: string[], err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(['keygen', ...args], (l) => out.push(l), (l) => err.push(l))
  return { code, out, err }
}

t.test('keygen (no KMS) exits 0 with a commented SESSION_KEYS entry and the same key as a JWK', async (t) => {
  const r = await run('--kid', 'inproc-1')
  t.equal(r.code, 0)
  t.same(r.err, [])
  t.equal(r.out.length, 4)
  t.match(r.out[0], /^# SESSION_KEYS entry/)
  t.match(r.out[1], /^inproc-1:[A-Za-z0-9_-]{43}$/)
  t.match(r.out[2], /^# The same key as a JWK/)
  t.same(parseKeySet(r.out[1]), parseKeySet({ keys: [JSON.parse(r.out[3]!)] }), 'both lines hold one key')
})

t.test('no command, an unknown command, an unknown argument or a bad kid: usage error, exit 2', async (t) => {
  for (const [argv, problem] of [
    [[], 'no command given'],
    [['frobnicate'], 'unknown command: frobnicate'],
    [['keygen', '--size', '16'], 'unknown argument: --size'],
    [['keygen', '--kid', 'bad kid'], 'a kid is 1 to 64 of A-Z a-z 0-9 . _ -'],
    [['keygen', '--kid'], '--kid needs a value']
  ] as const) {
    const out: string[] = []
    const err: string[] = []
    t.equal(await main(argv, (l) => out.push(l), (l) => err.push(l)), 2, argv.join(' '))
    t.same(out, [])
    t.equal(err[0], `fastify-encrypted-session: ${problem}`)
    t.match(err[1], /^usage: fastify-encrypted-session keygen/)
  }
})

t.test('KMS-only flags and --context without --kms-key-id are usage errors (exit 2, nothing on stdout)', async (t) => {
  for (const [args, problem] of [
    [['--app', 'shop'], '--app goes with --kms-key-id'],
    [['--region', 'eu-west-1'], '--region goes with --kms-key-id'],
    [['--endpoint', 'http://127.0.0.1:1'], '--endpoint goes with --kms-key-id'],
    [['--context', 'env=prod'], '--context goes with --kms-key-id'],
    [['--context', '=x'], '--context takes key=value'],
    [['--kms-key-id='], '--kms-key-id needs a KMS key id, ARN or alias']
  ] as const) {
    const r = await run(...args)
    t.equal(r.code, 2, args.join(' '))
    t.same(r.out, [])
    t.equal(r.err[0], `fastify-encrypted-session: ${problem}`)
    t.match(r.err[1], /^usage: fastify-encrypted-session keygen/)
  }
})

t.test('--kms-key-id without @aws-sdk/client-kms installed: exit 1, says what to install', async (t) => {
  // The optional peer made unresolvable for this process, as in an app that never installed it.
  const hooks = registerHooks({
    resolve (specifier, context, next) {
      if (specifier === '@aws-sdk/client-kms') throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: 'MODULE_NOT_FOUND' })
      return next(specifier, context)
    }
  })
  t.teardown(() => hooks.deregister())
  const r = await run('--kms-key-id', 'alias/sessions', '--app', 'shop', '--region', 'us-east-1', '--endpoint', 'http://127.0.0.1:1')
  t.equal(r.code, 1)
  t.same(r.out, [])
  t.same(r.err, ['fastify-encrypted-session: --kms-key-id needs the package "@aws-sdk/client-kms" (v3): npm install @aws-sdk/client-kms'])
})

t.test('a KMS answer without CiphertextBlob: exit 1, nothing printed on stdout, the plaintext never shown', async (t) => {
  withAwsTestCredentials(t)
  const kms = await fakeKms(t)
  kms.fail('no-blob', 1)
  const r = await run('--kms-key-id', 'alias/sessions', '--app', 'shop', '--region', 'us-east-1', '--endpoint', kms.url)
  t.equal(r.code, 1)
  t.same(r.out, [])
  t.same(r.err, ['fastify-encrypted-session: KMS GenerateDataKey returned no CiphertextBlob'])
  const plaintext = kms.generated[0]!
  for (const encoding of ['base64', 'base64url', 'hex'] as const) {
    t.notOk(r.err.join('\n').includes(plaintext.toString(encoding).slice(0, 20)), `no plaintext (${encoding}) in stderr`)
  }
})

t.test('a KMS answer without KeyId: the comment names the key id that was asked for', async (t) => {
  withAwsTestCredentials(t)
  const kms = await fakeKms(t)
  kms.fail('no-key-id', 1)
  const r = await run('--kms-key-id', 'alias/sessions', '--app', 'shop', '--kid', 'k3', '--context', 'env=prod', '--region', 'us-east-1', '--endpoint', kms.url)
  t.equal(r.code, 0, r.err.join('\n'))
  t.equal(r.out[0], '# SESSION_KEYS_KMS entry: data key wrapped by alias/sessions for app=shop, env=prod')
  t.match(r.out.at(-1), /^k3:[A-Za-z0-9+/]+={0,2}$/)
})

t.test('an SDK client that cannot be built (empty --region): main rejects, the bin exits 1 with the reason', async (t) => {
  await t.rejects(run('--kms-key-id', 'alias/sessions', '--app', 'shop', '--region', ''), { message: /Region is missing/ })

  // The bin's handler of that rejection: one line on stderr, exit code 1, nothing on stdout.
  const child = spawn(process.execPath, [`--require=${join(__dirname, 'helpers', 'register-ts.cjs')}`, join(__dirname, '..', 'lib', 'cli.ts'),
    'keygen', '--kms-key-id', 'alias/sessions', '--app', 'shop', '--region', ''])
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  const [status] = await once(child, 'close')
  t.equal(status, 1)
  t.equal(stdout, '')
  t.match(stderr, /^fastify-encrypted-session: .*Region is missing.*\n$/)
})
