import type { Clock } from '../../runtime/clock.js'
import { BoundedMap } from '../../util/bounded-map.js'
import type { DhtMessage, NodeAddress } from '../messages.js'
import type { WriteTokens } from './write-tokens.js'

/** An endpoint that answered one of our requests counts as proven for this long. */
export const PROVEN_FOR_MS = 600_000 // 10 min: outlives the 5 min a peer token is used
/** A return-routability ping goes to one endpoint at most this often. */
export const ADDRESS_CHECK_EVERY_MS = 5_000 // 5 s: one per request burst, not one per request
/** Endpoints remembered as proven, and as checked lately (~100 B each: about 3 MB in all). */
const PROVEN_ENTRIES = 20_000
const CHECKED_ENTRIES = 10_000

/**
 * Whether a request's source endpoint has proven that it receives datagrams there, so that
 * it may be answered with more bytes than it sent (docs/PROTOCOL.md, "DHT amplification
 * guard"): it carries our write token for that endpoint (flag `token`, or a put's body
 * token), or the endpoint answered a request of ours lately. Also paces the
 * return-routability pings sent to endpoints that have not.
 *
 * @example
 * const check = new AddressCheck(clock, tokens)
 * rpc answered from `to`: check.heard(to)
 * if (!check.proven(msg, from) && answer.byteLength > requestBytes) … // cut, or check
 */
export class AddressCheck {
  /** `host|port` → when it last answered a request of ours. */
  private readonly answered = new BoundedMap<string, number>(PROVEN_ENTRIES)
  /** `host|port` → when we last sent it a return-routability ping. */
  private readonly checked = new BoundedMap<string, number>(CHECKED_ENTRIES)

  constructor(
    private readonly clock: Clock,
    private readonly tokens: Pick<WriteTokens, 'endpointKey' | 'valid'>,
  ) {}

  /** `from` answered a request of ours (its answer echoed our random txid). */
  heard(from: NodeAddress): void {
    this.answered.set(this.tokens.endpointKey(from), this.clock.now())
  }

  /** Whether the request `msg` from `from` proves (or `from` proved) its endpoint. */
  proven(msg: DhtMessage, from: NodeAddress): boolean {
    if (msg.addressToken && this.tokens.valid(msg.addressToken, from)) return true
    if (
      (msg.type === 'mailbox-put' ||
        msg.type === 'mailbox-put-many' ||
        msg.type === 'record-put') &&
      this.tokens.valid(msg.token, from)
    ) {
      return true
    }
    const at = this.answered.get(this.tokens.endpointKey(from))
    if (at === undefined) return false
    const age = this.clock.now() - at
    return age >= 0 && age < PROVEN_FOR_MS
  }

  /** Whether a return-routability ping to `to` is due (marks it sent when so). */
  checkDue(to: NodeAddress): boolean {
    const key = this.tokens.endpointKey(to)
    const now = this.clock.now()
    const last = this.checked.get(key)
    if (last !== undefined && now - last >= 0 && now - last < ADDRESS_CHECK_EVERY_MS) return false
    this.checked.set(key, now)
    return true
  }
}
