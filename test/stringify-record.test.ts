// stringifyRecord must give exactly what JSON.stringify gives, whatever the data, and only reuse
// the JSON of a long string when the value is still that string.
import t from 'tap'
import { stringifyRecord, type JsonMemo, type SessionRecord } from '../lib/claims.js'
import { countLongStringifies } from './helpers/json.js'

const LONG = 'é"\\\n\u2028'.repeat(300) // 1500 characters, every one of them needing care in JSON

function record (entries: Array<[string, unknown]>): SessionRecord {
  const r: SessionRecord = Object.create(null)
  for (const [k, v] of entries) r[k] = v
  return r
}

t.test('the same text as JSON.stringify, odd values and key orders included', async (t) => {
  const withOwnProto = JSON.parse('{"__proto__": {"x": 1}, "b": 2}') as SessionRecord
  Object.setPrototypeOf(withOwnProto, null)
  const cases: SessionRecord[] = [
    record([]),
    record([['a', 1], ['b', 'two'], ['c', true], ['d', null]]),
    record([['long', LONG], ['short', 'x'], ['long2', LONG + 'y']]),
    record([['plain', 'a'.repeat(2000)], ['long', LONG], ['plain2', '✓'.repeat(1024)]]),
    record([['z', 1], ['10', 'ten'], ['2', 'two'], ['a', LONG]]), // integer keys come first, ascending
    record([['nan', NaN], ['negzero', -0], ['inf', Infinity], ['undef', undefined], ['fn', () => 1], ['sym', Symbol('s')]]),
    record([['date', new Date(0)], ['nested', { d: new Date(1), deep: { toJSON: (key: string) => `key=${key}` } }], ['arr', [undefined, () => 1, LONG]]]),
    record([['top', { toJSON: (key: string) => `key=${key}` }], ['long', LONG]]), // toJSON sees its key
    record([['toJSON', () => 'whole'], ['long', LONG]]),
    record([['k"ey\n', LONG], ['\u2028', 'x']]),
    withOwnProto
  ]
  for (const [i, r] of cases.entries()) {
    const expected = JSON.stringify(r)
    const first = stringifyRecord(r, undefined)
    t.equal(first.json, expected, `case ${i}`)
    t.equal(stringifyRecord(r, first.memo).json, expected, `case ${i}, with its memo`)
  }
  t.throws(() => stringifyRecord(record([['big', 1n]]), undefined), TypeError, 'a BigInt throws as JSON.stringify does')
})

t.test('a long string that is still the same value is not stringified again', async (t) => {
  const PLAIN = 'plain text, no escapes: é ✓ \u2028 '.repeat(40) // JSON leaves all of these as they are
  const r = record([['blob', PLAIN], ['escaped', LONG], ['n', 1]])
  const first = await countLongStringifies(() => stringifyRecord(r, undefined))
  t.equal(first.count, 2)
  const memo: JsonMemo | undefined = first.result.memo
  t.same(memo === undefined ? [] : [...memo.keys()], ['blob'], 'only the long value that needed no escaping is remembered')
  r.n = 2
  const again = await countLongStringifies(() => stringifyRecord(r, memo))
  t.equal(again.count, 1, 'unchanged blob: quoted, not stringified (the escaped one is stringified)')
  t.equal(again.result.json, JSON.stringify(r))

  // Equal text in another string object is the same value: reused too (strings compare by content).
  const copy = record([['blob', (PLAIN + ' ').slice(0, -1)], ['n', 2]])
  const equal = await countLongStringifies(() => stringifyRecord(copy, memo))
  t.equal(equal.count, 0)
  t.equal(equal.result.json, JSON.stringify(copy))

  // A changed value, or the value under another key, is stringified.
  const changed = record([['blob', PLAIN.slice(1) + '"'], ['n', 2]])
  const other = await countLongStringifies(() => stringifyRecord(changed, memo))
  t.equal(other.count, 1)
  t.equal(other.result.json, JSON.stringify(changed))
  t.equal(other.result.memo, undefined, 'a value that now needs escaping is not remembered')
  const moved = record([['other', PLAIN]])
  const elsewhere = await countLongStringifies(() => stringifyRecord(moved, memo))
  t.equal(elsewhere.count, 1, 'memo entries are per key')
  t.equal(elsewhere.result.json, JSON.stringify(moved))
})
