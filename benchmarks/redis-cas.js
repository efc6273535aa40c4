'use strict'
// What one offloaded write costs Redis and this process, by way of writing it:
//
//   npm run build && node benchmarks/redis-cas.js [--writes 20000] [--rounds 3] [--bytes 22000]
//
// - "script argument": the compare-and-set RedisStore used before, with the whole value passed to
//   the Lua script (kept here, verbatim in behaviour, only for this comparison);
// - "staged + rename": RedisStore.set with an expected version, as the plugin writes now (a plain
//   SET of the value under a staging key, then a small script that renames it into place);
// - "plain SET": RedisStore.set without a version (what a store without compare-and-set would do).
// Redis's CPU comes from its own INFO (used_cpu_user + used_cpu_sys), this process's from
// process.cpuUsage(); redis-server is pinned to CPU 0 and this process to CPU 1 like in run.js.
// 10 writes are kept in flight, each a new version of one ~22 KB value (a 16 KB session sealed).

const { parseArgs } = require('node:util')
const { Redis } = require('ioredis')
const { RedisStore } = require('../dist/lib/index.js')
const { startRedis, usePinning } = require('./run.js')

const OLD_SCRIPT = `
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'string' and kind ~= 'none' then return 0 end
local version = 0
if kind == 'string' then
  local digits = string.match(redis.call('GETRANGE', KEYS[1], 0, 20), '^(%-?%d+):')
  if not digits then return 0 end
  version = tonumber(digits)
  if version < -1 or version > 9007199254740991 then return 0 end
end
if version == -1 or version ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
`

async function redisCpu (client) {
  const info = await client.info('cpu')
  const field = (name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)[1])
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6
}

async function main () {
  const { values } = parseArgs({ options: { writes: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '3' }, bytes: { type: 'string', default: '22000' } } })
  const writes = Number(values.writes)
  const rounds = Number(values.rounds)
  const note = usePinning(true)
  const server = await startRedis()
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  client.defineCommand('benchOldCas', { numberOfKeys: 1, lua: OLD_SCRIPT })
  const store = new RedisStore({ client, prefix: 'bench:' })
  const value = 'v'.repeat(Number(values.bytes))

  const modes = {
    'script argument': (v) => client.benchOldCas('bench:old', String(v - 1), Buffer.from(`${v}:${value}`), '600'),
    'staged + rename': (v) => store.set('staged', { version: v, value }, 600, v - 1),
    'plain SET': (v) => store.set('plain', { version: v, value }, 600)
  }
  const results = Object.fromEntries(Object.keys(modes).map((name) => [name, { redis: [], node: [] }]))
  try {
    for (let round = 0; round < rounds; round++) {
      const names = Object.keys(modes)
      // Rotated, so no mode always runs first (on a colder machine) or last.
      for (const name of [...names.slice(round % names.length), ...names.slice(0, round % names.length)]) {
        await client.flushall()
        const write = modes[name]
        // Version 1 first, so every write below is an update of an existing entry.
        if (!await write(1)) throw new Error(`${name}: the first write did not land`)
        const redisBefore = await redisCpu(client)
        const nodeBefore = process.cpuUsage()
        const inFlight = []
        for (let v = 2; v < writes + 2; v++) {
          inFlight.push(write(v).then((ok) => { if (ok !== true && ok !== 1) throw new Error(`${name}: write ${v} was refused`) }))
          if (inFlight.length >= 10) await inFlight.shift()
        }
        await Promise.all(inFlight)
        const node = process.cpuUsage(nodeBefore)
        results[name].redis.push((await redisCpu(client) - redisBefore) / writes)
        results[name].node.push((node.user + node.system) / writes)
      }
    }
  } finally {
    client.disconnect()
    await server.stop()
  }
  const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1]
  console.log(`${new Date().toISOString()} · Node ${process.version} · ${writes} writes of ${value.length + 7} bytes per mode and round, ${rounds} rounds (medians) · ${note}\n`)
  console.log('| write | Redis CPU µs/write | this process CPU µs/write | Redis, per round |')
  console.log('|---|--:|--:|---|')
  for (const [name, r] of Object.entries(results)) {
    console.log(`| ${name} | ${median(r.redis).toFixed(1)} | ${median(r.node).toFixed(1)} | ${r.redis.map((x) => x.toFixed(1)).join(', ')} |`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
