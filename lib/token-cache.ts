// The bounded memory of what was already authenticated: tokens (loader.ts) and offloaded values
// (storage.ts). Two generations of plain Maps instead of an exact LRU: a profile of /rw (a new
// token every request) had lru-cache's bookkeeping at 9 % of the server's CPU, more than AES-GCM
// itself. Here a lookup is one or two Map gets and an insert is one Map set; when the young
// generation is full it becomes the old one and the previous old one is dropped whole. An entry
// used within the last generation is kept (it moves back to the young one when found in the old),
// so entries in steady use stay and forgotten ones age out.

export class TokenCache<V, K = string> {
  #young = new Map<K, V>()
  #old = new Map<K, V>()
  #youngBytes = 0
  // Per generation: the two together never exceed the configured bounds.
  readonly #maxEntries: number
  readonly #maxBytes: number
  readonly #sizeOf: (key: K, value: V) => number

  /** `maxEntries` and `maxBytes` bound both generations together; `sizeOf` estimates an entry's bytes. */
  constructor (maxEntries: number, maxBytes: number, sizeOf: (key: K, value: V) => number) {
    this.#maxEntries = Math.max(1, Math.floor(maxEntries / 2))
    this.#maxBytes = Math.max(1, Math.floor(maxBytes / 2))
    this.#sizeOf = sizeOf
  }

  get size (): number {
    return this.#young.size + this.#old.size
  }

  get (key: K): V | undefined {
    const young = this.#young.get(key)
    if (young !== undefined) return young
    const old = this.#old.get(key)
    if (old === undefined) return undefined
    this.#old.delete(key)
    this.#add(key, old)
    return old
  }

  set (key: K, value: V): void {
    this.delete(key)
    this.#add(key, value)
  }

  delete (key: K): void {
    const young = this.#young.get(key)
    if (young !== undefined) {
      this.#young.delete(key)
      this.#youngBytes -= this.#sizeOf(key, young)
    } else {
      this.#old.delete(key)
    }
  }

  clear (): void {
    this.#young = new Map()
    this.#old = new Map()
    this.#youngBytes = 0
  }

  #add (key: K, value: V): void {
    const size = this.#sizeOf(key, value)
    // An entry larger than a whole generation would only push everything else out.
    if (size > this.#maxBytes) return
    if (this.#young.size >= this.#maxEntries || this.#youngBytes + size > this.#maxBytes) {
      this.#old = this.#young
      this.#young = new Map()
      this.#youngBytes = 0
    }
    this.#young.set(key, value)
    this.#youngBytes += size
  }
}
