import type { NodeId } from '../identity/node-id.js'
import type { Clock } from '../runtime/clock.js'
import { BoundedMap } from '../util/bounded-map.js'
import { equalBytes } from '../wire/bytes.js'
import type { DhtMessage, MessageBody, NodeAddress, NodeInfo } from './messages.js'
import { bytesKey, type RoutingTable } from './routing-table.js'
import type { RequestOptions } from './rpc/rpc-engine.js'
import type { WriteTokens } from './rpc/write-tokens.js'

/** A node that failed to answer this many requests in a row leaves the table. */
export const MAX_FAILURES = 2
/** Unknown senders are pinged back at most once per this window (verification ping). */
export const VERIFY_RETRY_MS = 60_000
/**
 * A full bucket's oldest contact seen this recently is kept without a ping: long-lived nodes
 * are preferred, and a newcomer waits as a replacement (promoted when the oldest fails).
 */
export const PING_OLDEST_AFTER_MS = 60_000 // 1 min
/** A node whose request timed out is skipped by lookups for this long. */
export const DEAD_FOR_MS = 60_000 // 1 min
/** Entries of each of the keeper's maps (verified endpoints, failures, dead, pings): ~1 MB in all. */
const CACHE_ENTRIES = 10_000
/** Ceiling on verification pings in flight at once (protects against request floods). */
const MAX_VERIFY_IN_FLIGHT = 64

/** What the keeper uses of its node. */
export interface TableKeeperContext {
  readonly id: NodeId
  /** A client keeps no one from its requesters (it only learns from lookups and pings). */
  readonly client: boolean
  readonly clock: Clock
  readonly table: RoutingTable
  /** The `host|port` key of an endpoint. */
  readonly tokens: Pick<WriteTokens, 'endpointKey'>
  request(to: NodeAddress, body: MessageBody, opts?: RequestOptions): Promise<DhtMessage>
  /** A node entered the table (maintenance hands it stored envelopes). */
  onJoined(node: NodeInfo): void
  isDestroyed(): boolean
}

/**
 * Keeps a node's routing table honest: a node enters only once it proved its key from its
 * endpoint, a full bucket's oldest contact is pinged before a newcomer may replace it, and a
 * node that stops answering leaves (and lookups skip it for a while).
 *
 * @example
 * const keeper = new TableKeeper(ctx)
 * keeper.learn(senderId, from) // after answering a non-client's request
 * keeper.addVerified({ id, host, port }) // it answered a request that asked for a proof
 */
export class TableKeeper {
  /** ID key → `host|port` where it last proved its key (the table may have no room for it). */
  private readonly verified = new BoundedMap<string, string>(CACHE_ENTRIES)
  /** ID key → requests in a row it failed to answer. */
  private readonly failures = new BoundedMap<string, number>(CACHE_ENTRIES)
  /** ID key → when a request to it last timed out. */
  private readonly dead = new BoundedMap<string, number>(CACHE_ENTRIES)
  /** ID key → when we last pinged it to verify its key. */
  private readonly verifying = new BoundedMap<string, number>(CACHE_ENTRIES)
  /** ID keys of bucket heads being pinged before a newcomer may replace them. */
  private readonly evicting = new Set<string>()
  private verifyInFlight = 0

  constructor(private readonly ctx: TableKeeperContext) {}

  /**
   * A non-client node talked to us: refresh it, or verify it with a ping of our own, but only
   * when it could enter the table. A full bucket keeps its contacts (Kademlia prefers
   * long-lived nodes): its oldest contact, when not seen lately, gets a plain ping (no proof,
   * it proved its key already) and leaves if it does not answer; the newcomer is verified the
   * next time it talks to us and finds room. Proofs cost a signature on each side, so asking
   * every unknown requester for one was a third of a lookup's CPU.
   */
  learn(id: NodeId, from: NodeAddress): void {
    const ctx = this.ctx
    if (ctx.client) return
    const now = ctx.clock.now()
    const known = ctx.table.get(id)
    if (known && known.host === from.host && known.port === from.port) {
      ctx.table.touch(id, now)
      return
    }
    const key = bytesKey(id)
    if (!known) {
      const oldest = ctx.table.oldestIfFull(id)
      if (oldest) {
        if (now - oldest.lastSeen >= PING_OLDEST_AFTER_MS) this.checkOldest(oldest)
        return
      }
      if (this.verified.get(key) === ctx.tokens.endpointKey(from)) {
        return this.addVerified({ id, ...from })
      }
    }
    const last = this.verifying.get(key)
    if (last !== undefined && now - last < VERIFY_RETRY_MS) return
    if (this.verifyInFlight >= MAX_VERIFY_IN_FLIGHT) return
    this.verifying.set(key, now)
    this.verifyInFlight++
    ctx
      .request(from, { type: 'ping' }, { expectId: id, wantProof: true, retries: 1 })
      .then((pong) => {
        if (!pong.client) this.addVerified({ id, ...from })
      })
      .catch(() => {})
      .finally(() => this.verifyInFlight--)
  }

  /** Adds a node that just proved its key; pings the oldest of a full bucket before evicting. */
  addVerified(node: NodeInfo): void {
    if (this.ctx.isDestroyed() || equalBytes(node.id, this.ctx.id)) return
    const key = bytesKey(node.id)
    this.failures.delete(key)
    this.verified.set(key, this.ctx.tokens.endpointKey(node))
    const now = this.ctx.clock.now()
    const r = this.ctx.table.add(node, now)
    if (r.status === 'added') this.ctx.onJoined(node)
    if (r.status !== 'full') return
    if (now - r.oldest.lastSeen < PING_OLDEST_AFTER_MS) return
    this.checkOldest(r.oldest)
  }

  /** Whether `node` proved its key at this endpoint (no need to ask it for a proof again). */
  isVerified(node: NodeInfo): boolean {
    return this.verified.get(bytesKey(node.id)) === this.ctx.tokens.endpointKey(node)
  }

  /** Whether `id` failed to answer lately (lookups skip it instead of waiting again). */
  isDead(id: NodeId): boolean {
    const at = this.dead.get(bytesKey(id))
    return at !== undefined && this.ctx.clock.now() - at < DEAD_FOR_MS
  }

  /** `id` answered a request: its failures are forgotten. */
  answered(id: NodeId): void {
    const key = bytesKey(id)
    this.failures.delete(key)
    this.dead.delete(key)
  }

  /** A full-effort request to `id` timed out: after {@link MAX_FAILURES} in a row it leaves. */
  failed(id: NodeId): void {
    const key = bytesKey(id)
    const now = this.ctx.clock.now()
    this.dead.set(key, now)
    const n = (this.failures.get(key) ?? 0) + 1
    if (n >= MAX_FAILURES) {
      this.failures.delete(key)
      this.verified.delete(key)
      this.ctx.table.remove(id, now)
    } else this.failures.set(key, n)
  }

  /** Pings a bucket's oldest contact (no proof: it proved its key); it leaves if it is gone. */
  private checkOldest(oldest: NodeInfo): void {
    const oldKey = bytesKey(oldest.id)
    if (this.evicting.has(oldKey)) return
    this.evicting.add(oldKey)
    this.ctx
      .request(oldest, { type: 'ping' }, { expectId: oldest.id, wantProof: false })
      .then(() => this.ctx.table.touch(oldest.id, this.ctx.clock.now()))
      .catch(() => this.ctx.table.remove(oldest.id, this.ctx.clock.now()))
      .finally(() => this.evicting.delete(oldKey))
  }
}
