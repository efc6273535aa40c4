// A MemoryStore that records every call, to show which requests touch the store at all.
import { MemoryStore } from '../../lib/stores/memory.js'
import type { StoreEntry } from '../../lib/stores/store.js'

export class CountingStore extends MemoryStore {
  readonly calls: string[] = []
  readonly ttls: number[] = []
  /** The calls on session entries only: per-user records (userKey, keys "u:…") left out. */
  readonly sessionCalls: string[] = []
  readonly #sessionKeys = new Set<string>()

  override async get (key: string): Promise<StoreEntry | undefined> {
    this.#record(key, 'get')
    return super.get(key)
  }

  override async set (key: string, entry: StoreEntry, ttl: number, expectedVersion?: number): Promise<boolean> {
    this.#record(key, entry.version === -1 ? 'end' : 'set')
    this.ttls.push(ttl)
    const written = await super.set(key, entry, ttl, expectedVersion)
    if (written && !isUserRecord(key)) this.#sessionKeys.add(key)
    return written
  }

  override async delete (key: string): Promise<void> {
    this.#record(key, 'delete')
    this.#sessionKeys.delete(key)
    return super.delete(key)
  }

  /** Session entries (tombstones included) written and not deleted since; per-user records left out. */
  get sessionEntries (): number {
    return this.#sessionKeys.size
  }

  #record (key: string, call: string): void {
    this.calls.push(call)
    if (!isUserRecord(key)) this.sessionCalls.push(call)
  }

  /** Raw access for tampering tests. */
  async raw (key: string): Promise<StoreEntry | undefined> {
    return super.get(key)
  }

  async put (key: string, entry: StoreEntry): Promise<void> {
    await super.set(key, entry, 3600)
  }
}

function isUserRecord (key: string): boolean {
  return key.startsWith('u:')
}

/**
 * A CountingStore with the optional getIfChanged, written the plain way (read the entry, compare),
 * so the plugin's use of it can be tested without Redis; RedisStore's script is held to the same
 * contract in test/helpers/store-contract.ts.
 */
export class CheckingStore extends CountingStore {
  async getIfChanged (key: string, version: number, head: string): Promise<StoreEntry | undefined | 'unchanged'> {
    this.calls.push('check')
    const entry = await this.raw(key)
    if (entry !== undefined && entry.version === version && entry.value.startsWith(head)) return 'unchanged'
    return entry
  }
}
