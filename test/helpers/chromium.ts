// Debian's headless Chromium for the browser tests, driven by playwright-core: found at its
// package's path, installed with apt-get when the tests run as root on a machine without it.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import t from 'tap'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

/**
 * Chromium comes from the Debian package `chromium` (browsers are never downloaded). Returns a
 * reason to fail at once when it is missing and cannot be installed here (not root, or no apt-get).
 */
function chromiumProblem (file: string): string | undefined {
  if (existsSync(CHROMIUM)) return undefined
  const root = process.getuid?.() === 0
  const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0
  if (root && apt) return undefined // installChromium() will put it there
  return `${file} needs Chromium at ${CHROMIUM}: install the Debian package \`chromium\` ` +
    '(apt-get install chromium) and run again.'
}

/** Installs the Debian package `chromium` with apt-get (only reached as root with apt-get). */
async function installChromium (t: { setTimeout: (ms: number) => void }): Promise<void> {
  // An install can take longer than the suite's per-file timeout; the root test's setTimeout also
  // tells the runner (over IPC), and the install runs asynchronously so that message goes out.
  t.setTimeout(900_000)
  process.stderr.write('installing the Debian package chromium with apt-get\n')
  const run = async (args: string[]): Promise<void> => {
    // apt's output goes to stderr: stdout is the TAP stream.
    const child = spawn('apt-get', args, { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    const [code] = await once(child, 'exit') as [number | null]
    if (code !== 0) throw new Error(`apt-get ${args.join(' ')} exited with ${code}: install the Debian package \`chromium\` and run again.`)
  }
  await run(['update', '-qq'])
  await run(['install', '-y', '-qq', 'chromium'])
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed the package chromium but ${CHROMIUM} is still missing`)
}

/**
 * Runs a file's browser tests against one Chromium, launched before them (installed first where
 * chromiumProblem() allows) and closed after; fails the file at once, naming the fix, when
 * Chromium is missing and cannot be installed here.
 */
export function withChromium (file: string, tests: (browser: () => Browser) => void): void {
  const problem = chromiumProblem(file)
  if (problem !== undefined) {
    t.fail(problem)
    return
  }
  let browser: Browser | undefined
  t.before(async () => {
    if (!existsSync(CHROMIUM)) await installChromium(t)
    // launch() runs Chromium on a fresh temporary profile (user data dir) that it removes on close.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 })
  })
  t.teardown(async () => { await browser?.close() })
  tests(() => browser!)
}
