// The error catalogue, the public types and the README's table must list the same codes.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { errors } from '../lib/errors.js'

const root = join(__dirname, '..')
const codes = Object.keys(errors).sort()

t.test('every error class carries its own code, a status and a FastifyError name', async (t) => {
  for (const [code, Ctor] of Object.entries(errors)) {
    const err = new (Ctor as new (...a: unknown[]) => Error & { code: string, statusCode: number })('x', 'y')
    t.equal(err.code, code)
    t.match(code, /^FST_ENCSESS_[A-Z_]+$/)
    t.equal(err.name, 'FastifyError')
    t.type(err.statusCode, 'number')
    t.ok(err.message.length > 20, `${code} says what to do`)
  }
})

t.test('the README table lists exactly the catalogue', async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const table = [...readme.matchAll(/^\| `(FST_ENCSESS_[A-Z_]+)` \| ([^|]+) \|/gm)]
  t.same(table.map((m) => m[1]).sort(), codes)
  for (const [, code, status] of table) {
    const Expected = (errors as unknown as Record<string, new () => { statusCode: number }>)[code!]!
    const made = new Expected()
    const shown = status!.trim()
    if (/^\d+$/.test(shown)) t.equal(Number(shown), made.statusCode, `${code} status`)
    else t.match(shown, /register/, `${code} is a register-time error`)
  }
})

t.test('the public ErrorCode type lists exactly the catalogue', async (t) => {
  const types = readFileSync(join(root, 'types', 'index.d.ts'), 'utf8')
  const union = /type ErrorCode =([^]*?)\n\n/.exec(types)![1]!
  t.same([...union.matchAll(/'(FST_ENCSESS_[A-Z_]+)'/g)].map((m) => m[1]).sort(), codes)
})
