import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import ts from 'typescript'
import { RedisStore, stagedKeyOf, type RedisStoreOptions } from '../lib/stores/redis.js'
import { commandCount, redisCommand, resetCommandStats, startCluster, startRedis } from './helpers/redis.js'
import { storeContract } from './helpers/store-contract.js'

const TTL = 60

function connect (t: tap.Test, port: number, options: RedisOptions = {}): Redis {
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, ...options })
  t.teardown(() => client.disconnect())
  return client
}

// Each use gets its own prefix, so tests sharing one server cannot see each other's keys.
let runs = 0
function freshPrefix (): string {
  return `test${++runs}:`
}

t.test('the store module loads no ioredis at runtime', async (t) => {
  const file = path.join(__dirname, '..', 'lib', 'stores', 'redis.ts')
  const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, isolatedModules: true }
  })
  const loadsIoredis = /require\(\s*["']ioredis["']\s*\)|import\(\s*["']ioredis["']/
  t.notMatch(outputText, loadsIoredis, 'the compiled module neither requires nor imports ioredis')
  const control = ts.transpileModule("import { Redis } from 'ioredis'\nexport const c = new Redis()", {
    compilerOptions: { module: ts.ModuleKind.CommonJS, esModuleInterop: true }
  })
  t.match(control.outputText, loadsIoredis, 'control: a value import is caught by the same check')
})

t.test('constructor options are validated', async (t) => {
  const server = await startRedis(t)
  const client = connect(t, server.port)
  const bad: Array<[string, unknown]> = [
    ['store', undefined],
    ['client', {}],
    ['client', { client: null }],
    ['client', { client: { get () {}, set () {}, del () {} } }],
    ['prefix', { client, prefix: 5 }],
    ['prefix', { client, prefix: 'sess}' }],
    ['prefix', { client, prefix: 'a{}b:' }],
    ['ttl', { client, ttl: 60 }]
  ]
  for (const [name, options] of bad) {
    t.throws(() => new RedisStore(options as RedisStoreOptions), {
      code: 'FST_ENCSESS_INVALID_OPTION',
      message: new RegExp(`Invalid option "${name}": `)
    }, `bad ${name}`)
  }
  t.doesNotThrow(() => new RedisStore({ client }))
  t.doesNotThrow(() => new RedisStore({ client, prefix: '' }))
  t.doesNotThrow(() => new RedisStore({ client, prefix: '{app}:' }), 'a prefix that is a hash tag is fine')
})

// Which names share a slot is checked against Redis Cluster itself, in the cluster tests below.
const STAGED_NAMES: Array<[string, string]> = [
  ['sess:abc', '{sess:abc}:staged:1'],
  ['{app}:abc', '{app}:abc:staged:1'],
  ['a{b', '{a{b}:staged:1'],
  ['x{y}z{w}', 'x{y}z{w}:staged:1']
]

t.test('a write\'s staged value is named after the session key, keeping or adding a hash tag', async (t) => {
  for (const [key, staged] of STAGED_NAMES) t.equal(stagedKeyOf(key, ':staged:1'), staged, JSON.stringify(key))
  for (const key of ['a}b', 'a{}b', 'x{}y{z}', '}']) t.equal(stagedKeyOf(key, ':s'), undefined, `${JSON.stringify(key)}: no same-slot name`)
})

t.test('standalone redis-server', async (t) => {
  const server = await startRedis(t)
  const client = connect(t, server.port)

  storeContract(t, 'RedisStore', async () => {
    const prefix = freshPrefix()
    return {
      store: new RedisStore({ client, prefix }),
      async expire (key) { await client.pexpireat(prefix + key, 1) }
    }
  })

  t.test('values are stored as "version:value" under prefix + key', async (t) => {
    const store = new RedisStore({ client, prefix: 'app1:' })
    await store.set('abc', { version: 3, value: 'sealed:value' }, TTL)
    t.equal(await client.get('app1:abc'), '3:sealed:value')
    t.equal(await client.exists('abc', 'sess:abc'), 0, 'nothing written outside the prefix')
    await store.delete('abc')
    t.equal(await client.exists('app1:abc'), 0, 'delete uses the prefix too')
  })

  t.test('the default prefix is "sess:"', async (t) => {
    const store = new RedisStore({ client })
    await store.set('default-prefix', { version: 1, value: 'v' }, TTL, 0)
    t.equal(await client.get('sess:default-prefix'), '1:v')
    await store.delete('default-prefix')
  })

  t.test('every key the store writes carries a TTL', async (t) => {
    const prefix = freshPrefix()
    const store = new RedisStore({ client, prefix })
    await store.set('plain', { version: 1, value: 'a' }, TTL)
    await store.set('created', { version: 1, value: 'b' }, TTL, 0)
    await store.set('updated', { version: 1, value: 'c' }, TTL)
    await store.set('updated', { version: 2, value: 'c2' }, 7, 1)
    await store.set('ended', { version: 1, value: 'd' }, TTL)
    await store.set('ended', { version: -1, value: '' }, 30, 1)
    await store.set('refused', { version: 9, value: 'e' }, TTL, 5)
    const keys = (await client.keys(`${prefix}*`)).sort()
    t.same(keys, ['created', 'ended', 'plain', 'updated'].map((k) => prefix + k))
    const expected: { [key: string]: number } = { plain: TTL, created: TTL, updated: 7, ended: 30 }
    for (const key of keys) {
      const ttl = await client.ttl(key)
      const max = expected[key.slice(prefix.length)] ?? 0
      t.ok(ttl > 0 && ttl <= max, `${key} expires in ${ttl}s (set with ${max}s)`)
    }
  })

  t.test('a key of another Redis type reads as no entry and is never overwritten by compare-and-set', async (t) => {
    const prefix = freshPrefix()
    const store = new RedisStore({ client, prefix })
    await client.hset(`${prefix}hash`, 'field', 'value')
    await client.rpush(`${prefix}list`, 'item')
    t.equal(await store.get('hash'), undefined)
    t.equal(await store.get('list'), undefined)
    t.equal(await store.getIfChanged('hash', 1, 'head'), undefined, 'the check script reads it as no entry too')
    t.equal(await store.set('hash', { version: 1, value: 'x' }, TTL, 0), false)
    t.equal(await store.set('list', { version: 1, value: 'x' }, TTL, 1), false)
    t.equal(await client.type(`${prefix}hash`), 'hash')
    t.same(await client.hgetall(`${prefix}hash`), { field: 'value' }, 'the hash is intact')
    t.equal(await client.type(`${prefix}list`), 'list')
  })

  t.test('a value without a version reads as version 0 and blocks compare-and-set', async (t) => {
    const prefix = freshPrefix()
    const store = new RedisStore({ client, prefix })
    const cases: Array<[string, string]> = [
      ['garbage', 'not a session'],
      ['word-colon', 'abc:def'],
      ['too-big', '99999999999999999999:x'],
      ['below-tombstone', '-2:x'],
      ['no-colon', '12']
    ]
    for (const [key, raw] of cases) {
      await client.set(prefix + key, raw, 'EX', TTL)
      t.same(await store.get(key), { version: 0, value: raw }, `${JSON.stringify(raw)} reads as version 0`)
      t.equal(await store.set(key, { version: 1, value: 'x' }, TTL, 0), false, `${JSON.stringify(raw)}: CAS 0 conflicts`)
      t.equal(await client.get(prefix + key), raw, `${JSON.stringify(raw)} left as it was`)
    }
    await client.set(`${prefix}leading-zeros`, '007:x', 'EX', TTL)
    t.same(await store.get('leading-zeros'), { version: 7, value: 'x' })
    t.equal(await store.set('leading-zeros', { version: 8, value: 'y' }, TTL, 7), true, 'the script reads it the same way')
  })

  t.test('errors other than WRONGTYPE reject', async (t) => {
    await redisCommand(server.port, ['ACL', 'SETUSER', 'noget', 'on', '>secret', '~*', '&*', '+@all', '-get', '-getrange'])
    t.teardown(() => redisCommand(server.port, ['ACL', 'DELUSER', 'noget']))
    const limited = connect(t, server.port, { username: 'noget', password: 'secret' })
    const prefix = freshPrefix()
    const store = new RedisStore({ client: limited, prefix })
    await t.rejects(store.get('a'), { message: /NOPERM/ }, 'GET refused: get rejects')
    await t.rejects(store.getIfChanged('a', 1, 'head'), { message: /can't run this command/ }, 'GETRANGE refused inside the check script: getIfChanged rejects')
    // An existing entry, so the script must read its version (with GETRANGE) before writing.
    await client.set(`${prefix}a`, '0:x', 'EX', TTL)
    await t.rejects(store.set('a', { version: 1, value: 'y' }, TTL, 0), { message: /can't run this command/ },
      'GETRANGE refused inside the script: compare-and-set rejects rather than reporting a conflict')
    t.equal(await client.get(`${prefix}a`), '0:x', 'and writes nothing')
    t.same(await client.keys('*staged*'), [], 'nor leaves the staged value behind')
    t.equal(await store.set('a', { version: 1, value: 'x' }, TTL), true, 'SET itself is allowed')
  })

  t.test('compare-and-set hands the value to Redis in a plain SET, never as a script argument, and leaves nothing staged', async (t) => {
    const prefix = freshPrefix()
    const store = new RedisStore({ client, prefix })
    const value = 'v'.repeat(20000)
    await store.set('big', { version: 1, value }, TTL, 0) // loads the script on this connection
    const monitor = await client.monitor()
    t.teardown(() => monitor.disconnect())
    const seen: string[][] = []
    // MONITOR reports commands in the order Redis ran them, so once it reports this marker it has
    // reported everything before it.
    const marker = `end-of-writes-${prefix}`
    const caughtUp = new Promise<void>((resolve) => {
      monitor.on('monitor', (_time: string, args: string[]) => {
        seen.push(args)
        if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) resolve()
      })
    })
    t.equal(await store.set('big', { version: 2, value }, 7, 1), true)
    t.equal(await store.set('big', { version: 2, value }, 7, 1), false, 'a conflict')
    await client.echo(marker)
    await caughtUp
    await monitor.disconnect()
    const scripts = seen.filter((args) => /^(evalsha|eval)$/i.test(args[0]!))
    t.equal(scripts.length, 2)
    for (const args of scripts) t.ok(args.join(' ').length < 300, `the script got keys and numbers only (${args.join(' ').length} characters)`)
    const sets = seen.filter((args) => args[0]!.toLowerCase() === 'set' && args[2] === `2:${value}`)
    t.equal(sets.length, 2, 'each value went in a SET of its own')
    t.same(await client.keys('*staged*'), [], 'the winner was renamed into place, the loser deleted')
    t.equal((await store.get('big'))?.version, 2)
    const ttl = await client.ttl(`${prefix}big`)
    t.ok(ttl > 0 && ttl <= 7, `the entry has the TTL of the write (${ttl}s), not the staged value's`)
  })

  t.test('a write whose staged value could not be stored fails; the entry is unchanged', async (t) => {
    await redisCommand(server.port, ['ACL', 'SETUSER', 'noset', 'on', '>secret', '~*', '&*', '+@all', '-set'])
    t.teardown(() => redisCommand(server.port, ['ACL', 'DELUSER', 'noset']))
    const limited = connect(t, server.port, { username: 'noset', password: 'secret' })
    const prefix = freshPrefix()
    const store = new RedisStore({ client: limited, prefix })
    await client.set(`${prefix}a`, '1:x', 'EX', TTL)
    await t.rejects(store.set('a', { version: 2, value: 'y' }, TTL, 1), { message: /NOPERM|can't run this command/ })
    t.equal(await client.get(`${prefix}a`), '1:x')
    t.same(await client.keys('*staged*'), [])
  })

  t.test('invalid ttls send no command at all', async (t) => {
    const store = new RedisStore({ client, prefix: freshPrefix() })
    await client.ping() // the connection is ready, so connecting sends nothing during the count
    await resetCommandStats(server.port)
    for (const ttl of [0, -5, 0.5, NaN]) {
      await t.rejects(store.set('a', { version: 1, value: 'x' }, ttl), TypeError)
      await t.rejects(store.set('a', { version: 1, value: 'x' }, ttl, 0), TypeError)
    }
    const counts = await commandCount(server.port)
    t.same([...counts.keys()].filter((name) => name !== 'info' && name !== 'config|resetstat'), [],
      'zero store commands reached the server')
    await store.set('a', { version: 1, value: 'x' }, TTL)
    t.equal((await commandCount(server.port)).get('set'), 1, 'a valid set is counted, so the count can see one')
  })

  t.test('compare-and-set from two clients at once: exactly one wins each round', async (t) => {
    const prefix = freshPrefix()
    const one = new RedisStore({ client: connect(t, server.port), prefix })
    const two = new RedisStore({ client: connect(t, server.port), prefix })
    await one.set('raced', { version: 1, value: 'start' }, TTL)
    for (let version = 1; version <= 50; version++) {
      const [a, b] = await Promise.all([
        one.set('raced', { version: version + 1, value: `one@${version}` }, TTL, version),
        two.set('raced', { version: version + 1, value: `two@${version}` }, TTL, version)
      ])
      if (a === b) {
        t.fail(`round ${version}: ${a ? 'both' : 'neither'} won`)
        return
      }
      const entry = await one.get('raced')
      if (entry?.value !== `${a ? 'one' : 'two'}@${version}` || entry.version !== version + 1) {
        t.fail(`round ${version}: stored ${JSON.stringify(entry)} is not the winner's`)
        return
      }
    }
    t.pass('50 rounds, one winner each, and the stored entry is always the winner\'s')
  })

  t.test('a stalled server makes store calls wait, not fail or skip', async (t) => {
    const store = new RedisStore({ client, prefix: freshPrefix() })
    await server.pause(200)
    const started = Date.now()
    t.equal(await store.set('a', { version: 1, value: 'x' }, TTL, 0), true)
    t.ok(Date.now() - started >= 150, 'the write waited for the pause to end')
  })
})

t.test('3-master Redis Cluster', async (t) => {
  const cluster = await startCluster(t)
  const client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } })
  t.teardown(() => client.disconnect())

  storeContract(t, 'RedisStore on Cluster', async () => {
    const prefix = freshPrefix()
    return {
      store: new RedisStore({ client, prefix }),
      async expire (key) { await client.pexpireat(prefix + key, 1) }
    }
  })

  t.test('keys spread over every master, each with a TTL, and compare-and-set works on all', async (t) => {
    const prefix = freshPrefix()
    const store = new RedisStore({ client, prefix })
    const keys = Array.from({ length: 30 }, (_, i) => `session-${i}`)
    for (const key of keys) t.equal(await store.set(key, { version: 1, value: key }, TTL, 0), true, `create ${key}`)

    const slots = new Set<number>()
    for (const key of keys) slots.add(Number(await redisCommand(cluster.nodes[0]!.port, ['CLUSTER', 'KEYSLOT', prefix + key])))
    t.ok(slots.size > 1, `${slots.size} distinct slots`)
    for (const node of cluster.nodes) {
      t.ok(Number(await redisCommand(node.port, ['DBSIZE'])) > 0, `master ${node.port} holds some of the keys`)
    }

    for (const key of keys) {
      const ttl = await client.ttl(prefix + key)
      t.ok(ttl > 0 && ttl <= TTL, `${key} has a TTL (${ttl}s)`)
      t.equal(await store.set(key, { version: 2, value: `${key}+` }, TTL, 1), true, `update ${key}`)
      t.equal(await store.set(key, { version: 2, value: 'stale' }, TTL, 1), false, `conflict on ${key}`)
      t.same(await store.get(key), { version: 2, value: `${key}+` })
    }
  })

  t.test('each staged name is in the same hash slot as its session key', async (t) => {
    const slot = async (key: string): Promise<number> => Number(await redisCommand(cluster.nodes[0]!.port, ['CLUSTER', 'KEYSLOT', key]))
    for (const [key, staged] of STAGED_NAMES) t.equal(await slot(staged), await slot(key), JSON.stringify(key))
  })

  t.test('a prefix with a hash tag puts every key in one slot, and compare-and-set works there too', async (t) => {
    const prefix = `{${freshPrefix()}}`
    const store = new RedisStore({ client, prefix })
    for (let i = 0; i < 5; i++) {
      t.equal(await store.set(`s${i}`, { version: 1, value: 'a' }, TTL, 0), true)
      t.equal(await store.set(`s${i}`, { version: 2, value: 'b' }, TTL, 1), true)
      t.same(await store.get(`s${i}`), { version: 2, value: 'b' })
    }
  })
})
