// Real redis-sentinel processes on loopback (Debian package redis-sentinel) watching one master.
// Sentinel rewrites its configuration file, so each gets a directory of its own.
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { freePort, infoField, redisCommand, type Teardownable } from './redis.js'

export const MASTER_NAME = 'sessions'
const READY_TIMEOUT_MS = 15_000

export interface Sentinel {
  host: '127.0.0.1'
  port: number
}

/**
 * Starts one sentinel that monitors the master at `masterPort` (quorum 2, down after
 * `downAfterMs`), and resolves once it announces the master (+monitor).
 */
export async function startSentinel (t: Teardownable, masterPort: number, downAfterMs: number): Promise<Sentinel> {
  const port = await freePort()
  const dir = await mkdtemp(path.join(os.tmpdir(), 'encsess-sentinel-'))
  const conf = path.join(dir, 'sentinel.conf')
  await writeFile(conf, [
    `port ${port}`,
    'bind 127.0.0.1',
    'daemonize no',
    `dir ${dir}`,
    'logfile ""',
    `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
    `sentinel down-after-milliseconds ${MASTER_NAME} ${downAfterMs}`,
    `sentinel failover-timeout ${MASTER_NAME} 10000`,
    `sentinel parallel-syncs ${MASTER_NAME} 1`,
    ''
  ].join('\n'))
  const child = spawn('redis-sentinel', [conf], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
    await rm(dir, { recursive: true, force: true })
  })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-sentinel on ${port} not ready after ${READY_TIMEOUT_MS} ms:\n${output}`)), READY_TIMEOUT_MS)
    const onData = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-16_384)
      if (/\+monitor master/.test(output)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('error', reject)
    child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`redis-sentinel exited (${signal ?? code}):\n${output}`)) })
  })
  return { host: '127.0.0.1', port }
}

/**
 * Resolves once every sentinel knows the replicas and the other sentinels, so that a failover can
 * reach its quorum. Sentinels discover each other by hello messages every 2 s, which announce
 * nothing to an outsider: this polls SENTINEL MASTER, bounded by `timeoutMs`.
 */
export async function sentinelsAgree (sentinels: Sentinel[], replicas: number, timeoutMs = 20_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; ;) {
    const views = await Promise.all(sentinels.map(async (s) => await redisCommand(s.port, ['SENTINEL', 'MASTER', MASTER_NAME]) as string[]))
    const field = (view: string[], name: string): number => Number(view[view.indexOf(name) + 1])
    if (views.every((v) => field(v, 'num-slaves') === replicas && field(v, 'num-other-sentinels') === sentinels.length - 1)) return
    if (Date.now() > deadline) throw new Error(`sentinels never agreed: ${JSON.stringify(views)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The role a redis-server reports. */
export async function roleOf (port: number): Promise<string | undefined> {
  return infoField(String(await redisCommand(port, ['INFO', 'replication'])), 'role')
}
