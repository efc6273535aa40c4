// How a RedisStore hears about changes to per-user records made on other instances: a channel on
// a subscriber connection the app passes, and a PING on that same connection every few hundred
// milliseconds. Redis answers a connection's commands in order and writes a published message to
// every subscriber before it runs their next command, so a PONG proves that every message
// published before its PING was sent has been delivered. `live` is true only while such a proof
// is at most STORE_WATCH_BOUND_MS old: that is the bound on how long an ended session can still be
// accepted from a cache.
import type { RedisSubscriberLike } from '../../types/index.js'
import type { StoreWatch } from './store.js'

/** Longest time a change announced by one instance can go unseen by another whose watch is live. */
export const STORE_WATCH_BOUND_MS = 1000
const PING_EVERY_MS = 200

type Listener = (key: string | undefined) => void

export class RedisWatch {
  readonly #subscriber: RedisSubscriberLike | undefined
  readonly #channel: string
  readonly #listeners = new Set<Listener>()
  #subscribed = false
  // The clock's time when the newest answered SUBSCRIBE or PING was sent.
  #confirmedAt = -Infinity
  #pingSentAt: number | undefined
  #timer: NodeJS.Timeout | undefined
  readonly #now: () => number

  /** `now`: a clock in milliseconds, for tests; performance.now() by default. */
  constructor (subscriber: RedisSubscriberLike | undefined, channel: string, now: () => number = () => performance.now()) {
    this.#subscriber = subscriber
    this.#channel = channel
    this.#now = now
  }

  get live (): boolean {
    return this.#subscribed && this.#now() - this.#confirmedAt <= STORE_WATCH_BOUND_MS
  }

  add (listener: Listener): StoreWatch {
    this.#listeners.add(listener)
    if (this.#listeners.size === 1) this.#start()
    const watch = this
    return {
      get live () { return watch.live },
      close: () => {
        if (this.#listeners.delete(listener) && this.#listeners.size === 0) this.#stop()
      }
    }
  }

  #start (): void {
    const sub = this.#subscriber
    if (sub === undefined) return
    sub.on('message', this.#onMessage)
    sub.on('close', this.#onClose)
    sub.on('ready', this.#onReady)
    this.#subscribe(sub)
    this.#timer = setInterval(() => this.#ping(sub), PING_EVERY_MS).unref()
  }

  #stop (): void {
    const sub = this.#subscriber
    if (sub === undefined) return
    clearInterval(this.#timer)
    sub.off('message', this.#onMessage)
    sub.off('close', this.#onClose)
    sub.off('ready', this.#onReady)
    this.#subscribed = false
    sub.unsubscribe(this.#channel).catch(() => {})
  }

  #subscribe (sub: RedisSubscriberLike): void {
    const sentAt = this.#now()
    sub.subscribe(this.#channel).then(() => {
      // Whatever was published while not subscribed is lost: everything cached is suspect.
      this.#forgetAll()
      this.#subscribed = true
      this.#confirmedAt = sentAt
    }, () => {})
  }

  // After a reconnect (ioredis may resubscribe by itself; subscribing again is harmless).
  readonly #onReady = (): void => {
    this.#subscribe(this.#subscriber!)
  }

  readonly #onClose = (): void => {
    this.#subscribed = false
    this.#pingSentAt = undefined
    this.#forgetAll()
  }

  readonly #onMessage = (channel: string, message: string): void => {
    if (channel !== this.#channel) return
    for (const listener of this.#listeners) listener(message)
  }

  #ping (sub: RedisSubscriberLike): void {
    if (!this.#subscribed || this.#pingSentAt !== undefined) return
    const sentAt = this.#now()
    this.#pingSentAt = sentAt
    // A reply can only come on the connection the PING went out on: a late one (from before a
    // reconnect) still proves what it proves, and never moves the proof back in time.
    const settle = (ok: boolean): void => {
      this.#pingSentAt = undefined
      if (ok) this.#confirmedAt = Math.max(this.#confirmedAt, sentAt)
    }
    sub.ping().then(() => settle(true), () => settle(false))
  }

  #forgetAll (): void {
    for (const listener of this.#listeners) listener(undefined)
  }
}
