// A MemoryStore that records every call, to show which requests touch the store at all.
import { MemoryStore } from '../../lib/stores/memory.js'
import type { StoreEntry } from '../../lib/stores/store.js'

export class CountingStore extends MemoryStore {
  readonly calls: string[] = []
  readonly ttls: number[] = []

  override async get (key: string): Promise<StoreEntry | undefined> {
    this.calls.push('get')
    return super.get(key)
  }

  override async set (key: string, entry: StoreEntry, ttl: number, expectedVersion?: number): Promise<boolean> {
    this.calls.push(entry.version === -1 ? 'end' : 'set')
    this.ttls.push(ttl)
    return super.set(key, entry, ttl, expectedVersion)
  }

  override async delete (key: string): Promise<void> {
    this.calls.push('delete')
    return super.delete(key)
  }

  /** Raw access for tampering tests. */
  async raw (key: string): Promise<StoreEntry | undefined> {
    return super.get(key)
  }

  async put (key: string, entry: StoreEntry): Promise<void> {
    await super.set(key, entry, 3600)
  }
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
