// The package as a user gets it: `npm pack` output unpacked into a scratch app's node_modules. The
// tarball's dependencies (and fastify, its peer, and @types/node) are linked from this repository's
// node_modules, so nothing is downloaded; ioredis is deliberately not linked.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

export const root = join(__dirname, '..', '..')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

export interface Packed {
  /** The directory holding the .tgz. */
  dir: string
  tarball: string
  /** Paths inside the tarball, without the leading "package/". */
  files: string[]
}

/** Runs `npm pack` on the built repository (dist/ must exist) into a fresh temporary directory. */
export function pack (): Packed {
  const dir = mkdtempSync(join(tmpdir(), 'fes-pack-'))
  const out = execFileSync(npm, ['pack', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const [info] = JSON.parse(out) as [{ filename: string, files: { path: string }[] }]
  return { dir, tarball: join(dir, info.filename), files: info.files.map((f) => f.path).sort() }
}

/**
 * A scratch app in a temporary directory with the tarball installed as node_modules/<name>.
 * `packageJson` becomes the app's package.json. Returns the app directory.
 */
export function scratchApp (packed: Packed, packageJson: object): string {
  const app = mkdtempSync(join(tmpdir(), 'fes-app-'))
  const target = join(app, 'node_modules', 'fastify-encrypted-session')
  mkdirSync(target, { recursive: true })
  execFileSync('tar', ['-xzf', packed.tarball, '-C', target, '--strip-components=1'])
  const manifest = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  for (const name of [...Object.keys(manifest.dependencies), 'fastify', '@types/node']) {
    const link = join(app, 'node_modules', name)
    mkdirSync(dirname(link), { recursive: true })
    symlinkSync(join(root, 'node_modules', name), link, 'dir')
  }
  writeFileSync(join(app, 'package.json'), JSON.stringify(packageJson))
  return app
}

export function remove (dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}
