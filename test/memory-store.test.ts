import t from 'tap'
import { MemoryStore, type MemoryStoreOptions } from '../lib/stores/memory.js'
import { storeContract } from './helpers/store-contract.js'

// A clock the test moves by hand, so that TTLs are tested without sleeping.
function fakeClock (start = 1_000_000): { now: () => number, advance: (ms: number) => void } {
  let time = start
  return { now: () => time, advance: (ms) => { time += ms } }
}

storeContract(t, 'MemoryStore', async () => {
  const clock = fakeClock()
  const store = new MemoryStore({ now: clock.now })
  return {
    store,
    async expire () { clock.advance(24 * 60 * 60 * 1000) }
  }
})

t.test('options are validated, naming the option and the fix', async (t) => {
  const bad: Array<[string, unknown]> = [
    ['maxEntries', { maxEntries: 0 }],
    ['maxEntries', { maxEntries: -1 }],
    ['maxEntries', { maxEntries: 1.5 }],
    ['maxEntries', { maxEntries: '100' }],
    ['maxEntries', { maxEntries: 2 ** 30 }],
    ['maxBytes', { maxBytes: 0 }],
    ['maxBytes', { maxBytes: NaN }],
    ['maxBytes', { maxBytes: Infinity }],
    ['now', { now: 123 }],
    ['maxSize', { maxSize: 10 }],
    ['store', null],
    ['store', 'big']
  ]
  for (const [name, options] of bad) {
    t.throws(() => new MemoryStore(options as MemoryStoreOptions), {
      code: 'FST_ENCSESS_INVALID_OPTION',
      message: new RegExp(`Invalid option "${name}": .*(pass|accepts|must be|leave it out)`)
    }, `${JSON.stringify(options) ?? String(options)} is rejected`)
  }
  t.doesNotThrow(() => new MemoryStore())
  t.doesNotThrow(() => new MemoryStore({ maxEntries: 1, maxBytes: 1 }))
})

t.test('entries live for their ttl in seconds and not a millisecond more', async (t) => {
  const clock = fakeClock()
  const store = new MemoryStore({ now: clock.now })
  await store.set('a', { version: 1, value: 'x' }, 10)
  clock.advance(9_999)
  t.same(await store.get('a'), { version: 1, value: 'x' }, 'alive just before the ttl')
  clock.advance(1)
  t.equal(await store.get('a'), undefined, 'gone at the ttl')
})

t.test('each set starts its own ttl', async (t) => {
  const clock = fakeClock()
  const store = new MemoryStore({ now: clock.now })
  await store.set('short', { version: 1, value: 's' }, 1)
  await store.set('long', { version: 1, value: 'l' }, 100)
  clock.advance(50_000)
  await store.set('refreshed', { version: 1, value: 'r' }, 1)
  t.equal(await store.get('short'), undefined)
  t.same(await store.get('long'), { version: 1, value: 'l' })
  t.same(await store.get('refreshed'), { version: 1, value: 'r' })
  // Re-setting a key restarts its ttl from now.
  await store.set('long', { version: 2, value: 'l2' }, 100)
  clock.advance(60_000)
  t.same(await store.get('long'), { version: 2, value: 'l2' })
})

t.test('an expired entry gives its room back when it is read', async (t) => {
  const clock = fakeClock()
  const store = new MemoryStore({ now: clock.now })
  await store.set('a', { version: 1, value: 'x'.repeat(500) }, 1)
  t.equal(store.size, 1)
  t.ok(store.calculatedSize > 500)
  clock.advance(1_000)
  t.equal(await store.get('a'), undefined)
  t.equal(store.size, 0)
  t.equal(store.calculatedSize, 0)
})

t.test('a compare-and-set never matches an expired entry\'s version', async (t) => {
  const clock = fakeClock()
  const store = new MemoryStore({ now: clock.now })
  await store.set('a', { version: 7, value: 'x' }, 5)
  clock.advance(5_000)
  t.equal(await store.set('a', { version: 8, value: 'y' }, 5, 7), false)
  t.equal(await store.set('a', { version: 1, value: 'z' }, 5, 0), true)
})

t.test('without a clock option, the real clock is used', async (t) => {
  const store = new MemoryStore()
  await store.set('a', { version: 1, value: 'x' }, 1)
  t.same(await store.get('a'), { version: 1, value: 'x' })
})

t.test('the number of entries is bounded, least recently used out first', async (t) => {
  const store = new MemoryStore({ maxEntries: 100 })
  await store.set('key-0', { version: 1, value: 'first' }, 60)
  for (let i = 1; i < 1000; i++) {
    await store.set(`key-${i}`, { version: 1, value: String(i) }, 60)
    // Reading key-0 keeps it recently used, so it outlives everything written before its last read.
    if (i % 50 === 0) await store.get('key-0')
  }
  t.equal(store.size, 100)
  t.same(await store.get('key-0'), { version: 1, value: 'first' }, 'recently read entry kept')
  t.equal(await store.get('key-1'), undefined, 'old entry evicted')
  t.equal(await store.get('key-899'), undefined, 'older than the last 99 writes: evicted')
  t.same(await store.get('key-999'), { version: 1, value: '999' }, 'newest entry kept')
})

t.test('the default bound is 10000 entries', async (t) => {
  const store = new MemoryStore()
  for (let i = 0; i < 10_050; i++) await store.set(String(i), { version: 1, value: 'v' }, 60)
  t.equal(store.size, 10_000)
})

t.test('bytes count keys and values', async (t) => {
  const store = new MemoryStore()
  await store.set('k', { version: 1, value: 'x'.repeat(100) }, 60)
  const base = store.calculatedSize
  t.ok(base >= 101, 'key and value counted')
  await store.set('k', { version: 2, value: 'x'.repeat(1100) }, 60)
  t.equal(store.calculatedSize, base + 1000, 'a longer value costs its extra length')
  await store.set('kkkkkkkkkk', { version: 1, value: 'x'.repeat(100) }, 60)
  t.equal(store.calculatedSize, base + 1000 + base + 9, 'a longer key costs its extra length')
  await store.delete('k')
  await store.delete('kkkkkkkkkk')
  t.equal(store.calculatedSize, 0)
})

t.test('the number of bytes is bounded, least recently used out first', async (t) => {
  const store = new MemoryStore({ maxBytes: 10_000 })
  let largest = 0
  for (let i = 0; i < 1000; i++) {
    await store.set(`key-${i}`, { version: 1, value: 'x'.repeat(1000) }, 60)
    largest = Math.max(largest, store.calculatedSize)
  }
  t.ok(largest <= 10_000, `never above 10000 bytes (peak ${largest})`)
  t.ok(store.size < 10, `only ${store.size} entries of ~1 KB fit in 10 KB`)
  t.ok(store.size > 5, 'the store is used up to its bound')
  t.same(await store.get('key-999'), { version: 1, value: 'x'.repeat(1000) }, 'newest kept')
  t.equal(await store.get('key-0'), undefined, 'oldest evicted')
})

t.test('the default bound is 64 MiB', async (t) => {
  const store = new MemoryStore()
  const mib = 'x'.repeat(1024 * 1024)
  for (let i = 0; i < 70; i++) await store.set(String(i), { version: 1, value: mib }, 60)
  t.ok(store.calculatedSize <= 64 * 1024 * 1024)
  t.equal(store.size, 63, '63 entries of 1 MiB plus overhead fit, a 64th does not')
})

t.test('an entry larger than maxBytes is rejected, not silently dropped', async (t) => {
  const store = new MemoryStore({ maxBytes: 1000 })
  await store.set('a', { version: 1, value: 'small' }, 60)
  const huge = { version: 2, value: 'x'.repeat(2000) }
  await t.rejects(store.set('a', huge, 60), { code: 'FST_ENCSESS_STORE_UNAVAILABLE', message: /larger than the memory store/ })
  await t.rejects(store.set('a', huge, 60, 1), { code: 'FST_ENCSESS_STORE_UNAVAILABLE' })
  await t.rejects(store.set('b', huge, 60), { code: 'FST_ENCSESS_STORE_UNAVAILABLE' })
  t.same(await store.get('a'), { version: 1, value: 'small' }, 'the previous entry is untouched')
  t.equal(await store.get('b'), undefined)
})

t.test('malformed entries are refused', async (t) => {
  const store = new MemoryStore()
  for (const entry of [null, {}, { version: 1 }, { version: 1.5, value: 'x' }, { version: -2, value: 'x' }, { version: 1, value: 5 }]) {
    await t.rejects(store.set('a', entry as never, 60), TypeError, JSON.stringify(entry))
  }
  await t.rejects(store.set('a', { version: 1, value: 'x' }, 60, 1.5), TypeError, 'fractional expectedVersion')
  t.equal(store.size, 0)
})

t.test('get returns a copy: changing it does not change the store', async (t) => {
  const store = new MemoryStore()
  await store.set('a', { version: 1, value: 'x' }, 60)
  const entry = await store.get('a')
  if (entry !== undefined) entry.version = 99
  t.same(await store.get('a'), { version: 1, value: 'x' })
})
