// Keeps a registration's keys current from a provider: a bounded, retried first load (the plugin
// never starts without keys), periodic and on-change refreshes, and a rate-limited refresh when a
// cookie names a kid this instance does not know yet. A failed refresh keeps the keys in force.
import { EventEmitter } from 'node:events'
import type { FastifyBaseLogger } from 'fastify'
import { errors } from '../errors.js'
import { parseKeySet, type RawKey } from './parse.js'
import type { KeyProvider } from './providers.js'

export interface RefreshOptions {
  /** Seconds between refreshes; 0 for none. */
  interval: number
  /** Least seconds between two refreshes triggered by unknown kids; -1 for none at all. */
  unknownKidInterval: number
  /** Milliseconds one provider call may take. */
  timeout: number
  /** Tries of the first load before register fails. */
  attempts: number
}

export interface RefreshCounters {
  ok: number
  failed: number
  unknownKid: number
}

/** Loads the first key set, retrying with exponential backoff; rejects with a coded error. */
export async function loadInitialKeys (provider: KeyProvider, opts: RefreshOptions, log: FastifyBaseLogger): Promise<RawKey[]> {
  let lastError: unknown
  for (let attempt = 1; attempt <= opts.attempts; attempt++) {
    try {
      return parseKeySet(await withTimeout(provider, opts.timeout))
    } catch (err) {
      lastError = err
      // A malformed key set will not fix itself; only a failing source is worth retrying.
      if ((err as { code?: string }).code?.startsWith('FST_ENCSESS_')) throw err
      log.warn({ attempt, attempts: opts.attempts, err: describe(err) }, 'session keys could not be loaded; retrying')
      if (attempt < opts.attempts) await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** (attempt - 1), 5000)))
    }
  }
  throw new errors.FST_ENCSESS_KEYS_UNAVAILABLE(opts.attempts, describe(lastError))
}

/** Emits 'refreshed' after a key set was applied and 'failed' after a refresh kept the old one. */
export class KeyRefresher extends EventEmitter {
  readonly #provider: KeyProvider
  readonly #opts: RefreshOptions
  readonly #apply: (keys: RawKey[]) => void
  readonly #log: FastifyBaseLogger
  readonly counters: RefreshCounters
  #inFlight: Promise<boolean> | undefined
  #lastUnknownKid = -Infinity
  #timer: NodeJS.Timeout | undefined
  #unwatch: (() => void) | undefined

  constructor (provider: KeyProvider, opts: RefreshOptions, apply: (keys: RawKey[]) => void, log: FastifyBaseLogger, counters: RefreshCounters) {
    super()
    this.counters = counters
    this.#provider = provider
    this.#opts = opts
    this.#apply = apply
    this.#log = log
  }

  start (): void {
    if (this.#opts.interval > 0) {
      this.#timer = setInterval(() => { this.refresh() }, this.#opts.interval * 1000)
      this.#timer.unref()
    }
    this.#unwatch = this.#provider.watch?.(() => { this.refresh() })
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#unwatch?.()
  }

  /** One refresh at a time; callers arriving meanwhile share its outcome. */
  refresh (): Promise<boolean> {
    this.#inFlight ??= this.#run().finally(() => { this.#inFlight = undefined })
    return this.#inFlight
  }

  /**
   * A cookie named a kid we do not have: perhaps another instance got a new key first. Refresh,
   * but at most once per unknownKidInterval, so junk kids cannot hammer the provider.
   */
  async unknownKid (): Promise<void> {
    if (this.#opts.unknownKidInterval < 0) return
    if (this.#inFlight !== undefined) {
      await this.#inFlight
      return
    }
    const now = performance.now()
    if (now - this.#lastUnknownKid < this.#opts.unknownKidInterval * 1000) return
    this.#lastUnknownKid = now
    this.counters.unknownKid++
    await this.refresh()
  }

  async #run (): Promise<boolean> {
    try {
      const keys = parseKeySet(await withTimeout(this.#provider, this.#opts.timeout))
      this.#apply(keys)
      this.counters.ok++
      this.emit('refreshed')
      return true
    } catch (err) {
      this.counters.failed++
      this.#log.warn({ err: describe(err) }, 'session key refresh failed; the keys in force are kept')
      this.emit('failed')
      return false
    }
  }
}

async function withTimeout (provider: KeyProvider, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  const pending = Promise.resolve().then(() => provider())
  pending.catch(() => {})
  try {
    return await Promise.race([pending, new Promise((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the key provider did not answer within ${ms} ms`)), ms)
    })])
  } finally {
    clearTimeout(timer)
  }
}

// Errors from providers may carry anything; log only their class, code and message, which the
// built-in providers keep free of key material.
function describe (err: unknown): string {
  if (err instanceof Error) return `${err.name}${(err as { code?: string }).code ? ` ${(err as { code?: string }).code}` : ''}: ${err.message}`
  return String(err)
}
