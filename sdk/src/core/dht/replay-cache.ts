import { RateLimitedError, ReplayError } from '../errors.js'

/** Entries kept at most: about 10 MB; beyond it new signed requests are refused, not let through. */
export const MAX_REPLAY_ENTRIES = 200_000

/**
 * Remembers signed-request nonces until their timestamp leaves the skew window, so a
 * captured request cannot be played again. Pure: the caller passes the time.
 */
export class ReplayCache {
  /** key → time after which it can be forgotten; insertion order ≈ expiry order. */
  private readonly seen = new Map<string, number>()

  constructor(private readonly maxEntries = MAX_REPLAY_ENTRIES) {}

  /** Throws {@link ReplayError} if `key` was seen; else remembers it until `forgetAt`. */
  check(key: string, now: number, forgetAt: number): void {
    if (this.seen.size >= this.maxEntries) this.prune(now)
    if (this.seen.has(key)) throw new ReplayError('this signed request was seen before')
    if (this.seen.size >= this.maxEntries) throw new RateLimitedError('replay cache full')
    this.seen.set(key, forgetAt)
  }

  prune(now: number): void {
    for (const [key, at] of this.seen) if (at <= now) this.seen.delete(key)
  }

  get size(): number {
    return this.seen.size
  }
}
