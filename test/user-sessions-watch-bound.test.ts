// The watch's bound, at its boundary, on a real Redis: the cache is trusted while the newest proof
// of delivery (an answered PING) was sent at most STORE_WATCH_BOUND_MS ago, and not a millisecond
// longer. The clock is the watch's injected one; Redis is frozen (SIGSTOP) so no newer proof comes.
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisWatch, STORE_WATCH_BOUND_MS } from '../lib/stores/redis-watch.js'
import { startRedis } from './helpers/redis.js'
import { until } from './helpers/users.js'

t.test(`live until exactly ${STORE_WATCH_BOUND_MS} ms after the last answered PING was sent`, async (t) => {
  const redis = await startRedis(t)
  const subscriber = new Redis(redis.port, redis.host)
  subscriber.on('error', () => {})
  t.teardown(() => { redis.process.kill('SIGCONT'); subscriber.disconnect() })
  let clock = 1_000_000
  const watch = new RedisWatch(subscriber, 'test:users', () => clock).add(() => {})
  t.teardown(() => watch.close())
  t.ok(await until(async () => watch.live, 5000) >= 0, 'live once subscribed')
  // Every proof so far was sent at `clock`; let at least one PING be answered at this time.
  const pinged = await until(async () => { await subscriber.ping(); return watch.live }, 1000)
  t.ok(pinged >= 0)
  redis.process.kill('SIGSTOP')
  // A PING sent after the freeze never comes back, so the newest proof stays at the old clock.
  clock += STORE_WATCH_BOUND_MS
  t.equal(watch.live, true, 'at the bound: still live')
  clock += 1
  t.equal(watch.live, false, 'one millisecond past it: not live')
})
