// The built package as users load it: CommonJS require and ESM import, default and named exports,
// fastify-plugin metadata. Runs against dist/, which `npm test` builds first.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

const root = join(__dirname, '..')

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
  t.same(JSON.parse(out), { fn: 'function', same: true, name: 'fastify-encrypted-session', fastify: '5.x', skip: true, errors: 10, gen: 'function' })
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
