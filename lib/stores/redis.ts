// A store on Redis (standalone, Sentinel or Cluster), through an ioredis client that the app creates,
// configures and closes. Only ioredis' types are imported: the plugin never loads ioredis itself,
// so apps without Redis do not need it installed.
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

// Compare-and-set in one script, so that no other client can write between the read and the write.
// It touches one key only, hence one hash slot, which is what makes it legal on Redis Cluster.
// Anything the script cannot read as one of our entries (another Redis type, a value without a
// version, a tombstone) is a conflict: overwriting it would destroy something we do not own or
// revive an ended session. Returns 1 when it wrote, 0 when it did not.
const CAS_SCRIPT = `
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'string' and kind ~= 'none' then return 0 end
local version = 0
if kind == 'string' then
  -- Only the version prefix (at most 18 characters): the value itself may be kilobytes.
  local digits = string.match(redis.call('GETRANGE', KEYS[1], 0, 20), '^(%-?%d+):')
  if not digits then return 0 end
  version = tonumber(digits)
  if version < -1 or version > 9007199254740991 then return 0 end
end
if version == -1 or version ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
`

// Namespaced, as the method lands on the app's own client object.
const CAS_COMMAND = 'fastifyEncryptedSessionCas'

type CasClient = {
  [CAS_COMMAND]: (key: string, expectedVersion: string, encoded: Buffer, ttl: string) => Promise<number>
}

const KNOWN_OPTIONS = new Set(['client', 'prefix'])

export class RedisStore implements SessionStore {
  readonly #client: Redis | Cluster
  readonly #prefix: string

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
    this.#client = client
    this.#prefix = prefix
    // Idempotent: several stores may share one client, and the script is the same for all.
    client.defineCommand(CAS_COMMAND, { numberOfKeys: 1, lua: CAS_SCRIPT })
  }

  async get (key: string): Promise<StoreEntry | undefined> {
    let raw: string | null
    try {
      raw = await this.#client.get(this.#prefix + key)
    } catch (err) {
      // The key holds a hash, list…: not a session entry, so for the plugin there is none.
      if (isWrongType(err)) return undefined
      throw err
    }
    if (raw === null) return undefined
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
      if (reply !== 'OK') {
        throw new errors.FST_ENCSESS_STORE_UNAVAILABLE(`unexpected reply to SET: ${String(reply)}`)
      }
      return true
    }
    // Negative versions never match (a tombstone stays ended), so there is nothing to ask Redis.
    if (expectedVersion < 0) return false
    const cas = this.#client as unknown as CasClient
    const reply = await cas[CAS_COMMAND](redisKey, String(expectedVersion), encoded, String(ttl))
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
