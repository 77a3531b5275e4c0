import { NODE_ID_BYTES, type NodeId } from '../identity/node-id.js'
import type { Random } from '../runtime/host.js'
import { lookup, type LookupContext, type LookupResult } from './lookup.js'

/**
 * Width of the lookup that refreshes an empty far bucket at a join: 1 is a greedy walk
 * towards a random ID in the bucket, and the first node in range that answers fills it (one
 * contact routes there). A full lookup (k = 20) per bucket doubled a testnet node's heap:
 * every peer asked costs a few caches' entries.
 */
export const JOIN_REFRESH_WIDTH = 1

/** What a join uses of its node. */
export interface JoinContext extends LookupContext {
  /** A client is never added to tables: it only looks itself up. */
  readonly client: boolean
  /** Random IDs in empty buckets. */
  readonly random: Random
  lookup(target: NodeId): Promise<LookupResult>
}

/**
 * Kademlia's join, once the table holds a verified contact: looks up our own ID, then tells
 * the k closest nodes it found that we exist and refreshes the empty buckets farther than
 * our closest contact (docs/PROTOCOL.md, "Joining").
 *
 * Telling them is a ping carrying the token each one just gave us. A request without a
 * token is unproven (the amplification guard), and an unproven request never adds its
 * sender to a table; the lookup asks each node once, with no token yet, so without these
 * pings a newcomer entered no table but its bootstrap node's (issue 15: 15% of 1,000
 * testnet nodes were in none, and no lookup could find them). The refresh fills the far
 * buckets the lookup of our own ID never reached: a node with an empty bucket answers
 * lookups towards that range with its own region (maintenance refreshes it within a
 * minute; until then, lookups that asked only such nodes missed the k closest).
 *
 * @example
 * if (table.size > 0) await join(ctx)
 */
export async function join(ctx: JoinContext): Promise<void> {
  const { closest } = await ctx.lookup(ctx.id)
  if (ctx.client) return
  const nearest = ctx.table.closest(ctx.id, 1)[0]
  const empty: number[] = []
  if (nearest) {
    const nearestBucket = ctx.table.bucketIndex(nearest.id)
    for (let i = 0; i < nearestBucket; i++) if (ctx.table.bucket(i).length === 0) empty.push(i)
  }
  // Together: each lookup has its own alpha, and requests share the in-flight cap. A ping
  // gets one resend: the node just answered us, and the join waits for the slowest.
  await Promise.all([
    ...closest.map((c) =>
      ctx.request(c, { type: 'ping' }, { expectId: c.id, retries: 1 }).catch(() => undefined),
    ),
    ...empty.map((i) =>
      lookup(ctx, ctx.table.randomIdInBucket(i, ctx.random(NODE_ID_BYTES)), JOIN_REFRESH_WIDTH),
    ),
  ])
}
