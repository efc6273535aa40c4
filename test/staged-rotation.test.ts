// Staged key rotation across a fleet, proven with real processes: three instances of
// test/fixtures/rotation-app.js, each with its own key file (as each pod has its own copy of a
// secret), updated one at a time like a rolling deploy, with a pool of clients whose requests hop
// between instances the whole time. The three stages of "Rotating keys" in the README lose no
// session; skipping the first one does. Run `npm run build` first: the fixture loads dist/.
import t from 'tap'
import { fork, type ChildProcess } from 'node:child_process'
import { Agent, request } from 'node:http'
import { existsSync, mkdtempSync, mkdirSync, writeFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey, type GeneratedKey } from '../lib/keys/generate.js'
import type { MetricsSnapshot } from '../lib/metrics.js'
import { nextMessage } from './helpers/processes.js'

const FIXTURE = join(__dirname, 'fixtures', 'rotation-app.js')
if (!existsSync(join(__dirname, '..', 'dist', 'lib', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` before this test')
const OLD = generateKey('old')
const NEW = generateKey('new')

interface Message { port?: number, refreshed?: string, failed?: true }

/** One instance of the fleet: a child process with its own key file. */
class Instance {
  readonly name: string
  readonly file: string
  readonly child: ChildProcess
  port = 0
  /** Everything the child wrote, for the failure message. */
  output = ''
  /** Every IPC message received, in order. */
  readonly messages: Message[] = []

  constructor (name: string, dir: string, keys: readonly GeneratedKey[], env: Record<string, string>) {
    this.name = name
    mkdirSync(dir)
    this.file = join(dir, 'keys')
    writeFileSync(this.file, entries(keys))
    this.child = fork(FIXTURE, [], {
      // The test runs TypeScript through test/helpers/register-ts.cjs; the fixture is plain CommonJS and gets a plain node.
      execArgv: [],
      env: { ...process.env, ...env, KEYS_FILE: this.file, INSTANCE: name },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc']
    })
    const keep = (chunk: Buffer): void => { this.output += chunk.toString() }
    this.child.stdout!.on('data', keep)
    this.child.stderr!.on('data', keep)
    this.child.on('message', (m: Message) => this.messages.push(m))
  }

  /** The next IPC message matching `accept`; rejects on timeout or if the process exits first. */
  waitFor (accept: (m: Message) => boolean, what: string, ms = 5000): Promise<Message> {
    return nextMessage<Message>(this.child, accept, what, ms, () => ({ name: this.name, output: this.output }))
  }

  async started (): Promise<void> {
    this.port = (await this.waitFor((m) => m.port !== undefined, 'port', 15_000)).port!
  }

  /**
   * Replaces this instance's key file atomically (write beside it, then rename, as a deploy tool
   * or the kubelet does) and waits until the instance reports that it applied exactly this set.
   */
  async setKeys (keys: readonly GeneratedKey[]): Promise<string> {
    const kids = `${keys.map((k) => k.kid).join(',')}#`
    const applied = this.waitFor((m) => m.refreshed?.startsWith(kids) === true, `a refresh to ${kids}`)
    writeFileSync(`${this.file}.next`, entries(keys))
    renameSync(`${this.file}.next`, this.file)
    return (await applied).refreshed!
  }

  async stop (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000)
    await exited
    clearTimeout(timer)
  }
}

function entries (keys: readonly GeneratedKey[]): string {
  return keys.map((k) => k.entry).join(',')
}

/** One instance per entry of `envs` (its extra environment), all starting on the key set `keys`. */
async function startFleet (t: Tap, keys: readonly GeneratedKey[], envs: readonly Record<string, string>[]): Promise<Instance[]> {
  const dir = mkdtempSync(join(tmpdir(), 'fes-rotation-'))
  const fleet = envs.map((env, i) => {
    const name = env.INSTANCE ?? `i${i}`
    return new Instance(name, join(dir, name), keys, env)
  })
  t.teardown(async () => {
    await Promise.all(fleet.map((i) => i.stop()))
    rmSync(dir, { recursive: true, force: true })
  })
  await Promise.all(fleet.map((i) => i.started()))
  return fleet
}

type Tap = { teardown: (fn: () => unknown) => void }

// ---- HTTP, real sockets on 127.0.0.1 ------------------------------------------------------------

const agent = new Agent({ keepAlive: true, maxSockets: 64 })
t.teardown(() => agent.destroy())

interface Reply<T> { status: number, body: T, cookie: string | undefined }

function call<T> (port: number, method: 'GET' | 'POST', path: string, cookie?: string): Promise<Reply<T>> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = cookie === undefined ? {} : { cookie: `session=${cookie}` }
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent, timeout: 5000 }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => {
        const set = res.headers['set-cookie']?.find((c) => c.startsWith('session='))
        resolve({ status: res.statusCode!, body: JSON.parse(text) as T, cookie: set?.slice('session='.length, set.indexOf(';')) })
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} on port ${port}: no answer within 5000 ms`)))
    req.on('error', reject)
    req.end()
  })
}

/** The kid a cookie value was sealed with, read from its JWE header. */
function kidOf (token: string): string {
  return (JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8')) as { kid: string }).kid
}

const metrics = async (i: Instance): Promise<MetricsSnapshot> => (await call<MetricsSnapshot>(i.port, 'GET', '/metrics')).body
const fingerprint = async (i: Instance): Promise<string> => (await call<{ fingerprint: string }>(i.port, 'GET', '/keys')).body.fingerprint

// ---- Simulated clients ---------------------------------------------------------------------------

interface Client {
  id: number
  cookie: string | undefined
  /** The counter the last response reported: the next one must be exactly one more. */
  n: number
  /** When the session the client holds ends (seconds since the epoch), as the server said. */
  expiresAt: number
  /** Sessions of this client that ended at their maxAge. */
  expiries: number
}

interface IncrBody { n: number, expiresAt: number }

interface Tally {
  requests: number
  /** Sessions that ended because their maxAge was over: the only acceptable reset. */
  expired: number
  /** Every other reset or jump of a counter. */
  lost: { client: number, instance: string, stage: string, expected: number, got: number }[]
}

/**
 * One request of one client: POST /incr on `instance`, checked against what the client saw last.
 * A counter that does not go up by exactly one is a lost session, with one exception: a session
 * past its absolute expiry (maxAge) is over by design and starts again at 1. That exception is
 * judged on the client's clock after the response, which can only be later than the server's
 * judgement; the walk also asserts that every refusal the servers counted was an expiry.
 */
async function incr (client: Client, instance: Instance, stage: string, tally: Tally): Promise<void> {
  const res = await call<IncrBody>(instance.port, 'POST', '/incr', client.cookie)
  const at = Date.now()
  if (res.status !== 200) throw new Error(`${instance.name} answered ${res.status}: ${JSON.stringify(res.body)}`)
  tally.requests++
  const { n, expiresAt } = res.body
  if (n !== client.n + 1) {
    if (n === 1 && at >= client.expiresAt * 1000) {
      tally.expired++
      client.expiries++
    } else {
      tally.lost.push({ client: client.id, instance: instance.name, stage, expected: client.n + 1, got: n })
    }
  }
  client.n = n
  client.expiresAt = expiresAt
  // Every /incr changes the session, so every answer carries the cookie.
  if (res.cookie === undefined) throw new Error(`${instance.name} sent no session cookie`)
  client.cookie = res.cookie
}

function pool (size: number): Client[] {
  return Array.from({ length: size }, (_, id) => ({ id, cookie: undefined, n: 0, expiresAt: Infinity, expiries: 0 }))
}

t.test('staged rotation across a fleet: add, promote, retire after maxAge; no session is lost', async (t) => {
  // A small maxAge, so that "wait until maxAge has passed" fits in a test.
  const MAX_AGE = 3
  const fleet = await startFleet(t, [OLD], Array(3).fill({ MAX_AGE: String(MAX_AGE) }))
  const clients = pool(20)
  const tally: Tally = { requests: 0, expired: 0, lost: [] }
  let turn = 0
  // One round: every client makes one request, all clients at once; client i goes to instance
  // (i + turn) mod 3, so from one round to the next every client changes instance.
  const round = async (stage: string): Promise<void> => {
    const r = turn++
    await Promise.all(clients.map((c) => incr(c, fleet[(c.id + r) % fleet.length]!, stage, tally)))
  }

  await round('before')
  await round('before')
  t.ok(clients.every((c) => kidOf(c.cookie!) === 'old'), 'every client holds an old-key cookie')

  // Stage 1: add `new` as decrypt-only, one instance at a time, traffic between.
  for (const instance of fleet) {
    t.match(await instance.setKeys([OLD, NEW]), /^old,new#/, `${instance.name}: new added (decrypt-only)`)
    await round(`add on ${instance.name}`)
    await round(`add on ${instance.name}`)
  }
  for (const m of await Promise.all(fleet.map(metrics))) t.equal(m.sealed.new, 0, 'nothing is sealed with new yet')

  // Stage 2: promote `new`, one instance at a time, traffic between. Instances not yet promoted
  // keep sealing with old while the others seal with new: both can open both.
  let straggler: string | undefined
  let promotedAt = 0
  for (const [index, instance] of fleet.entries()) {
    if (index === fleet.length - 1) {
      // The last cookie ever sealed with old, for a client that then stays away.
      straggler = (await call<IncrBody>(instance.port, 'POST', '/incr')).cookie!
      t.equal(kidOf(straggler), 'old', `the straggler's cookie, sealed by ${instance.name} before its promotion, is old`)
    }
    t.match(await instance.setKeys([NEW, OLD]), /^new,old#/, `${instance.name}: new promoted`)
    // From here on this instance seals with new; before its 'refreshed' it may have sealed with old.
    promotedAt = Date.now()
    if (index === fleet.length - 1) {
      // new is current everywhere, but a client that has not come back still holds an old-key
      // cookie, and it is still valid: retiring old now would log it out. That is why retirement
      // waits for maxAge, not only for the active clients to be re-sealed.
      const early = await call<{ n: number | null }>(fleet[0]!.port, 'GET', '/read', straggler)
      t.equal(early.body.n, 1, 'right after the last promotion, the straggler\'s old-key session is alive')
    }
    await round(`promote on ${instance.name}`)
    await round(`promote on ${instance.name}`)
  }
  // Every client has made a request since the last promotion, so every cookie a client holds is
  // sealed with new now (old ones were re-sealed in place, same session id and expiry).
  t.ok(clients.every((c) => kidOf(c.cookie!) === 'new'), 'every active client holds a new-key cookie')
  t.ok((await Promise.all(fleet.map(metrics))).reduce((sum, m) => sum + m.rotated, 0) > 0, 'old-key cookies were re-sealed with new')

  // Stage 3, the wait. Every old-key cookie was sealed before promotedAt, so its session began
  // before then and ends by floor(promotedAt) + maxAge: re-sealing keeps the expiry, so rotation
  // never extends a lifetime. Waiting that long is what makes retirement safe for every client,
  // returning or not. (The other variant, "every client has made a request since the promotion",
  // holds above for the simulated clients, but no real fleet can know it of every browser.)
  // Traffic keeps flowing until the deadline; no event exists for "time has passed".
  const deadline = (Math.floor(promotedAt / 1000) + MAX_AGE) * 1000
  t.ok(deadline - Date.now() <= MAX_AGE * 1000, 'the deadline is at most maxAge away')
  while (Date.now() < deadline) await round('wait for maxAge')

  // Before retiring: the metrics show old unused. With this short maxAge every client's first
  // session (sealed with old) has ended on its own by now, counted as an expiry, not a loss.
  const before = await Promise.all(fleet.map(metrics))
  await round('old unused')
  await round('old unused')
  const after = await Promise.all(fleet.map(metrics))
  for (const [i, instance] of fleet.entries()) {
    t.equal(after[i]!.decrypted.old, before[i]!.decrypted.old, `${instance.name}: old opened nothing in a full round of traffic`)
    t.ok((after[i]!.decrypted.new ?? 0) > (before[i]!.decrypted.new ?? 0), `${instance.name}: new opened the traffic`)
  }
  t.ok(clients.every((c) => c.expiries >= 1), 'every client\'s first session ended at its maxAge')
  t.ok(clients.every((c) => c.expiresAt * 1000 >= deadline), 'every live session began no earlier than the second of the last promotion')
  // And the straggler, back now, is refused for expiry even where old is still held: retiring old
  // cannot take anything from it any more.
  const holder = fleet[1]!
  const m0 = await metrics(holder)
  const late = await call<{ n: number | null }>(holder.port, 'GET', '/read', straggler)
  const m1 = await metrics(holder)
  t.equal(late.body.n, null, 'after maxAge the straggler\'s old-key session is over')
  t.equal(m1.rejected.expired - m0.rejected.expired, 1, 'refused as expired')
  t.equal(m1.rejected.unknown_kid, m0.rejected.unknown_kid, 'not for its key')

  // Stage 3, the retirement: one instance at a time, traffic between.
  for (const instance of fleet) {
    t.match(await instance.setKeys([NEW]), /^new#/, `${instance.name}: old retired`)
    await round(`retire on ${instance.name}`)
    await round(`retire on ${instance.name}`)
  }

  t.same(tally.lost, [], `no session lost in ${tally.requests} requests across all stages`)
  for (const [i, m] of (await Promise.all(fleet.map(metrics))).entries()) {
    const name = fleet[i]!.name
    t.match(await fingerprint(fleet[i]!), /^new#/, `${name} runs {new}`)
    const refusals = Object.entries(m.rejected).filter(([reason, count]) => reason !== 'expired' && count > 0)
    t.same(refusals, [], `${name}: every refusal was an expiry (no unknown kid, no failed decryption)`)
    t.equal(m.keyRefresh.unknownKid, 0, `${name}: never met a kid it did not know`)
    t.equal(m.keyRefresh.failed, 0, `${name}: no failed refresh`)
    // One per stage, or more: a watch may report one replacement more than once.
    t.ok(m.keyRefresh.ok >= 3, `${name}: a refresh per stage`)
  }
})

t.test('skipping stage 1: a cookie sealed by the first promoted instance is lost on the others', async (t) => {
  // Three fresh instances on {old}. New is made current on `a` straight away; `strict` and `std`
  // do not have it. `strict` refreshes on an unknown kid at most once a day, `std` at most every
  // 30 s (the default).
  const [a, strict, std] = await startFleet(t, [OLD], [{ INSTANCE: 'a' }, { INSTANCE: 'strict', UNKNOWN_KID_INTERVAL: '86400' }, { INSTANCE: 'std' }]) as [Instance, Instance, Instance]
  const clients = pool(10)
  const tally: Tally = { requests: 0, expired: 0, lost: [] }
  for (const c of clients) for (const instance of [a, strict, std]) await incr(c, instance, 'before', tally)
  t.same(tally.lost, [], 'with one key set everywhere, sessions hop between instances')

  t.match(await a.setKeys([NEW, OLD]), /^new,old#/, `new made current on ${a.name} only`)
  const resealed: string[] = []
  for (const c of clients) {
    for (const other of [strict, std]) {
      await incr(c, a, 'promoted on a', tally)
      resealed.push(kidOf(c.cookie!))
      await incr(c, other, 'other behind', tally)
    }
  }
  t.same(new Set(resealed), new Set(['new']), `${a.name} re-sealed every session with new`)
  t.same(tally.lost.map((l) => [l.client, l.instance, l.got]), clients.flatMap((c) => [[c.id, strict.name, 1], [c.id, std.name, 1]]),
    'every session re-sealed by a is lost (counter back to 1) on each instance without new')
  t.equal(tally.expired, 0, 'none of this is expiry (maxAge is a day here)')

  // The refresh on an unknown kid did run, once on each (the interval only limits repeats; the
  // first unknown kid always triggers one): each re-read its own file, which does not hold new, so
  // nothing changed. A long interval (strict) or the default (std) makes no difference: only the
  // key being in the instance's own file beforehand could have saved these sessions, and that is
  // stage 1.
  for (const other of [strict, std]) {
    const m = await metrics(other)
    t.equal(m.rejected.unknown_kid, clients.length, `${other.name} refused every new-key cookie`)
    t.equal(m.keyRefresh.unknownKid, 1, `${other.name}: one rate-limited refresh on an unknown kid`)
    const reloads = other.messages.filter((msg) => msg.refreshed !== undefined)
    t.equal(reloads.length, 1, `${other.name} refreshed once, on the unknown kid`)
    t.match(reloads[0]?.refreshed, /^old#/, `${other.name} reloaded the same set`)
    t.match(await fingerprint(other), /^old#/, `${other.name} still runs {old}`)
  }

  // The repair is stage 1, late: once std's file holds new, the same hops keep their sessions.
  t.match(await std.setKeys([OLD, NEW]), /^old,new#/, 'std gets new as decrypt-only')
  const later = pool(10)
  const after: Tally = { requests: 0, expired: 0, lost: [] }
  for (const c of later) for (const instance of [a, std, a, std]) await incr(c, instance, 'repaired', after)
  t.same(after.lost, [], 'with new in std\'s key set, new-key cookies from a open on std')
})
