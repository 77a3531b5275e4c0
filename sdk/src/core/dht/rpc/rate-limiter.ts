import type { Clock } from '../../runtime/clock.js'
import { BoundedMap } from '../../util/bounded-map.js'
import { toHex } from '../../wire/bytes.js'
import { parseIpv6 } from '../ip-literal.js'

/**
 * Source IPs tracked at once; the oldest is forgotten (it starts again with a full burst).
 * ~100 B each: about 10 MB at most.
 */
export const RATE_LIMIT_HOSTS = 100_000

/**
 * The limit every node applies unless told otherwise (docs/PROTOCOL.md, "DHT amplification
 * guard"): far above what one honest host sends (a lookup asks a node once or twice, a
 * 64 KiB envelope is 64 puts per replica), far below what a flood sends.
 */
export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 250, burst: 500 }

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

/** The bucket of a source: an IPv4 address, or an IPv6 /64 (one host's usual allocation). */
function sourceKey(host: string): string {
  if (!host.includes(':')) return host
  const v6 = parseIpv6(host)
  return v6 ? `${toHex(v6.subarray(0, 8))}/64` : host
}

/**
 * A token bucket per source IP (an IPv6 /64) for inbound requests: `burst` at once,
 * refilled at `perSecond`. Pure but for the injected clock.
 *
 * @example
 * const limiter = new RateLimiter({ perSecond: 50, burst: 100 }, clock)
 * if (!limiter.allow(from.host)) drop('rate-limited')
 */
export class RateLimiter {
  private readonly buckets: BoundedMap<string, Bucket>

  constructor(
    private readonly limit: RateLimit,
    private readonly clock: Clock,
    maxSources = RATE_LIMIT_HOSTS,
  ) {
    this.buckets = new BoundedMap(maxSources)
  }

  /** Sources tracked now (never more than `maxSources`). */
  get size(): number {
    return this.buckets.size
  }

  /** Whether a request from `host` may be answered now (takes a token if so). */
  allow(host: string): boolean {
    const now = this.clock.now()
    const key = sourceKey(host)
    let b = this.buckets.get(key)
    if (!b) {
      b = { tokens: this.limit.burst, at: now }
      this.buckets.set(key, b)
    }
    // A clock that went back refills nothing.
    const elapsed = Math.max(0, now - b.at)
    b.tokens = Math.min(this.limit.burst, b.tokens + (elapsed / 1000) * this.limit.perSecond)
    b.at = Math.max(b.at, now)
    if (b.tokens < 1) return false
    b.tokens--
    return true
  }
}
