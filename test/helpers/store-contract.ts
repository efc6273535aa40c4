// The behaviour every SessionStore owes the plugin, written once and run against each store, so
// that the memory store used in development cannot drift from Redis in production.
import type {} from 'tap'
import type { SessionStore } from '../../lib/stores/store.js'

export interface ContractSubject {
  store: SessionStore
  /** Makes `key`'s entry reach the end of its ttl now (it may expire other entries as well). */
  expire (key: string): Promise<void>
}

const TTL = 60

export function storeContract (
  parent: tap.Test,
  name: string,
  make: (t: tap.Test) => Promise<ContractSubject>
): Promise<void> {
  return parent.test(`${name}: SessionStore contract`, async (t) => {
    t.test('get of a key never written resolves undefined', async (t) => {
      const { store } = await make(t)
      t.equal(await store.get('never-written'), undefined)
    })

    t.test('set resolves true and get returns the same version and value', async (t) => {
      const { store } = await make(t)
      const value = 'eyJhbGciOiJkaXIifQ..iv.ciphertext:with:colons.tag é ✓'
      t.equal(await store.set('a', { version: 3, value }, TTL), true)
      t.same(await store.get('a'), { version: 3, value })
      t.equal(await store.set('empty', { version: 1, value: '' }, TTL), true)
      t.same(await store.get('empty'), { version: 1, value: '' })
    })

    t.test('set without expectedVersion overwrites whatever is there', async (t) => {
      const { store } = await make(t)
      await store.set('a', { version: 5, value: 'first' }, TTL)
      t.equal(await store.set('a', { version: 2, value: 'second' }, TTL), true)
      t.same(await store.get('a'), { version: 2, value: 'second' })
    })

    t.test('keys are independent', async (t) => {
      const { store } = await make(t)
      await store.set('a', { version: 1, value: 'A' }, TTL)
      await store.set('b', { version: 7, value: 'B' }, TTL)
      t.same(await store.get('a'), { version: 1, value: 'A' })
      t.same(await store.get('b'), { version: 7, value: 'B' })
      await store.delete('a')
      t.same(await store.get('b'), { version: 7, value: 'B' })
    })

    t.test('delete removes the entry, and deleting a missing key resolves', async (t) => {
      const { store } = await make(t)
      await store.set('a', { version: 1, value: 'A' }, TTL)
      await store.delete('a')
      t.equal(await store.get('a'), undefined)
      await t.resolves(store.delete('a'))
      await t.resolves(store.delete('never-written'))
    })

    t.test('compare-and-set with 0 creates only when there is no entry', async (t) => {
      const { store } = await make(t)
      t.equal(await store.set('a', { version: 1, value: 'mine' }, TTL, 0), true)
      t.same(await store.get('a'), { version: 1, value: 'mine' })
      t.equal(await store.set('a', { version: 1, value: 'theirs' }, TTL, 0), false)
      t.same(await store.get('a'), { version: 1, value: 'mine' }, 'the loser did not write')
    })

    t.test('compare-and-set writes on the current version and conflicts on any other', async (t) => {
      const { store } = await make(t)
      await store.set('a', { version: 1, value: 'v1' }, TTL)
      t.equal(await store.set('a', { version: 2, value: 'v2' }, TTL, 1), true)
      t.same(await store.get('a'), { version: 2, value: 'v2' })
      t.equal(await store.set('a', { version: 2, value: 'stale' }, TTL, 1), false, 'stale version')
      t.equal(await store.set('a', { version: 4, value: 'ahead' }, TTL, 3), false, 'version from the future')
      t.equal(await store.set('a', { version: 1, value: 'fresh' }, TTL, 0), false, '0 while an entry exists')
      t.same(await store.get('a'), { version: 2, value: 'v2' }, 'conflicts leave the entry unchanged')
    })

    t.test('compare-and-set against a missing key conflicts unless 0 is expected', async (t) => {
      const { store } = await make(t)
      t.equal(await store.set('a', { version: 2, value: 'x' }, TTL, 1), false)
      t.equal(await store.get('a'), undefined)
    })

    t.test('a tombstone reads back and no compare-and-set ever matches it', async (t) => {
      const { store } = await make(t)
      await store.set('a', { version: 4, value: 'live' }, TTL)
      t.equal(await store.set('a', { version: -1, value: '' }, TTL, 4), true, 'ending a session is a CAS too')
      t.same(await store.get('a'), { version: -1, value: '' })
      for (const expected of [-1, 0, 1, 4, 5]) {
        t.equal(await store.set('a', { version: 5, value: 'revived' }, TTL, expected), false, `expected ${expected}`)
      }
      t.same(await store.get('a'), { version: -1, value: '' }, 'the session stays ended')
    })

    t.test('a negative expectedVersion never matches, even with no entry', async (t) => {
      const { store } = await make(t)
      t.equal(await store.set('a', { version: 1, value: 'x' }, TTL, -1), false)
      t.equal(await store.get('a'), undefined)
    })

    t.test('an expired entry is never returned and counts as no entry for compare-and-set', async (t) => {
      const { store, expire } = await make(t)
      await store.set('a', { version: 3, value: 'old' }, TTL)
      await expire('a')
      t.equal(await store.get('a'), undefined)
      t.equal(await store.set('a', { version: 4, value: 'x' }, TTL, 3), false, 'its old version is gone')
      t.equal(await store.set('a', { version: 1, value: 'new' }, TTL, 0), true)
      t.same(await store.get('a'), { version: 1, value: 'new' })
    })

    t.test('ttl must be a whole number of seconds > 0, and nothing is written otherwise', async (t) => {
      const { store } = await make(t)
      for (const ttl of [0, -1, 1.5, NaN, Infinity, '60' as unknown as number]) {
        await t.rejects(store.set('a', { version: 1, value: 'x' }, ttl), TypeError, `ttl ${String(ttl)}`)
        await t.rejects(store.set('a', { version: 1, value: 'x' }, ttl, 0), TypeError, `ttl ${String(ttl)} with CAS`)
      }
      t.equal(await store.get('a'), undefined)
    })

    t.test('concurrent compare-and-set on one version: exactly one wins', async (t) => {
      const { store } = await make(t)
      await store.set('a', { version: 1, value: 'v1' }, TTL)
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
        store.set('a', { version: 2, value: `writer ${i}` }, TTL, 1)))
      t.equal(results.filter(Boolean).length, 1)
      const winner = results.indexOf(true)
      t.same(await store.get('a'), { version: 2, value: `writer ${winner}` })
    })

    t.test('getIfChanged (optional): unchanged only for the same version and head, else what get gives', async (t) => {
      const { store, expire } = await make(t)
      if (store.getIfChanged === undefined) {
        t.pass(`${name} does not implement the optional getIfChanged: the plugin uses get`)
        return
      }
      const head = 'eyJhbGciOiJkaXIifQ..AAAAAAAAAAAAAAAA'
      const value = `${head}.ciphertext.tag`
      await store.set('a', { version: 4, value }, TTL)
      t.equal(await store.getIfChanged('a', 4, head), 'unchanged')
      t.equal(await store.getIfChanged('a', 4, value), 'unchanged', 'the whole value is a head too')
      t.same(await store.getIfChanged('a', 4, 'eyJhbGciOiJkaXIifQ..BAAAAAAAAAAAAAAA'), { version: 4, value }, 'another IV: the entry')
      t.same(await store.getIfChanged('a', 3, head), { version: 4, value }, 'another version: the entry')
      t.same(await store.getIfChanged('a', 44, head), { version: 4, value }, 'a version that only starts the same: the entry')
      t.same(await store.getIfChanged('a', 4, `${value}x`), { version: 4, value }, 'longer than the value: the entry')
      t.equal(await store.getIfChanged('never-written', 1, head), undefined)
      await store.set('a', { version: -1, value: '' }, TTL, 4)
      t.same(await store.getIfChanged('a', 4, head), { version: -1, value: '' }, 'a tombstone reads back')
      await store.set('b', { version: 2, value }, TTL)
      await expire('b')
      t.equal(await store.getIfChanged('b', 2, head), undefined, 'an expired entry is not unchanged: it is gone')
    })
  }) as unknown as Promise<void>
}
