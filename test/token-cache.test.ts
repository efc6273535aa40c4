// The token cache's bounds and its generational aging, on the class itself.
import t from 'tap'
import { TokenCache } from '../lib/token-cache.js'

const sized = (max: number, bytes = Infinity): TokenCache<string> => new TokenCache<string>(max, bytes, (k, v) => k.length + v.length)

t.test('never holds more than max entries; recently used ones survive a generation change', async (t) => {
  const cache = sized(10)
  for (let i = 0; i < 100; i++) {
    cache.set(`k${i}`, 'v')
    t.ok(cache.size <= 10, `size ${cache.size} after ${i + 1} inserts`)
    // k0 is used after every insert: it must stay however many others come and go.
    t.equal(cache.get('k0'), 'v')
  }
  t.equal(cache.get('k1'), undefined, 'an entry nobody asked for again ages out')
  t.equal(cache.get('k99'), 'v', 'the newest entry is there')
})

t.test('never holds more than maxBytes; an entry larger than a generation is not kept', async (t) => {
  const cache = sized(1000, 100)
  let bytes = 0
  const held = new Map<string, string>()
  for (let i = 0; i < 50; i++) {
    const key = `key${i}`
    const value = 'x'.repeat(i % 7)
    cache.set(key, value)
    held.set(key, value)
    bytes = 0
    for (const [k, v] of held) if (cache.get(k) === v) bytes += k.length + v.length
    t.ok(bytes <= 100, `${bytes} bytes held after ${i + 1} inserts`)
  }
  cache.set('huge', 'x'.repeat(60))
  t.equal(cache.get('huge'), undefined)
})

t.test('set replaces a value; clear forgets everything', async (t) => {
  const cache = sized(4)
  cache.set('a', '1')
  cache.set('a', '2')
  t.equal(cache.get('a'), '2')
  t.equal(cache.size, 1)
  cache.set('b', '1')
  cache.set('c', '1') // the generation of a and b is now the old one
  cache.set('a', '3')
  t.equal(cache.get('a'), '3', 'replacing an old-generation entry')
  t.equal(cache.size, 3)
  cache.clear()
  t.equal(cache.size, 0)
  t.equal(cache.get('a'), undefined)
})

t.test('delete forgets one entry, in either generation', async (t) => {
  const cache = sized(4)
  cache.set('a', '1')
  cache.set('b', '2')
  cache.set('c', '3') // the young generation (2 entries) was full: a and b are now the old one
  cache.delete('a')
  cache.delete('c')
  cache.delete('never there')
  t.equal(cache.get('a'), undefined, 'gone from the old generation')
  t.equal(cache.get('c'), undefined, 'gone from the young generation')
  t.equal(cache.get('b'), '2', 'the others stay')
  t.equal(cache.size, 1)
})
