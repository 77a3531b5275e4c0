import type { Clock } from '../../runtime/clock.js'
import { BoundedMap } from '../../util/bounded-map.js'
import type { Bytes } from '../../wire/bytes.js'
import type { NodeAddress } from '../messages.js'
import { TOKEN_ROTATE_MS } from './write-tokens.js'

/**
 * A token a peer gave us is sent back while younger than this: a token stays valid for at
 * least one rotation of its secret (the previous secret is accepted too).
 */
export const PEER_TOKEN_FRESH_MS = TOKEN_ROTATE_MS // 5 min
/** Peers whose token we keep (~150 B each: about 1.5 MB at most). */
const PEER_TOKEN_ENTRIES = 10_000

/**
 * The write tokens peers handed us (in `pong` and `nodes`) for our address, by their
 * endpoint: a request carries the responder's token (flag `token`) to prove our address, so
 * it may be answered in full without padding (docs/PROTOCOL.md, "DHT amplification guard").
 *
 * @example
 * const peers = new PeerTokens(clock, (a) => `${a.host}|${a.port}`)
 * peers.set(from, pong.token)
 * const token = peers.fresh(to) // undefined: pad the request instead
 */
export class PeerTokens {
  private readonly tokens = new BoundedMap<string, { token: Bytes; at: number }>(PEER_TOKEN_ENTRIES)

  constructor(
    private readonly clock: Clock,
    private readonly endpointKey: (a: NodeAddress) => string,
  ) {}

  /** `from` gave us `token` (an empty one is ignored). */
  set(from: NodeAddress, token: Bytes): void {
    if (token.byteLength === 0) return
    this.tokens.set(this.endpointKey(from), { token, at: this.clock.now() })
  }

  /** The token `to` gave us, when younger than {@link PEER_TOKEN_FRESH_MS}. */
  fresh(to: NodeAddress): Bytes | undefined {
    const entry = this.tokens.get(this.endpointKey(to))
    if (!entry) return undefined
    const age = this.clock.now() - entry.at
    return age >= 0 && age < PEER_TOKEN_FRESH_MS ? entry.token : undefined
  }
}
