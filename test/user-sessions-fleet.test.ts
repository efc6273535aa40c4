// Sign out everywhere across a fleet: three app processes (test/fixtures/users-app.js) on one
// Redis, and again on a Redis Cluster. After endUserSessions resolves on one instance, the other
// two refuse the user's sessions within STORE_WATCH_BOUND_MS. Negative controls: another user's
// session stays accepted everywhere, and a fourth process without userKey still accepts the very
// same cookie (so it is the user's list that refuses it, not the cookie that broke).
//
// Needs dist/ (`npm run build`): the fixture loads the built package.
import t, { type Test } from 'tap'
import { fork, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import { Agent } from 'node:http'
import path from 'node:path'
import { generateKey } from '../lib/keys/generate.js'
import { startCluster, startRedis } from './helpers/redis.js'
import { httpCall, nextMessage } from './helpers/processes.js'
import { refusal } from './helpers/users.js'
import { STORE_WATCH_BOUND_MS } from '../lib/stores/redis-watch.js'

const FIXTURE = path.join(__dirname, 'fixtures', 'users-app.js')
if (!fs.existsSync(path.join(__dirname, '..', 'dist', 'lib', 'index.js'))) {
  throw new Error('dist/ is missing: run `npm run build` before this test')
}
const KEY = generateKey('fleet')

interface Instance { child: ChildProcess, port: number, output: () => string }

async function start (t: Test, env: Record<string, string>, name: string): Promise<Instance> {
  const child = fork(FIXTURE, [], { execArgv: [], env: { ...process.env, SESSION_KEYS: KEY.entry, ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  let output = ''
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-8192) }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  t.teardown(() => { child.kill('SIGKILL') })
  const ready = await nextMessage<{ port: number }>(child, (m) => m?.ready === true, 'ready', 20_000, () => ({ name, output }))
  return { child, port: ready.port, output: () => output }
}

async function fleet (t: Test, env: Record<string, string>): Promise<void> {
  const agent = new Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => start(t, env, name))) as [Instance, Instance, Instance]
  const plain = await start(t, { ...env, USER_KEY: 'none' }, 'plain')
  const login = async (user: string): Promise<string> => {
    const res = await httpCall(agent, a.port, 'POST', '/login', undefined, { user })
    return String(res.headers['set-cookie']![0]!.split(';')[0])
  }
  const who = async (i: Instance, cookie: string): Promise<unknown> => (await httpCall(agent, i.port, 'GET', '/me', cookie)).body.user
  const ada = await login('ada')
  const bob = await login('bob')
  for (const i of [a, b, c, plain]) t.equal(await who(i, ada), 'ada', 'accepted everywhere before')
  for (const i of [b, c]) t.equal(await who(i, ada), 'ada', 'and again, from the instances\' caches')
  a.child.send({ end: 'ada', id: 1 })
  const reply = await nextMessage<{ ended: number }>(a.child, (m) => m?.id === 1, 'endUserSessions', 10_000, () => ({ name: 'a', output: a.output() }))
  // The IPC reply left `a` once the call resolved: measured from its arrival, the bound is met with
  // a little to spare (the time the message took to arrive).
  const resolved = performance.now()
  t.equal(reply.ended, 1)
  const outcomes = await Promise.all([a, b, c].map(async (i) => await refusal(async () => await who(i, ada) === 'ada', resolved, STORE_WATCH_BOUND_MS)))
  for (const [n, { took, late }] of outcomes.entries()) {
    t.ok(took >= 0, `${'abc'[n]} refuses it after ${took.toFixed(0)} ms`)
    t.equal(late, 0, `${'abc'[n]} never accepts it past the bound`)
  }
  for (const i of [a, b, c]) t.equal(await who(i, bob), 'bob', 'negative control: another user\'s session is accepted')
  t.equal(await who(plain, ada), 'ada', 'negative control: without userKey the same cookie is still accepted')
}

t.test('three processes on one Redis', async (t) => {
  const redis = await startRedis(t)
  await fleet(t, { REDIS_URL: redis.url })
})

t.test('three processes on a Redis Cluster', async (t) => {
  const cluster = await startCluster(t)
  await fleet(t, { REDIS_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',') })
})
