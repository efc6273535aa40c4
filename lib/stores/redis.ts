// A store on Redis (standalone, Sentinel or Cluster), through an ioredis client that the app creates,
// configures and closes. The client is typed by the few methods used (RedisClientLike), and the
// plugin never loads ioredis itself, so apps without Redis need neither ioredis nor its types.
import { randomBytes } from 'node:crypto'
import type { RedisClientLike, RedisStoreOptions } from '../../types/index.js'
import { errors } from '../errors.js'
import { checkWrite, type SessionStore, type StoreEntry, type StoreWatch } from './store.js'
import { RedisWatch } from './redis-watch.js'

export type { RedisStoreOptions } from '../../types/index.js'

// Every value is the plain string `${version}:${value}`: one key, one GET, one SET, and a format
// that an operator can read with redis-cli.
const ENCODED = /^(-?\d+):/

// Compare-and-set. The new value does not go through the script: Redis copies a script's
// arguments into Lua, and with a 22 KB value as an argument a write cost Redis about 75 us of CPU,
// against about 23 us for a plain SET of the same value (benchmarks/redis-cas.js). So the value is
// first written, with its TTL, by a plain SET under a staging key of its own (unique per write, in
// the same hash slot), and the script, sent right behind it on the same connection, only compares
// versions and renames the staged value into place: two keys of one slot, which Redis Cluster allows. Every command a script runs costs a few
// microseconds, so the common case (an update) runs two: GETRANGE and RENAME.
// Anything the script cannot read as one of our entries (another Redis type, a value without a
// version, a tombstone) is a conflict: overwriting it would destroy something we do not own or
// revive an ended session. Returns 1 when it wrote, 0 when it did not, -1 when the staged value is
// missing (its SET failed). The staged value is never left behind by the script; only a connection
// lost between the SET and the script can leave one, and it expires with the session's TTL.
const CAS_SCRIPT = `
local function refuse (reply)
  redis.call('DEL', KEYS[2])
  return reply
end
-- Only the version prefix (at most 18 characters): the value itself may be kilobytes.
local head = redis.pcall('GETRANGE', KEYS[1], 0, 20)
if type(head) == 'table' then
  if string.find(head.err, '^WRONGTYPE') then return refuse(0) end
  return refuse(head)
end
local version = 0
if head ~= '' or redis.call('EXISTS', KEYS[1]) == 1 then
  local digits = string.match(head, '^(%-?%d+):')
  if not digits then return refuse(0) end
  version = tonumber(digits)
  if version < -1 or version > 9007199254740991 then return refuse(0) end
end
if version == -1 or version ~= tonumber(ARGV[1]) then return refuse(0) end
local moved = redis.pcall('RENAME', KEYS[2], KEYS[1])
if type(moved) == 'table' and moved.err then
  if string.find(moved.err, 'no such key') then return -1 end
  return refuse(moved)
end
return 1
`

// A read by a caller that already holds the value it last saw: when the stored value still starts
// with the same `version:` and JWE head (which ends in the write's random IV), the reply is 1 instead
// of the value. At 16 KB that saves the client about 23 us per read (receiving and decoding 22 KB),
// for about the same Redis CPU as a GET. A key of another type errors as GET would (WRONGTYPE).
const CHECK_SCRIPT = `
local head = redis.call('GETRANGE', KEYS[1], 0, #ARGV[1] - 1)
if head == ARGV[1] then return 1 end
if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[2]) then return -1 end
return redis.call('GET', KEYS[1])
`

// A read bounded in size: a value longer than the caller would accept (planted by someone with
// write access to Redis) is measured in place, -1 comes back instead of megabytes, and the client
// neither receives nor decodes it. STRLEN costs Redis about what a GET's lookup does.
const READ_SCRIPT = `
if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then return -1 end
return redis.call('GET', KEYS[1])
`

// Namespaced, as the methods land on the app's own client object.
const CAS_COMMAND = 'fastifyEncryptedSessionCas'
const CHECK_COMMAND = 'fastifyEncryptedSessionGetIfChanged'
const READ_COMMAND = 'fastifyEncryptedSessionGetBounded'
// What `${version}:` adds to a value in Redis at most: 17 digits, a sign and the colon.
const VERSION_PREFIX_MAX = 19

type ScriptClient = {
  [CAS_COMMAND]: (key: string, staged: string, expectedVersion: string) => Promise<number>
  [CHECK_COMMAND]: (key: string, head: string, maxLength: string) => Promise<number | string | null>
  [READ_COMMAND]: (key: string, maxLength: string) => Promise<number | string | null>
}

/**
 * The name of a write's staged value: in the session key's Redis Cluster hash slot and, so that an
 * ACL of `~<prefix>*` covers it, under the prefix. A key with a hash tag keeps it (`{app}:k` gives
 * `{app}:k<suffix>`); a key without braces becomes the hash tag after the prefix (`sess:k` gives
 * `sess:{sess:k}<suffix>`: its slot is that of `sess:k` hashed whole). A key with an unclosed '{'
 * is wrapped whole, outside the prefix. Undefined when no same-slot name exists (a stray '}').
 */
export function stagedKeyOf (key: string, suffix: string, prefix = ''): string | undefined {
  const open = key.indexOf('{')
  if (open !== -1) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) return key + suffix
  }
  if (key.includes('}')) return undefined
  return open === -1 && key.startsWith(prefix) ? `${prefix}{${key}}${suffix}` : `{${key}}${suffix}`
}

const KNOWN_OPTIONS = new Set(['client', 'prefix', 'subscriber'])

export class RedisStore implements SessionStore {
  readonly #client: RedisClientLike
  readonly #prefix: string
  // Staged values are named `<prefix>{<key>}:staged:<writer>.<n>` (see stagedKeyOf): unique across
  // instances and writes.
  readonly #writer = randomBytes(9).toString('base64url')
  #staged = 0
  readonly #watch: RedisWatch

  constructor (options: RedisStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new errors.FST_ENCSESS_INVALID_OPTION(
        'store',
        'RedisStore needs an options object, e.g. new RedisStore({ client: new Redis(process.env.REDIS_URL) })'
      )
    }
    for (const name of Object.keys(options)) {
      if (!KNOWN_OPTIONS.has(name)) {
        throw new errors.FST_ENCSESS_INVALID_OPTION(
          name,
          'RedisStore does not know this option; it accepts client, prefix and subscriber (configure the connection on the ioredis client itself)'
        )
      }
    }
    const { client, prefix = 'sess:', subscriber } = options
    const c = client as unknown as { [name: string]: unknown } | null
    if (typeof c !== 'object' || c === null ||
        typeof c.get !== 'function' || typeof c.set !== 'function' ||
        typeof c.del !== 'function' || typeof c.defineCommand !== 'function') {
      throw new errors.FST_ENCSESS_INVALID_OPTION(
        'client',
        'RedisStore needs an ioredis Redis or Cluster instance, e.g. { client: new Redis(process.env.REDIS_URL) }; node-redis and other clients are not supported'
      )
    }
    if (typeof prefix !== 'string') {
      throw new errors.FST_ENCSESS_INVALID_OPTION(
        'prefix',
        `RedisStore prefix must be a string (got ${typeof prefix}); pass e.g. { prefix: 'sess:' }, or leave it out for the default`
      )
    }
    // The keys the plugin asks for are base64url: only the prefix can hold braces.
    if (stagedKeyOf(`${prefix}k`, '') === undefined) {
      throw new errors.FST_ENCSESS_INVALID_OPTION(
        'prefix',
        `RedisStore prefix ${JSON.stringify(prefix)} has a '}' that does not close a Redis Cluster hash tag, so a write's staged value cannot be placed in the same hash slot; use e.g. 'sess:' or '{sess}:'`
      )
    }
    const sub = subscriber as unknown as { [name: string]: unknown } | null | undefined
    if (sub !== undefined && (typeof sub !== 'object' || sub === null || sub === c ||
        typeof sub.subscribe !== 'function' || typeof sub.ping !== 'function' || typeof sub.on !== 'function')) {
      throw new errors.FST_ENCSESS_INVALID_OPTION(
        'subscriber',
        'RedisStore subscriber must be a second ioredis connection, not the client itself, e.g. { client, subscriber: client.duplicate() }'
      )
    }
    this.#client = client
    this.#prefix = prefix
    this.#watch = new RedisWatch(subscriber, `${prefix}users`)
    // Idempotent: several stores may share one client, and the script is the same for all.
    client.defineCommand(CAS_COMMAND, { numberOfKeys: 2, lua: CAS_SCRIPT })
    client.defineCommand(CHECK_COMMAND, { numberOfKeys: 1, lua: CHECK_SCRIPT })
    client.defineCommand(READ_COMMAND, { numberOfKeys: 1, lua: READ_SCRIPT })
  }

  async get (key: string): Promise<StoreEntry | undefined>
  async get (key: string, maxLength?: number): Promise<StoreEntry | undefined | 'oversized'>
  async get (key: string, maxLength?: number): Promise<StoreEntry | undefined | 'oversized'> {
    if (maxLength === undefined) return await this.#read(this.#client.get(this.#prefix + key)) as StoreEntry | undefined
    return await this.#read((this.#client as unknown as ScriptClient)[READ_COMMAND](this.#prefix + key, bound(maxLength))) as StoreEntry | undefined | 'oversized'
  }

  async getIfChanged (key: string, version: number, head: string, maxLength?: number): Promise<StoreEntry | undefined | 'unchanged' | 'oversized'> {
    if (!Number.isSafeInteger(version) || typeof head !== 'string' || head === '') return await this.get(key, maxLength)
    return await this.#read((this.#client as unknown as ScriptClient)[CHECK_COMMAND](this.#prefix + key, `${version}:${head}`, bound(maxLength)))
  }

  // A GET's reply, or the check script's: the same bulk string, or the integer 1 for "unchanged".
  async #read (pending: Promise<unknown>): Promise<StoreEntry | undefined | 'unchanged' | 'oversized'> {
    let raw: unknown
    try {
      raw = await pending
    } catch (err) {
      // The key holds a hash, list…: not a session entry, so for the plugin there is none.
      if (isWrongType(err)) return undefined
      throw err
    }
    if (raw === null) return undefined
    if (raw === 1) return 'unchanged'
    if (raw === -1) return 'oversized'
    // GET and the check scripts answer a string, nil, 1 or -1 (handled above); a guard against a
    // non-conforming server or proxy that cannot be reached with Redis.
    /* c8 ignore next */
    if (typeof raw !== 'string') throw new errors.FST_ENCSESS_STORE_UNAVAILABLE(`unexpected reply to a read: ${typeof raw}`)
    const match = ENCODED.exec(raw)
    const version = match === null ? NaN : Number(match[1])
    if (match === null || !Number.isSafeInteger(version) || version < -1) {
      // Written by something else (an older format, a person with redis-cli): hand it over as is,
      // with the version that means "unknown"; the plugin authenticates values before use anyway.
      return { version: 0, value: raw }
    }
    return { version, value: raw.slice(match[0].length) }
  }

  async set (key: string, entry: StoreEntry, ttl: number, expectedVersion?: number): Promise<boolean> {
    checkWrite(entry, ttl, expectedVersion)
    const redisKey = this.#prefix + key
    // As a Buffer: ioredis writes string arguments by building one string of the whole command and
    // encoding it into the socket, which a profile of 16 KB offloaded writes put at 13 % of the
    // server's CPU; a Buffer argument is written as it is.
    const encoded = Buffer.from(`${entry.version}:${entry.value}`)
    if (expectedVersion === undefined) {
      const reply = await this.#client.set(redisKey, encoded, 'EX', ttl)
      // Redis answers a SET with EX (no NX/XX/GET) with OK or an error, which rejects above; this
      // guards against a non-conforming server or proxy and cannot be reached with Redis.
      /* c8 ignore next 3 */
      if (reply !== 'OK') {
        throw new errors.FST_ENCSESS_STORE_UNAVAILABLE(`unexpected reply to SET: ${String(reply)}`)
      }
      return true
    }
    // Negative versions never match (a tombstone stays ended), so there is nothing to ask Redis.
    if (expectedVersion < 0) return false
    const staged = stagedKeyOf(redisKey, `:staged:${this.#writer}.${++this.#staged}`, this.#prefix)
    if (staged === undefined) {
      throw new TypeError(`Session store key ${JSON.stringify(key)} has a '}' outside a hash tag: no staging key can share its hash slot`)
    }
    // Two commands on one connection: Redis runs the script after the SET. (Not an ioredis
    // pipeline: building one cost the server more CPU than the separate write it saves.)
    // Replies come in order, so a failed SET rejects first: its error says more than the script's
    // "the staged value is missing".
    const [setReply, reply] = await Promise.all([
      this.#client.set(staged, encoded, 'EX', ttl),
      (this.#client as unknown as ScriptClient)[CAS_COMMAND](redisKey, staged, String(expectedVersion))
    ])
    // As above: Redis answers this SET with OK or an error; a guard against a non-conforming server.
    /* c8 ignore next */
    if (setReply !== 'OK') throw new errors.FST_ENCSESS_STORE_UNAVAILABLE(`unexpected reply to SET: ${String(setReply)}`)
    if (reply !== 1 && reply !== 0) {
      throw new errors.FST_ENCSESS_STORE_UNAVAILABLE(`unexpected reply to the compare-and-set script: ${String(reply)}`)
    }
    return reply === 1
  }

  async delete (key: string): Promise<void> {
    await this.#client.del(this.#prefix + key)
  }

  /** Without a subscriber the watch is never live: every read goes to Redis. */
  watch (listener: (key: string | undefined) => void): StoreWatch {
    return this.#watch.add(listener)
  }

  async notify (key: string): Promise<void> {
    await this.#client.publish(`${this.#prefix}users`, key)
  }
}

// The longest string in Redis, version prefix included, that a read with `maxLength` returns.
function bound (maxLength: number | undefined): string {
  return String(maxLength === undefined ? Number.MAX_SAFE_INTEGER : maxLength + VERSION_PREFIX_MAX)
}

function isWrongType (err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('WRONGTYPE')
}
