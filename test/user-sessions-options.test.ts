// userKey, userMeta and RedisStore's subscriber are checked at register (or construction).
import t from 'tap'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { plugin, KEY1 } from './helpers/app.js'
import { MemoryStore } from '../lib/stores/memory.js'
import { RedisStore } from '../lib/stores/redis.js'

async function registerError (options: unknown): Promise<(Error & { code?: string }) | null> {
  const app = Fastify()
  app.register(plugin, options as never)
  try {
    await app.ready()
    return null
  } catch (err) {
    return err as Error & { code?: string }
  } finally {
    await app.close()
  }
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
    const err = await registerError(options)
    t.equal(err?.code, 'FST_ENCSESS_INVALID_OPTION', String(message))
    t.match(err?.message, message)
  }
  t.equal(await registerError({ ...k, store: new MemoryStore(), userKey: (d: { user?: string }) => d.user, userMeta: () => undefined }), null)
})

t.test('RedisStore subscriber must be a second ioredis connection', async (t) => {
  const client = new Redis({ lazyConnect: true })
  for (const subscriber of [null, 'redis://', {}, client]) {
    t.throws(() => new RedisStore({ client, subscriber: subscriber as never }), { code: 'FST_ENCSESS_INVALID_OPTION', message: /"subscriber"/ })
  }
  t.ok(new RedisStore({ client, subscriber: client.duplicate() }))
  client.disconnect()
})
