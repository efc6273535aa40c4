// A store on Redis (standalone, Sentinel or Cluster), through an ioredis client that the app creates,
// configures and closes. Only ioredis' types are imported: the plugin never loads ioredis itself,
// so apps without Redis do not need it installed.
import { randomBytes } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { errors } from '../errors.js'
import { checkWrite, type SessionStore, type StoreEntry } from './store.js'

export interface RedisStoreOptions {
  /** A connected (or connecting) ioredis `Redis` or `Cluster`. The store never closes it. */
  client: Redis | Cluster
  /** Prepended to every key. Default 'sess:'. */
  prefix?: string
}

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
return redis.call('GET', KEYS[1])
`

// Namespaced, as the methods land on the app's own client object.
const CAS_COMMAND = 'fastifyEncryptedSessionCas'
const CHECK_COMMAND = 'fastifyEncryptedSessionGetIfChanged'

type ScriptClient = {
  [CAS_COMMAND]: (key: string, staged: string, expectedVersion: string) => Promise<number>
  [CHECK_COMMAND]: (key: string, head: string) => Promise<number | string | null>
}

/**
 * The name of a write's staged value: the session's key plus a suffix, in the same Redis Cluster
 * hash slot. A key with a hash tag keeps it; a key without one is wrapped in one, which needs it
 * to contain no '}'. Undefined when neither is possible.
 */
export function stagedKeyOf (key: string, suffix: string): string | undefined {
  const open = key.indexOf('{')
  if (open !== -1) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) return key + suffix
  }
  return key.includes('}') ? undefined : `{${key}}${suffix}`
}

const KNOWN_OPTIONS = new Set(['client', 'prefix'])

export class RedisStore implements SessionStore {
  readonly #client: Redis | Cluster
  readonly #prefix: string
  // Staged values are named `<key>:staged:<writer>.<n>`: unique across instances and writes.
  readonly #writer = randomBytes(9).toString('base64url')
  #staged = 0

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
          'RedisStore does not know this option; it accepts client and prefix (configure the connection on the ioredis client itself)'
        )
      }
    }
    const { client, prefix = 'sess:' } = options
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
    this.#client = client
    this.#prefix = prefix
    // Idempotent: several stores may share one client, and the script is the same for all.
    client.defineCommand(CAS_COMMAND, { numberOfKeys: 2, lua: CAS_SCRIPT })
    client.defineCommand(CHECK_COMMAND, { numberOfKeys: 1, lua: CHECK_SCRIPT })
  }

  async get (key: string): Promise<StoreEntry | undefined> {
    return await this.#read(this.#client.get(this.#prefix + key)) as StoreEntry | undefined
  }

  async getIfChanged (key: string, version: number, head: string): Promise<StoreEntry | undefined | 'unchanged'> {
    if (!Number.isSafeInteger(version) || typeof head !== 'string' || head === '') return await this.get(key)
    return await this.#read((this.#client as unknown as ScriptClient)[CHECK_COMMAND](this.#prefix + key, `${version}:${head}`))
  }

  // A GET's reply, or the check script's: the same bulk string, or the integer 1 for "unchanged".
  async #read (pending: Promise<unknown>): Promise<StoreEntry | undefined | 'unchanged'> {
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
    // GET and the check script answer a string, nil or 1 (handled above); a guard against a
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
    const staged = stagedKeyOf(redisKey, `:staged:${this.#writer}.${++this.#staged}`)
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
}

function isWrongType (err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('WRONGTYPE')
}
