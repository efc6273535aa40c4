// sameJson decides whether a cache may keep its own parsed copy instead of copying what a route
// holds: it may say "same" only when a JSON round trip of the route's value gives exactly the
// cache's value (so both would serialize alike, key order included). Checked against that oracle
// over plain values and over everything JSON changes or drops.
import t from 'tap'
import { cloneJson, sameJson } from '../lib/record.js'

const parsed = (v: unknown): unknown => JSON.parse(JSON.stringify(v))
const base = parsed({ id: 7, name: 'al"ice', roles: ['user', 'ops'], prefs: { theme: 'dark', size: 1.5, on: true, off: null }, list: [[0], {}, []] })

class Point { x = 1 }
const variants: Array<[string, (v: Record<string, unknown>) => void]> = [
  ['unchanged', () => {}],
  ['a string changed', (v) => { v.name = 'mallory' }],
  ['an array grew', (v) => { (v.roles as string[]).push('admin') }],
  ['an array element changed', (v) => { (v.roles as string[])[1] = 'root' }],
  ['a nested number changed', (v) => { (v.prefs as Record<string, unknown>).size = 2 }],
  ['a key added', (v) => { v.extra = 1 }],
  ['a key removed', (v) => { delete v.id }],
  ['keys reordered', (v) => { const id = v.id; delete v.id; v.id = id }],
  ['a Date', (v) => { v.name = new Date(0) }],
  ['an undefined member', (v) => { (v.prefs as Record<string, unknown>).off = undefined }],
  ['a function member', (v) => { (v.prefs as Record<string, unknown>).off = () => null }],
  ['NaN', (v) => { v.id = NaN }],
  ['Infinity', (v) => { v.id = Infinity }],
  ['-0 for 0', (v) => { ((v.list as unknown[])[0] as number[])[0] = -0 }],
  ['a toJSON', (v) => { (v.prefs as Record<string, unknown>).toJSON = () => 'x' }],
  ['a class instance for an object', (v) => { (v.list as unknown[])[1] = new Point() }],
  ['a class instance with no keys', (v) => { (v.list as unknown[])[1] = new (class Empty {})() }],
  ['a null-prototype object', (v) => { (v.list as unknown[])[1] = Object.create(null) }],
  ['an object for an array', (v) => { (v.list as unknown[])[2] = {} }],
  ['an array for an object', (v) => { (v.list as unknown[])[1] = [] }],
  ['an array hole', (v) => { (v.roles as unknown[]).length = 3 }],
  ['a boxed string', (v) => { v.name = Object('al"ice') }],
  ['a string for a number', (v) => { v.id = '7' }],
  ['null for an object', (v) => { v.prefs = null }],
  ['a BigInt', (v) => { v.id = 7n }],
  ['a symbol-keyed extra', (v) => { v[Symbol('s') as unknown as string] = 1 }],
  ['a non-enumerable extra', (v) => { Object.defineProperty(v, 'hidden', { value: 1, enumerable: false }) }],
  ['an own "__proto__" key', (v) => { Object.defineProperty(v, '__proto__', { value: { x: 1 }, enumerable: true, writable: true, configurable: true }) }],
  ['a typed array for an array', (v) => { v.roles = new Uint8Array(2) }],
  ['an Array subclass', (v) => { v.roles = Object.assign(new (class L extends Array {})(), ['user', 'ops']) }]
]

t.test('says "same" only when a JSON round trip gives the cache\'s value exactly', async (t) => {
  for (const [name, change] of variants) {
    const value = cloneJson(base) as Record<string, unknown>
    change(value)
    let roundTrip: string | undefined
    try {
      roundTrip = JSON.stringify(value)
    } catch {
      roundTrip = undefined
    }
    const same = sameJson(value, base)
    if (same) t.equal(roundTrip, JSON.stringify(base), `${name}: "same", and it is`)
    else t.pass(`${name}: not same`)
    const expected = ['unchanged', '-0 for 0', 'a symbol-keyed extra', 'a non-enumerable extra'].includes(name)
    t.equal(same, expected, `${name}: ${expected ? 'shared' : 'copied'}`)
  }
})

t.test('top-level primitives and mismatched kinds', async (t) => {
  t.ok(sameJson('a', 'a'))
  t.ok(sameJson(1, 1))
  t.ok(sameJson(null, null))
  t.ok(sameJson(true, true))
  t.notOk(sameJson(NaN, NaN))
  t.notOk(sameJson(undefined, null))
  t.notOk(sameJson({}, 'x'))
  t.notOk(sameJson([], {}))
  t.notOk(sameJson({}, null))
})

t.test('cloneJson gives what a JSON round trip gives, own "__proto__" keys included', async (t) => {
  const text = '{"a":[1,{"b":null,"__proto__":{"x":[true,"s"]}}],"__proto__":{"polluted":1},"c":"\\u2028"}'
  const value = JSON.parse(text)
  const copy = cloneJson(value) as Record<string, unknown>
  t.equal(JSON.stringify(copy), JSON.stringify(value))
  t.not(copy.a, value.a, 'arrays are new')
  t.equal(Object.getPrototypeOf(copy), Object.prototype, 'the prototype was not replaced')
  t.ok(Object.hasOwn(copy, '__proto__'), '"__proto__" stays an own key')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing reached Object.prototype')
  t.ok(sameJson(copy, value))
})
