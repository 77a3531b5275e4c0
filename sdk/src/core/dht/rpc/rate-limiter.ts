import type { Clock } from '../../runtime/clock.js'
import { BoundedMap } from '../../util/bounded-map.js'

/**
 * Source IPs tracked at once; the oldest is forgotten (it starts again with a full burst).
 * ~100 B each: about 10 MB at most.
 */
export const RATE_LIMIT_HOSTS = 100_000

/** Inbound requests allowed per source IP. */
export interface RateLimit {
  /** Sustained requests per second. */
  perSecond: number
  /** Requests allowed at once after a quiet spell. */
  burst: number
}

interface Bucket {
  tokens: number
  /** Clock time of the last refill. */
  at: number
}

/**
 * A token bucket per source IP for inbound requests: `burst` at once, refilled at
 * `perSecond`. Pure but for the injected clock.
 *
 * @example
 * const limiter = new RateLimiter({ perSecond: 50, burst: 100 }, clock)
 * if (!limiter.allow(from.host)) drop('rate-limited')
 */
export class RateLimiter {
  private readonly buckets = new BoundedMap<string, Bucket>(RATE_LIMIT_HOSTS)

  constructor(
    private readonly limit: RateLimit,
    private readonly clock: Clock,
  ) {}

  /** Whether a request from `host` may be answered now (takes a token if so). */
  allow(host: string): boolean {
    const now = this.clock.now()
    let b = this.buckets.get(host)
    if (!b) {
      b = { tokens: this.limit.burst, at: now }
      this.buckets.set(host, b)
    }
    b.tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.perSecond)
    b.at = now
    if (b.tokens < 1) return false
    b.tokens--
    return true
  }
}
