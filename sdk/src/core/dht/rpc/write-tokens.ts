import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { BadTokenError } from '../../errors.js'
import type { Clock } from '../../runtime/clock.js'
import type { Random } from '../../runtime/host.js'
import { BoundedMap } from '../../util/bounded-map.js'
import { concatBytes, equalBytes, utf8, type Bytes } from '../../wire/bytes.js'
import type { NodeAddress } from '../messages.js'

/** Write-token secrets rotate this often; the previous one stays valid (BitTorrent: 5 min). */
export const TOKEN_ROTATE_MS = 300_000 // 5 min
/** Bytes of a write token: a truncated HMAC, unguessable without the secret. */
const TOKEN_BYTES = 16
const SECRET_BYTES = 32
/** Tokens under the current secret remembered, by endpoint (one HMAC per endpoint and rotation). */
const TOKEN_CACHE_ENTRIES = 10_000
/** Endpoints whose key string is remembered, per host, and hosts in all. */
const ENDPOINT_KEY_ENTRIES = 4096

const TOKEN_DOMAIN = utf8('passage/dht/token/v1\0')

/**
 * The write tokens a node hands out in pongs and nodes replies and checks on puts: an HMAC of
 * the requester's endpoint under a secret that rotates every {@link TOKEN_ROTATE_MS} (the
 * previous secret stays valid), so only a node that can receive at an address may write from
 * it. Also makes each endpoint's `host|port` key string once, for the node's other maps.
 *
 * @example
 * const tokens = new WriteTokens(clock, systemRandom)
 * const token = tokens.tokenFor(from) // in a pong
 * tokens.check(msg.token, from) // on a put: throws BadTokenError
 */
export class WriteTokens {
  private readonly endpointKeys = new BoundedMap<string, BoundedMap<number, string>>(
    ENDPOINT_KEY_ENTRIES,
  )
  /** `host|port` → token under the current secret. */
  private readonly tokens = new BoundedMap<string, Bytes>(TOKEN_CACHE_ENTRIES)
  private secret: Bytes
  private previousSecret: Bytes
  private secretAt: number

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
  ) {
    this.secret = random(SECRET_BYTES)
    this.previousSecret = random(SECRET_BYTES)
    this.secretAt = clock.now()
  }

  /** The `host|port` string of an endpoint, made once per endpoint (a map key, no allocation). */
  endpointKey(a: NodeAddress): string {
    let ports = this.endpointKeys.get(a.host)
    if (!ports) {
      ports = new BoundedMap(ENDPOINT_KEY_ENTRIES)
      this.endpointKeys.set(a.host, ports)
    }
    let key = ports.get(a.port)
    if (key === undefined) {
      key = `${a.host}|${a.port}`
      ports.set(a.port, key)
    }
    return key
  }

  /** The token for `from` under the current secret. */
  tokenFor(from: NodeAddress): Bytes {
    const secret = this.currentSecret()
    const key = this.endpointKey(from)
    const cached = this.tokens.get(key)
    if (cached) return cached
    const token = this.compute(key, secret)
    this.tokens.set(key, token)
    return token
  }

  /** Throws {@link BadTokenError} unless `token` is ours for `from` (current or previous secret). */
  check(token: Uint8Array, from: NodeAddress): void {
    if (!this.valid(token, from)) throw new BadTokenError()
  }

  /** Whether `token` is ours for `from` (current or previous secret). */
  valid(token: Uint8Array, from: NodeAddress): boolean {
    if (equalBytes(token, this.tokenFor(from))) return true
    return equalBytes(token, this.compute(this.endpointKey(from), this.previousSecret))
  }

  /** Rotates the secret when due (tokens are checked on use too; maintenance calls this). */
  rotate(): void {
    this.currentSecret()
  }

  private compute(endpointKey: string, secret: Bytes): Bytes {
    return hmac(sha256, secret, concatBytes(TOKEN_DOMAIN, utf8(endpointKey))).slice(
      0,
      TOKEN_BYTES,
    ) as Bytes
  }

  private currentSecret(): Bytes {
    const now = this.clock.now()
    if (now - this.secretAt >= TOKEN_ROTATE_MS) {
      // Two rotations passed: both old secrets are stale.
      this.previousSecret =
        now - this.secretAt >= 2 * TOKEN_ROTATE_MS ? this.random(SECRET_BYTES) : this.secret
      this.secret = this.random(SECRET_BYTES)
      this.secretAt = now
      this.tokens.clear()
    }
    return this.secret
  }
}
