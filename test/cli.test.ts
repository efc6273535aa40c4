// `npx fastify-encrypted-session keygen` prints a usable SESSION_KEYS entry and JWK.
import t from 'tap'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { parseKeySet } from '../lib/keys/parse.js'

const bin = join(__dirname, '..', 'dist', 'lib', 'cli.js')

t.test('keygen prints an entry and the same key as a JWK, both accepted by the plugin', async (t) => {
  const out = execFileSync(process.execPath, [bin, 'keygen', '--kid', 'prod-2026'], { encoding: 'utf8' })
  const lines = out.trim().split('\n').filter((l) => !l.startsWith('#'))
  t.equal(lines.length, 2)
  const [entry, jwkText] = lines as [string, string]
  t.match(entry, /^prod-2026:[A-Za-z0-9_-]{43}$/)
  const jwk = JSON.parse(jwkText)
  t.same(parseKeySet(entry), parseKeySet({ keys: [jwk] }), 'the two forms hold the same key')
})

t.test('two runs give two different keys; a default kid is generated', async (t) => {
  const a = execFileSync(process.execPath, [bin, 'keygen'], { encoding: 'utf8' })
  const b = execFileSync(process.execPath, [bin, 'keygen'], { encoding: 'utf8' })
  t.not(a, b)
  t.match(a, /\nk\d{8}-[0-9a-f]{6}:/)
})

t.test('the package bin is this file, executable by node', async (t) => {
  const pkg = require('../package.json') as { bin: Record<string, string> }
  t.equal(join(__dirname, '..', pkg.bin['fastify-encrypted-session']!), bin)
  t.match(require('node:fs').readFileSync(bin, 'utf8'), /^#!\/usr\/bin\/env node\n/)
})

t.test('bad usage exits 2 with a message', async (t) => {
  for (const args of [[], ['frobnicate'], ['keygen', '--kid', 'bad kid'], ['keygen', '--size', '16']]) {
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' })
    t.equal(r.status, 2, args.join(' '))
    t.match(r.stderr, /usage: fastify-encrypted-session keygen/)
    t.equal(r.stdout, '')
  }
})

t.test('keygen --help prints the usage on stdout and exits 0', async (t) => {
  const r = spawnSync(process.execPath, [bin, 'keygen', '--help'], { encoding: 'utf8' })
  t.equal(r.status, 0)
  t.match(r.stdout, /^usage: fastify-encrypted-session keygen/)
  t.equal(r.stderr, '')
})

t.test('a reader that goes away at once (like `| head -1`) ends keygen quietly: exit 0, no EPIPE trace', async (t) => {
  for (let i = 0; i < 3; i++) {
    const child = spawn(process.execPath, [bin, 'keygen'], { stdio: ['ignore', 'pipe', 'pipe'] })
    // Closing our end of the pipe before the child writes makes each of its writes fail with EPIPE.
    child.stdout.destroy()
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const [code] = await once(child, 'close') as [number | null]
    t.equal(code, 0)
    t.equal(stderr, '')
  }
})
