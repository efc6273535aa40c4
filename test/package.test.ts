// The built package as users load it: CommonJS require and ESM import, default and named exports,
// fastify-plugin metadata. Runs against dist/, which `npm test` builds first.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pack, remove, root } from './helpers/packed.js'
import { errors } from '../lib/errors.js'

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

function run (code: string, type: 'commonjs' | 'module'): string {
  const args = type === 'module' ? ['--input-type=module', '-e', code] : ['-e', code]
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim()
}

t.test('CommonJS: require() gives the plugin, with .default and .fastifyEncryptedSession', async (t) => {
  const out = run(`
    const p = require('fastify-encrypted-session')
    console.log(JSON.stringify({
      fn: typeof p, same: p.default === p && p.fastifyEncryptedSession === p,
      name: p[Symbol.for('plugin-meta')].name, fastify: p[Symbol.for('plugin-meta')].fastify,
      skip: p[Symbol.for('skip-override')], errors: Object.keys(p.errors).length, gen: typeof p.generateKey
    }))`, 'commonjs')
  t.same(JSON.parse(out), { fn: 'function', same: true, name: 'fastify-encrypted-session', fastify: '5.x', skip: true, errors: Object.keys(errors).length, gen: 'function' })
})

t.test('ESM: default import and named import are the same plugin as require()', async (t) => {
  const out = run(`
    import plugin, { fastifyEncryptedSession, errors, generateKey } from 'fastify-encrypted-session'
    import { createRequire } from 'node:module'
    const cjs = createRequire(import.meta.url)('fastify-encrypted-session')
    console.log(JSON.stringify({ same: plugin === fastifyEncryptedSession && plugin === cjs, errors: errors === cjs.errors, gen: typeof generateKey }))`, 'module')
  t.same(JSON.parse(out), { same: true, errors: true, gen: 'function' })
})

t.test('ESM: the plugin registers and works end to end', async (t) => {
  const out = run(`
    import Fastify from 'fastify'
    import plugin, { generateKey } from 'fastify-encrypted-session'
    const app = Fastify()
    await app.register(plugin, { keys: generateKey('e').entry })
    app.get('/', async (req) => { req.session.set('x', 1); return 'ok' })
    const res = await app.inject('/')
    console.log(String(res.headers['set-cookie']).startsWith('session=eyJ'))`, 'module')
  t.equal(out, 'true')
})

t.test('the tarball: LICENSE, CHANGELOG, both type entries; no demo, no source maps, no sources', async (t) => {
  const packed = pack()
  t.teardown(() => remove(packed.dir))
  for (const file of ['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json', 'types/index.d.ts', 'types/index.d.mts', 'dist/lib/index.js', 'dist/lib/index.mjs', 'dist/lib/cli.js']) {
    t.ok(packed.files.includes(file), `ships ${file}`)
  }
  t.same(packed.files.filter((f) => f.startsWith('dist/example') || f.endsWith('.map') || f.startsWith('lib/') || f.startsWith('test/')), [])
  t.notMatch(readFileSync(join(root, 'dist', 'lib', 'index.js'), 'utf8'), /sourceMappingURL/, 'the build points at no source map')
  t.match(readFileSync(join(root, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) 2026 fastify-encrypted-session contributors\n/)
  t.match(readFileSync(join(root, 'CHANGELOG.md'), 'utf8'), /keepachangelog\.com[\s\S]*\n## \[Unreleased\]\n/)
})

t.test('package.json: repository, homepage, bugs, fastify 5 as a peer', async (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  t.match(pkg.repository, { type: 'git', url: /^git\+https:\/\/github\.com\/.+\.git$/ })
  t.match(pkg.homepage, /^https:\/\/github\.com\//)
  t.match(pkg.bugs, { url: /^https:\/\/github\.com\/.+\/issues$/ })
  t.equal(pkg.peerDependencies.fastify, '^5.0.0')
  t.equal(pkg.license, 'MIT')
})

t.test('npm publish --dry-run prints no warning', async (t) => {
  const r = spawnSync(npm, ['publish', '--dry-run'], { cwd: root, encoding: 'utf8' })
  t.equal(r.status, 0, 'exits 0')
  // Not being logged in to the registry is this machine's state, not the package's.
  const warnings = r.stderr.split('\n').filter((l) => /warn/i.test(l) && !/requires you to be logged in/.test(l))
  t.same(warnings, [])
  t.match(r.stderr, /Tarball Contents/)
})
