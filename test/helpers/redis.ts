// Real redis-server processes for tests: a mock would agree with whatever the store believes about
// Redis (types, expiry, scripts, cluster slots), which is exactly what the tests must check.
// Every server listens on 127.0.0.1 on a free port, persists nothing, lives in its own temp dir,
// and is stopped by the test's teardown.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import net, { type AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'

/** The part of a tap Test the harness needs. */
export interface Teardownable {
  teardown (fn: () => unknown): void
}

export interface RedisServer {
  host: '127.0.0.1'
  port: number
  url: string
  process: ChildProcess
  /** Stops the server (SIGTERM, then SIGKILL if it lingers) and removes its dir. Idempotent. */
  stop (): Promise<void>
  /** Holds every client command for `ms` milliseconds (CLIENT PAUSE … ALL), to simulate a stall. */
  pause (ms: number): Promise<void>
}

export interface RedisCluster {
  nodes: Array<{ host: '127.0.0.1', port: number }>
  servers: RedisServer[]
  stop (): Promise<void>
}

const HOST = '127.0.0.1'
const START_ATTEMPTS = 5
const READY_TIMEOUT_MS = 15_000
const STOP_TIMEOUT_MS = 10_000
const CLUSTER_TIMEOUT_MS = 30_000

// If the test process dies without running its teardowns, do not leave servers behind.
const live = new Map<ChildProcess, string>()
process.on('exit', () => {
  for (const [child, dir] of live) {
    child.kill('SIGKILL')
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

function findOnPath (command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue
    const candidate = path.join(dir, command)
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

function requireBinary (command: string, debianPackage: string): string {
  const found = findOnPath(command)
  if (found === undefined) {
    throw new Error(
      `${command} was not found on PATH. These tests run against a real Redis: install the Debian ` +
      `package "${debianPackage}" (apt-get install -y ${debianPackage}), or put ${command} on PATH.`
    )
  }
  return found
}

/** A port that was free a moment ago. Another process may take it first: callers retry. */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

class AddressInUse extends Error {}

interface Launched {
  child: ChildProcess
  dir: string
  port: number
  exited: Promise<void>
}

async function launchOnce (binary: string, extraArgs: string[], cluster: boolean, fixedPort?: number): Promise<Launched> {
  const port = fixedPort ?? await freePort()
  const dir = await mkdtemp(path.join(os.tmpdir(), 'encsess-redis-'))
  const args = [
    '--port', String(port),
    '--bind', HOST,
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir,
    '--daemonize', 'no',
    '--logfile', ''
  ]
  if (cluster) {
    // Redis 7 takes the bus port explicitly; the default (port + 10000) may be taken or past 65535.
    args.push(
      '--cluster-enabled', 'yes',
      '--cluster-config-file', path.join(dir, 'nodes.conf'),
      '--cluster-port', String(await freePort()),
      '--cluster-node-timeout', '5000'
    )
  }
  args.push(...extraArgs)

  const child = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  live.set(child, dir)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  exited.then(() => live.delete(child), () => {})

  // Keep reading for the server's whole life: a full pipe would block its logging, and so the server.
  let output = ''
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-16_384)
      // 'Ready to accept connections' (TCP) or '… ready to accept connections at <socket>'.
      if (/ready to accept connections/i.test(output)) resolve()
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      const message = `redis-server on port ${port} exited (${signal ?? code}) before it was ready:\n${output}`
      reject(/Address already in use/i.test(output) ? new AddressInUse(message) : new Error(message))
    })
  })
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`redis-server on port ${port} not ready after ${READY_TIMEOUT_MS} ms:\n${output}`)),
      READY_TIMEOUT_MS
    )
  })
  try {
    await Promise.race([ready, timeout])
  } catch (err) {
    child.kill('SIGKILL')
    await exited
    await rm(dir, { recursive: true, force: true })
    throw err
  } finally {
    clearTimeout(timer)
  }
  return { child, dir, port, exited }
}

async function launch (t: Teardownable, extraArgs: string[], cluster: boolean, fixedPort?: number): Promise<RedisServer> {
  const binary = requireBinary('redis-server', 'redis-server')
  let launched: Launched | undefined
  for (let attempt = 1; launched === undefined; attempt++) {
    try {
      launched = await launchOnce(binary, extraArgs, cluster, fixedPort)
    } catch (err) {
      if (!(err instanceof AddressInUse) || attempt >= START_ATTEMPTS) throw err
    }
  }
  const { child, dir, port, exited } = launched
  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        let timer: NodeJS.Timeout | undefined
        const lingered = await Promise.race([
          exited.then(() => false),
          new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS) })
        ])
        clearTimeout(timer)
        if (lingered) {
          child.kill('SIGKILL')
          await exited
        }
      }
      await rm(dir, { recursive: true, force: true })
    })()
    return stopping
  }
  t.teardown(stop)
  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    process: child,
    stop,
    async pause (ms: number) {
      await redisCommand(port, ['CLIENT', 'PAUSE', String(ms), 'ALL'])
    }
  }
}

/** Starts a standalone redis-server; `extraArgs` are appended to its command line. */
export function startRedis (t: Teardownable, extraArgs: string[] = []): Promise<RedisServer> {
  return launch(t, extraArgs, false)
}

/**
 * Starts a standalone redis-server on a given port, e.g. the port of one that was stopped, to
 * bring a store "back" at the address its clients keep reconnecting to. It starts empty: nothing
 * is persisted. Fails if the port is taken.
 */
export function startRedisOnPort (t: Teardownable, port: number, extraArgs: string[] = []): Promise<RedisServer> {
  return launch(t, extraArgs, false, port)
}

export interface ClusterOptions {
  /** Replicas per master (redis-cli --cluster-replicas). Default 0: three masters only. */
  replicas?: number
  /** cluster-node-timeout in ms: how long a silent master takes to be failed over. Default 5000. */
  nodeTimeout?: number
}

/**
 * Starts three cluster-enabled masters (plus `replicas` replicas each) and joins them into one
 * cluster covering all 16384 slots. With replicas it also waits until every replica has synced.
 */
export async function startCluster (t: Teardownable, options: ClusterOptions = {}): Promise<RedisCluster> {
  const cli = requireBinary('redis-cli', 'redis-server')
  const replicas = options.replicas ?? 0
  const count = 3 * (1 + replicas)
  const extraArgs: string[] = []
  if (options.nodeTimeout !== undefined) extraArgs.push('--cluster-node-timeout', String(options.nodeTimeout))
  // A replica's first sync is diskless and would otherwise wait 5 s for more replicas to join it.
  if (replicas > 0) extraArgs.push('--repl-diskless-sync-delay', '0')
  const servers = await Promise.all(Array.from({ length: count }, () => launch(t, extraArgs, true)))
  const stop = async (): Promise<void> => { await Promise.all(servers.map((s) => s.stop())) }

  const addresses = servers.map((s) => `${HOST}:${s.port}`)
  await run(cli, ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'], CLUSTER_TIMEOUT_MS)

  // Gossip has no event to wait for: poll each node until it sees the whole cluster as healthy.
  const deadline = Date.now() + CLUSTER_TIMEOUT_MS
  const known = new RegExp(`cluster_known_nodes:${count}\\b`)
  let last = ''
  for (;;) {
    const infos = await Promise.all(servers.map(async (s) => String(await redisCommand(s.port, ['CLUSTER', 'INFO']))))
    let healthy = infos.every((info) => /cluster_state:ok/.test(info) && known.test(info) &&
        /cluster_slots_ok:16384\b/.test(info))
    if (healthy && replicas > 0) {
      const roles = await Promise.all(servers.map(async (s) => String(await redisCommand(s.port, ['INFO', 'replication']))))
      // …and every node has heard (by gossip) which nodes are replicas.
      const views = await Promise.all(servers.map(async (s) => String(await redisCommand(s.port, ['CLUSTER', 'NODES']))))
      healthy = roles.filter((info) => /^role:slave/m.test(info)).length === 3 * replicas &&
        roles.every((info) => !/^role:slave/m.test(info) || /^master_link_status:up/m.test(info)) &&
        views.every((view) => (view.match(/^\S+ \S+ (?:myself,)?slave /gm) ?? []).length === 3 * replicas)
      if (!healthy) infos.push(...roles, ...views)
    }
    if (healthy) break
    last = infos.join('\n')
    if (Date.now() > deadline) throw new Error(`Redis cluster not ok after ${CLUSTER_TIMEOUT_MS} ms:\n${last}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  return { nodes: servers.map((s) => ({ host: HOST, port: s.port })), servers, stop }
}

function run (file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
    child.once('error', reject)
    child.once('close', (code, signal) => {
      if (code === 0) resolve(output)
      else reject(new Error(`${path.basename(file)} ${args.join(' ')} failed (${signal ?? code}):\n${output}`))
    })
  })
}

export type RespValue = string | number | null | RespValue[]

/** Error replies (`-ERR …`) are thrown as this, with Redis' message. */
export class RedisReplyError extends Error {}

/**
 * Sends one command over a fresh socket and resolves its reply. Deliberately not ioredis: a client
 * library sends commands of its own (INFO, CLIENT SETNAME…), which would blur command counts.
 */
export function redisCommand (port: number, args: string[], host: string = HOST, timeoutMs = 5_000): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host })
    let buffer = Buffer.alloc(0)
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no reply from ${host}:${port} to ${args[0]} in ${timeoutMs} ms`)))
    socket.once('error', reject)
    socket.once('close', () => reject(new Error(`connection to ${host}:${port} closed before a reply to ${args[0]}`)))
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      let parsed: [RespValue | RedisReplyError, number] | undefined
      try {
        parsed = parseReply(buffer, 0)
      } catch (err) {
        socket.destroy()
        reject(err)
        return
      }
      if (parsed === undefined) return
      socket.end()
      const [value] = parsed
      if (value instanceof RedisReplyError) reject(value)
      else resolve(value)
    })
    socket.write(encodeCommand(args))
  })
}

function encodeCommand (args: string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const arg of args) {
    const bytes = Buffer.from(arg, 'utf8')
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

// RESP2. Returns [value, offset after it], or undefined while the reply is incomplete.
function parseReply (buf: Buffer, pos: number): [RespValue | RedisReplyError, number] | undefined {
  const eol = buf.indexOf('\r\n', pos)
  if (eol === -1) return undefined
  const line = buf.toString('utf8', pos + 1, eol)
  const next = eol + 2
  switch (String.fromCharCode(buf[pos] ?? 0)) {
    case '+': return [line, next]
    case '-': return [new RedisReplyError(line), next]
    case ':': return [Number(line), next]
    case '$': {
      const length = Number(line)
      if (length < 0) return [null, next]
      if (buf.length < next + length + 2) return undefined
      return [buf.toString('utf8', next, next + length), next + length + 2]
    }
    case '*': {
      const count = Number(line)
      if (count < 0) return [null, next]
      const items: RespValue[] = []
      let at = next
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, at)
        if (item === undefined) return undefined
        if (item[0] instanceof RedisReplyError) throw item[0]
        items.push(item[0])
        at = item[1]
      }
      return [items, at]
    }
    default:
      throw new Error(`unexpected RESP reply: ${JSON.stringify(buf.toString('utf8', pos, eol))}`)
  }
}

/** Calls per command since start (or the last resetCommandStats), from INFO commandstats. */
export async function commandCount (port: number, host: string = HOST): Promise<Map<string, number>> {
  const info = String(await redisCommand(port, ['INFO', 'commandstats'], host))
  const counts = new Map<string, number>()
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    counts.set(match[1] as string, Number(match[2]))
  }
  return counts
}

/** Zeroes the server's statistics (CONFIG RESETSTAT), so a later commandCount covers one step only. */
export async function resetCommandStats (port: number, host: string = HOST): Promise<void> {
  await redisCommand(port, ['CONFIG', 'RESETSTAT'], host)
}

// ---- Cluster failover -------------------------------------------------------------------------

/** One line of CLUSTER NODES: a node's id, port, flags, its master's id (or "-") and its slot ranges. */
export interface NodeLine { id: string, port: number, flags: string[], master: string, slots: Array<[number, number]> }

/** The cluster's nodes as one of them (on `port`) sees them. */
export async function clusterNodes (port: number): Promise<NodeLine[]> {
  const text = String(await redisCommand(port, ['CLUSTER', 'NODES']))
  return text.trim().split('\n').map((line) => {
    const [id, address, flags, master, , , , , ...slots] = line.trim().split(' ')
    return {
      id: id!,
      port: Number(/:(\d+)@/.exec(address!)![1]),
      flags: flags!.split(','),
      master: master!,
      slots: slots.filter((s) => !s.startsWith('[')).map((s) => {
        const [from, to] = s.split('-')
        return [Number(from), Number(to ?? from)] as [number, number]
      })
    }
  })
}

/** One `field:value` line of an INFO reply. */
export const infoField = (info: string, field: string): string | undefined =>
  new RegExp(`^${field}:(.*?)\\r?$`, 'm').exec(info)?.[1]

/**
 * Resolves once the replica has everything the master has written so far. Replication is
 * asynchronous and announces nothing, so this polls INFO replication, bounded by `timeoutMs`.
 */
export async function replicaCaughtUp (masterPort: number, replicaPort: number, timeoutMs = 10_000): Promise<void> {
  const target = Number(infoField(String(await redisCommand(masterPort, ['INFO', 'replication'])), 'master_repl_offset'))
  for (const deadline = Date.now() + timeoutMs; ;) {
    const info = String(await redisCommand(replicaPort, ['INFO', 'replication']))
    if (Number(infoField(info, 'slave_repl_offset')) >= target) return
    if (Date.now() > deadline) throw new Error(`the replica never caught up:\n${info}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/**
 * One look at a failover in progress: done once the replica reports itself master and every live
 * node reports cluster_state ok. `infos` (CLUSTER INFO of each live node) is for error messages.
 */
export async function failoverDone (replicaPort: number, livePorts: number[]): Promise<{ done: boolean, infos: string[] }> {
  const infos = await Promise.all(livePorts.map(async (port) => String(await redisCommand(port, ['CLUSTER', 'INFO']))))
  const role = infoField(String(await redisCommand(replicaPort, ['INFO', 'replication'])), 'role')
  return { done: role === 'master' && infos.every((info) => infoField(info, 'cluster_state') === 'ok'), infos }
}
