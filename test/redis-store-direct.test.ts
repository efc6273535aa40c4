// RedisStore used directly (not through the plugin). A key it cannot stage in the key's own Redis
// Cluster hash slot (a '}' outside a hash tag) is refused with a TypeError before anything reaches
// Redis (the plugin's own keys are base64url and never hold braces); getIfChanged without a usable
// version or head falls back to a plain read.
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisStore } from '../lib/stores/redis.js'
import { redisCommand, startRedis } from './helpers/redis.js'

t.test("a '}' outside a hash tag: TypeError, nothing written", async (t) => {
  const server = await startRedis(t)
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(() => client.disconnect())
  const store = new RedisStore({ client })
  await t.rejects(store.set('ab}cd', { version: 1, value: 'v' }, 60, 0), {
    name: 'TypeError',
    message: 'Session store key "ab}cd" has a \'}\' outside a hash tag: no staging key can share its hash slot'
  })
  t.same(await redisCommand(server.port, ['DBSIZE']), 0, 'nothing was written, not even a staged value')
  t.equal(await store.set('{ab}cd', { version: 1, value: 'v' }, 60, 0), true, 'inside a hash tag it is fine')
  t.same(await store.get('{ab}cd'), { version: 1, value: 'v' })
})

t.test('getIfChanged without a usable version or head is a plain read', async (t) => {
  const server = await startRedis(t)
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(() => client.disconnect())
  const store = new RedisStore({ client })
  t.equal(await store.set('k', { version: 3, value: 'abc' }, 60), true)
  for (const [version, head] of [[Number.NaN, 'abc'], [3, ''], [3, undefined]] as const) {
    t.same(await store.getIfChanged('k', version, head as unknown as string), { version: 3, value: 'abc' }, `${version} ${String(head)}`)
  }
  t.equal(await store.getIfChanged('gone', Number.NaN, ''), undefined)
})
