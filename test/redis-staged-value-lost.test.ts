// A compare-and-set write first SETs the new value under a staging key, then runs a script that
// moves it into place. If the staged value is gone when the script runs (evicted under maxmemory,
// or deleted by hand), the write fails as a coded store error, and the entry is left as it was.
// A loopback proxy in front of a real redis-server makes the staged SET land under another name.
import t from 'tap'
import { createServer, connect as netConnect, type Socket } from 'node:net'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import { RedisStore } from '../lib/stores/redis.js'
import { startRedis } from './helpers/redis.js'

const STAGED_SET = /(\*5\r\n\$3\r\nset\r\n)\$(\d+)\r\n([^\r]*:staged:[^\r]*)\r\n/gi

t.test('the staged value is missing when the script runs: FST_ENCSESS_STORE_UNAVAILABLE, entry unchanged', async (t) => {
  const server = await startRedis(t)
  const sockets = new Set<Socket>()
  const proxy = createServer((client) => {
    const upstream = netConnect(server.port, '127.0.0.1')
    sockets.add(client).add(upstream)
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1')
      const rewritten = text.replace(STAGED_SET, (_m, head: string, _n: string, key: string) => `${head}$${key.length + 5}\r\n${key}.lost\r\n`)
      upstream.write(Buffer.from(rewritten, 'latin1'))
    })
    upstream.pipe(client)
    for (const s of [client, upstream]) s.on('error', () => {}).on('close', () => { client.destroy(); upstream.destroy() })
  })
  proxy.listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  t.teardown(() => { for (const s of sockets) s.destroy(); proxy.close() })

  const client = new Redis((proxy.address() as { port: number }).port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.teardown(() => client.disconnect())
  const store = new RedisStore({ client })
  t.equal(await store.set('k', { version: 1, value: 'first' }, 60), true, 'a plain SET is untouched')
  await t.rejects(store.set('k', { version: 2, value: 'second' }, 60, 1), {
    code: 'FST_ENCSESS_STORE_UNAVAILABLE',
    message: /unexpected reply to the compare-and-set script: -1/
  })
  t.same(await store.get('k'), { version: 1, value: 'first' }, 'the entry is left as it was')
})
