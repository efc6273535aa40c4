// The Node.js running this suite is one that package.json's `engines` admits (CI runs the suite
// once per admitted major, and a pass on an unsupported Node would prove nothing), and the parts
// of the test bench that load native or version-sensitive code work on it: sodium-native behind
// @fastify/secure-session (the peer the benchmarks compare against) and the AWS SDK's KMS client.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import fastifySecureSession from '@fastify/secure-session'

const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8'))

/** The parts of a range of the form `^22.19.0 || ^24.0.0 || ^26.0.0`, as [major, minor, patch]. */
function rangeParts (range: string): number[][] {
  return range.split('||').map((part) => {
    const m = /^\s*\^(\d+)\.(\d+)\.(\d+)\s*$/.exec(part)
    if (!m) throw new Error(`engines.node part "${part}" is not of the form ^N.M.P`)
    return [Number(m[1]), Number(m[2]), Number(m[3])]
  })
}

t.test('engines admits exactly the majors CI tests, and this Node is admitted', async (t) => {
  const parts = rangeParts(pkg.engines.node)
  const ci = readFileSync(join(__dirname, '..', '.ci', 'run'), 'utf8')
  const tested = /CI_NODE_VERSIONS:-"([\d ]+)"/.exec(ci)?.[1]?.split(' ').map(Number)
  t.same(tested, parts.map((p) => p[0]), '.ci/run tests the majors engines admits')
  const [major, minor, patch] = process.versions.node.split('.').map(Number) as [number, number, number]
  const floor = parts.find((p) => p[0] === major)
  t.ok(floor, `Node ${process.version}: its major is admitted by engines (${pkg.engines.node})`)
  const atLeast = floor !== undefined && (minor > floor[1]! || (minor === floor[1] && patch >= floor[2]!))
  t.ok(atLeast, `Node ${process.version} is at least ${floor?.join('.')}`)
})

t.test('sodium-native loads: @fastify/secure-session seals and opens a session', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifySecureSession, { key: Buffer.alloc(32, 7), cookie: { path: '/' } })
  app.get('/set', async (request) => { request.session.set('n', 41); return 'ok' })
  app.get('/get', async (request) => ({ n: request.session.get('n') }))
  const set = await app.inject('/set')
  const cookie = String(set.headers['set-cookie']).split(';')[0]!
  const got = await app.inject({ url: '/get', headers: { cookie } })
  t.same(got.json(), { n: 41 })
})

t.test('the AWS SDK KMS client loads and builds a command', async (t) => {
  const { KMSClient, DecryptCommand } = await import('@aws-sdk/client-kms')
  const client = new KMSClient({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } })
  t.teardown(() => client.destroy())
  const command = new DecryptCommand({ CiphertextBlob: new Uint8Array([1, 2, 3]) })
  t.same(command.input.CiphertextBlob, new Uint8Array([1, 2, 3]))
})
