import { RateLimitedError, ReplayError } from '../errors.js'

/** Entries kept at most: about 10 MB; beyond it new signed requests are refused, not let through. */
export const MAX_REPLAY_ENTRIES = 200_000

/**
 * Remembers signed-request nonces until their timestamp leaves the skew window, so a
 * captured request cannot be played again. Pure: the caller passes the time.
 *
 * The memory is this process's only: a request signed before the cache was made (`since`,
 * the node's start) may have been seen by the node's earlier run, so it is refused as a
 * replay. After a restart an owner signs again (a fresh signature is newer than the start),
 * and a request captured before it cannot be played again.
 */
export class ReplayCache {
  /** key → time after which it can be forgotten; insertion order ≈ expiry order. */
  private readonly seen = new Map<string, number>()

  constructor(
    private readonly maxEntries = MAX_REPLAY_ENTRIES,
    private readonly since = Number.NEGATIVE_INFINITY,
  ) {}

  /**
   * {@link ReplayCache.check} for a request signed at `signedAt` and good for `windowMs`
   * either side: refused as a replay when signed before this cache was made.
   */
  checkSigned(key: string, signedAt: number, now: number, windowMs: number): void {
    if (signedAt < this.since) {
      throw new ReplayError(
        'signed before this node started (a request of its earlier run cannot be told from a replay); sign it again',
      )
    }
    this.check(key, now, signedAt + windowMs + 1)
  }

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
