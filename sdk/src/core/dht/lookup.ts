import { RemoteError } from '../errors.js'
import { compareDistance, type NodeId } from '../identity/node-id.js'
import type { Clock } from '../runtime/clock.js'
import type { Timers } from '../runtime/timers.js'
import type { Bytes } from '../wire/bytes.js'
import type { DhtMessage, MessageBody, NodeAddress, NodeInfo } from './messages.js'
import { bytesKey, type RoutingTable } from './routing-table.js'
import type { RequestOptions } from './rpc/rpc-engine.js'

/** Lookup parallelism (Kademlia's alpha). */
export const ALPHA = 3

/** A verified node found by a lookup, with the write token it handed us. */
export interface LookupNode extends NodeInfo {
  token: Bytes
}

export interface LookupResult {
  /** Up to k verified nodes closest to the target, closest first. */
  closest: LookupNode[]
  /** Hops from our table to the closest node found (0: it was in our table). */
  hops: number
  /** Nodes asked. */
  queried: number
}

/** What a lookup uses of its node. */
export interface LookupContext {
  readonly id: NodeId
  readonly k: number
  readonly alpha: number
  readonly table: RoutingTable
  /** Marks the target's bucket refreshed (wall clock, as the table's times). */
  readonly clock: Clock
  /** Times the lookup for the metric. */
  readonly timers: Timers
  readonly stats: { lookups: number }
  readonly metrics: {
    onLookup?(hops: number, ms: number, found: number): void
  }
  request(to: NodeAddress, body: MessageBody, opts?: RequestOptions): Promise<DhtMessage>
  /** Whether `id` failed to answer lately (skipped instead of waited for again). */
  isDead(id: NodeId): boolean
  /** Whether `node` proved its key at this endpoint already (no proof asked again). */
  isVerified(node: NodeInfo): boolean
  /** A node answered with a proof (or proved it before): a candidate for the table. */
  addVerified(node: NodeInfo): void
  isDestroyed(): boolean
}

interface Candidate extends NodeInfo {
  state: 'new' | 'pending' | 'done' | 'failed'
  token: Bytes
  hop: number
}

/** The token of a candidate not asked yet. */
const NO_TOKEN = new Uint8Array(0) as Bytes

/**
 * Iterative Kademlia lookup with `alpha` requests in flight: returns the k nodes closest to
 * `target` that answered and proved their keys. `k` is the node's unless given (a join's
 * refresh of an empty bucket walks with 1).
 *
 * @example
 * const { closest } = await lookup(ctx, mailboxKeyFor(recipientKey))
 */
export async function lookup(
  ctx: LookupContext,
  target: NodeId,
  k: number = ctx.k,
): Promise<LookupResult> {
  const started = ctx.timers.now()
  ctx.stats.lookups++
  // Every candidate, closest first (sorted insertion: one binary search per node learned
  // instead of sorting every candidate again after each answer).
  const sorted: Candidate[] = []
  const seen = new Set<string>([bytesKey(ctx.id)])
  const insert = (c: Candidate) => {
    let lo = 0
    let hi = sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compareDistance(target, sorted[mid]!.id, c.id) < 0) lo = mid + 1
      else hi = mid
    }
    sorted.splice(lo, 0, c)
  }
  for (const c of ctx.table.closest(target, k)) {
    seen.add(bytesKey(c.id))
    // Already in order.
    sorted.push({ id: c.id, host: c.host, port: c.port, state: 'new', token: NO_TOKEN, hop: 0 })
  }
  let queried = 0
  await new Promise<void>((resolve) => {
    // `active`: requests holding one of the alpha slots. A request with no answer after the
    // first timeout gives its slot up (it is resent in the background), so one dead or
    // lossy node does not stall the lookup; the lookup still waits for it at the end when it
    // is one of the k closest.
    let active = 0
    let finished = false
    const step = () => {
      if (finished) return
      let live = 0
      let waiting = false
      for (let i = 0; i < sorted.length && live < k; i++) {
        const c = sorted[i]!
        if (c.state === 'failed') continue
        live++
        if (c.state === 'new' && active < ctx.alpha) launch(c)
        if (c.state === 'pending') waiting = true
      }
      if ((active === 0 && !waiting) || ctx.isDestroyed()) {
        finished = true
        resolve()
      }
    }
    const launch = (c: Candidate) => {
      if (ctx.isDead(c.id)) {
        c.state = 'failed'
        return
      }
      c.state = 'pending'
      active++
      queried++
      let holdsSlot = true
      const onSlow = () => {
        if (!holdsSlot) return
        holdsSlot = false
        active--
        step()
      }
      ctx
        .request(
          c,
          { type: 'find-node', target },
          { expectId: c.id, wantProof: !ctx.isVerified(c), onSlow },
        )
        .then((reply) => {
          if (reply.type !== 'nodes') throw new RemoteError('expected nodes')
          c.state = 'done'
          c.token = reply.token
          if (!reply.client) ctx.addVerified({ id: c.id, host: c.host, port: c.port })
          for (const n of reply.nodes) {
            const key = bytesKey(n.id)
            if (seen.has(key)) continue
            seen.add(key)
            insert({
              id: n.id,
              host: n.host,
              port: n.port,
              state: 'new',
              token: NO_TOKEN,
              hop: c.hop + 1,
            })
          }
        })
        .catch(() => {
          c.state = 'failed'
        })
        .finally(() => {
          if (holdsSlot) active--
          holdsSlot = false
          step()
        })
    }
    step()
  })
  const closest: LookupNode[] = []
  let hops = 0
  for (let i = 0; i < sorted.length && closest.length < k; i++) {
    const c = sorted[i]!
    if (c.state !== 'done') continue
    if (closest.length === 0) hops = c.hop
    closest.push({ id: c.id, host: c.host, port: c.port, token: c.token })
  }
  ctx.table.markRefreshed(target, ctx.clock.now())
  ctx.metrics.onLookup?.(hops, ctx.timers.now() - started, closest.length)
  return { closest, hops, queried }
}

/**
 * Whether a node is itself one of the k replicas of `key`, given a lookup's closest nodes
 * (the lookup never returns the asker). A client never is.
 */
export function selfIsReplica(
  self: { readonly id: NodeId; readonly k: number; readonly client: boolean },
  key: NodeId,
  closest: NodeInfo[],
): boolean {
  if (self.client) return false
  if (closest.length < self.k) return true
  return compareDistance(key, self.id, closest[closest.length - 1]!.id) < 0
}
