import type { FragmentAssembler } from './fragment-assembler.js'
import type { MailboxStore } from '../mailbox/mailbox-store.js'
import type { Clock } from '../runtime/clock.js'
import type { Random } from '../runtime/host.js'
import { equalBytes, type Bytes } from '../wire/bytes.js'
import { NODE_ID_BYTES, type NodeId } from '../identity/node-id.js'
import type { LookupNode, LookupResult } from './lookup.js'
import type { MailboxClient } from './mailbox-client.js'
import type { DhtMessage, MessageBody, NodeAddress, NodeInfo } from './messages.js'
import type { ReplayCache } from './replay-cache.js'
import type { RoutingTable } from './routing-table.js'
import type { RequestOptions } from './rpc/rpc-engine.js'
import type { WriteTokens } from './rpc/write-tokens.js'

/** A bucket no lookup touched for this long is refreshed (Kademlia: 1 h; hyperdht ~ 20 min). */
export const BUCKET_REFRESH_MS = 900_000 // 15 min
/** Stored mailboxes are republished to the current k closest this often. */
export const REPUBLISH_INTERVAL_MS = 3_600_000 // 1 h, as Kademlia's republish
/** New contacts remembered for the next handover; more wait for the hourly republish. */
const MAX_PENDING_HANDOVERS = 1000

/** What one {@link Maintenance.maintain} did. */
export interface MaintainResult {
  /** Envelopes expired from the store. */
  expired: number
  /** Stale buckets refreshed by a lookup. */
  refreshed: number
  /** Envelopes handed to nodes that joined closer (when not republishing). */
  handedOver: number
  /** Envelopes republished to their mailboxes' current k closest. */
  republished: number
}

/** What maintenance uses of its node. */
export interface MaintenanceContext {
  readonly client: boolean
  readonly k: number
  readonly clock: Clock
  /** Random IDs in stale buckets. */
  readonly random: Random
  readonly table: RoutingTable
  readonly mailboxStore: MailboxStore
  readonly assembler: FragmentAssembler
  readonly replay: ReplayCache
  readonly tokens: Pick<WriteTokens, 'rotate'>
  readonly metrics: {
    onMailbox?(event: 'expire', count: number, bytes: number): void
  }
  request(to: NodeAddress, body: MessageBody, opts?: RequestOptions): Promise<DhtMessage>
  lookup(target: NodeId): Promise<LookupResult>
}

/**
 * A node's periodic work: expiry of envelopes, partial puts and replay entries, token
 * rotation, refresh of stale buckets, and keeping stored mailboxes on their current k closest
 * nodes (a handover to nodes that joined closer, an hourly republish to all).
 *
 * @example
 * const maintenance = new Maintenance(ctx, mailboxClient)
 * setInterval(() => maintenance.maintain(), 60_000)
 */
export class Maintenance {
  /** Nodes that entered the table since the last handover. */
  private joined: NodeInfo[] = []
  private lastRepublish: number

  constructor(
    private readonly ctx: MaintenanceContext,
    /** Hands stored envelopes on. */
    private readonly mailboxes: Pick<MailboxClient, 'storeOn'>,
  ) {
    this.lastRepublish = ctx.clock.now()
  }

  /** A node entered the table: it gets its stored envelopes at the next handover. */
  noteJoined(node: NodeInfo): void {
    if (this.joined.length < MAX_PENDING_HANDOVERS) this.joined.push(node)
  }

  /**
   * Periodic work on the injected clock: expires envelopes, drops stale partial puts,
   * refreshes buckets no lookup touched for {@link BUCKET_REFRESH_MS}, and republishes
   * stored mailboxes every {@link REPUBLISH_INTERVAL_MS}. Call it every minute or so.
   */
  async maintain(): Promise<MaintainResult> {
    const now = this.ctx.clock.now()
    const expired = await this.ctx.mailboxStore.expire(now)
    if (expired > 0) this.ctx.metrics.onMailbox?.('expire', expired, 0)
    this.ctx.assembler.expire(now)
    this.ctx.replay.prune(now)
    this.ctx.tokens.rotate()
    let refreshed = 0
    if (this.ctx.table.size > 0) {
      // In parallel: each lookup has its own alpha, and requests share the in-flight cap.
      const stale = this.ctx.table.staleBuckets(now, BUCKET_REFRESH_MS)
      await Promise.all(
        stale.map((index) =>
          this.ctx.lookup(this.ctx.table.randomIdInBucket(index, this.ctx.random(NODE_ID_BYTES))),
        ),
      )
      refreshed = stale.length
    }
    let republished = 0
    let handedOver = 0
    if (now - this.lastRepublish >= REPUBLISH_INTERVAL_MS) {
      this.lastRepublish = now
      this.joined = []
      republished = await this.republish()
    } else {
      handedOver = await this.handover()
    }
    return { expired, refreshed, handedOver, republished }
  }

  /**
   * Hands stored envelopes to nodes that entered the table since the last call and are now
   * among the k closest to a stored mailbox (a closer node joined). Returns envelopes sent.
   */
  async handover(): Promise<number> {
    const joined = this.joined
    this.joined = []
    if (joined.length === 0 || this.ctx.client) return 0
    const now = this.ctx.clock.now()
    let sent = 0
    for (const mailboxKey of await this.ctx.mailboxStore.mailboxes(now, 10_000)) {
      const closest = this.ctx.table.closest(mailboxKey, this.ctx.k)
      const newcomers = joined.filter((j) => closest.some((c) => equalBytes(c.id, j.id)))
      if (newcomers.length === 0) continue
      // A write needs the newcomer's token for our address: one find-node round trip.
      const targets: LookupNode[] = []
      await Promise.all(
        newcomers.map(async (n) => {
          try {
            const reply = await this.ctx.request(
              n,
              { type: 'find-node', target: mailboxKey },
              { expectId: n.id },
            )
            if (reply.type === 'nodes') targets.push({ ...n, token: reply.token })
          } catch {
            // Gone already: the hourly republish covers the rest.
          }
        }),
      )
      sent += await this.sendStored(mailboxKey, targets, now)
    }
    return sent
  }

  /**
   * Hands every stored envelope to the current k closest nodes of its mailbox (new nodes
   * that joined closer, or replacements for replicas that left). Returns envelopes sent.
   */
  async republish(): Promise<number> {
    const now = this.ctx.clock.now()
    let sent = 0
    for (const mailboxKey of await this.ctx.mailboxStore.mailboxes(now, 10_000)) {
      const { closest } = await this.ctx.lookup(mailboxKey)
      sent += await this.sendStored(mailboxKey, closest, now)
    }
    return sent
  }

  /** Sends every stored envelope of one mailbox to `targets`; returns envelopes sent. */
  private async sendStored(mailboxKey: Bytes, targets: LookupNode[], now: number): Promise<number> {
    if (targets.length === 0) return 0
    let sent = 0
    let after: Bytes | undefined
    for (let page = 0; page < 1000; page++) {
      const entries = await this.ctx.mailboxStore.list(mailboxKey, now, 256, after)
      for (const e of entries) {
        const env = await this.ctx.mailboxStore.get(mailboxKey, e.id, now)
        if (!env) continue
        const ttlSeconds = Math.floor((env.expiresAt - now) / 1000)
        if (ttlSeconds < 1) continue
        await this.mailboxes.storeOn(targets, mailboxKey, env.id, env.data, ttlSeconds, false)
        sent++
      }
      if (entries.length < 256) break
      after = entries[entries.length - 1]!.id
    }
    return sent
  }
}
