// userKey, userMeta and RedisStore's subscriber are checked at register (or construction).
import t from 'tap'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { plugin, KEY1 } from './helpers/app.js'
import { MemoryStore } from '../lib/stores/memory.js'
import { RedisStore } from '../lib/stores/redis.js'

// Resolves the register error (null when it registers), closing the app either way.
async function failure (options: unknown): Promise<(Error & { code?: string }) | null> {
  const app = Fastify()
  const outcome = await app.register(plugin, options as never).ready().then(() => null, (err: Error) => err)
  await app.close()
  return outcome
}

t.test('bad userKey / userMeta options fail register with FST_ENCSESS_INVALID_OPTION', async (t) => {
  const k = { keys: KEY1.entry }
  const cases: [unknown, RegExp][] = [
    [{ ...k, userKey: 'user' }, /"userKey": it needs a `store`/],
    [{ ...k, store: new MemoryStore(), userKey: '' }, /"userKey": it must be the name/],
    [{ ...k, store: new MemoryStore(), userKey: 42 }, /"userKey": it must be the name/],
    [{ ...k, store: new MemoryStore(), userKey: 'user', userMeta: 'device' }, /"userMeta": it must be a function/],
    [{ ...k, store: new MemoryStore(), userMeta: () => ({}) }, /"userMeta".*needs `userKey`/]
  ]
  for (const [options, message] of cases) {
    const err = await failure(options)
    t.equal(err?.code, 'FST_ENCSESS_INVALID_OPTION', String(message))
    t.match(err?.message, message)
  }
  t.equal(await failure({ ...k, store: new MemoryStore(), userKey: (d: { user?: string }) => d.user, userMeta: () => undefined }), null)
})

t.test('RedisStore subscriber must be a second ioredis connection', async (t) => {
  const client = new Redis({ lazyConnect: true })
  for (const subscriber of [null, 'redis://', {}, client]) {
    t.throws(() => new RedisStore({ client, subscriber: subscriber as never }), { code: 'FST_ENCSESS_INVALID_OPTION', message: /"subscriber"/ })
  }
  t.ok(new RedisStore({ client, subscriber: client.duplicate() }))
  client.disconnect()
})
