import type { NodeAddress } from '../dht/messages.js'
import type { PeerAddress } from '../records/announce.js'
import { createAddressRecord, type DialAddress } from '../records/address-record.js'
import type { ClientContext } from './context.js'

/** Bundles are republished this often (and after a first message used a one-time key). */
const REPUBLISH_BUNDLE_MS = 3_600_000 // 1 h, as the DHT's record republish
/** Announces to super-nodes are renewed this often. */
const ANNOUNCE_EVERY_MS = 240_000 // 4 min: inside the super-node's announce TTL
/** Known DHT nodes kept in the home. */
const MAX_KNOWN_DHT_NODES = 64

/**
 * Being findable: joining the DHT (through the super-nodes, the configured nodes and the ones
 * remembered from last time), announcing this client's link address to the super-nodes, and
 * publishing its pre-key bundle.
 */
export class Presence {
  private lastAnnounceAt = 0
  private lastAddressAt = 0
  private lastPublishAt = 0
  private bundleStale = true

  constructor(private readonly ctx: ClientContext) {}

  /** The published bundle may hold used one-time keys: publish a fresh one soon. */
  markBundleStale(): void {
    this.bundleStale = true
  }

  get needsPublish(): boolean {
    return this.bundleStale
  }

  /** Joins the DHT when the client knows no node yet. */
  async joinDht(): Promise<void> {
    const { ctx } = this
    const dht = ctx.network.dht
    if (!dht || dht.table.size > 0) return
    const peers = new Map<string, NodeAddress>()
    const add = (a: NodeAddress) => peers.set(`${a.host}:${a.port}`, a)
    for (const a of ctx.options.dhtBootstrap ?? []) add(a)
    for (const a of await ctx.superNodes.dhtEndpoints()) add(a)
    for (const a of await ctx.repository.knownDhtNodes(MAX_KNOWN_DHT_NODES)) add(a)
    if (peers.size === 0) return
    await dht.bootstrap([...peers.values()])
    const nodes = dht.contacts().slice(0, MAX_KNOWN_DHT_NODES)
    if (nodes.length > 0) {
      const now = ctx.clock.now()
      await ctx.repository.transaction((w) => w.rememberDhtNodes(nodes, now))
    }
    ctx.events.statusChanged()
  }

  /** Announces the link listener's address to every super-node, every few minutes. */
  async announce(): Promise<void> {
    const { ctx } = this
    if (ctx.superNodes.size === 0) return
    const now = ctx.clock.now()
    if (now - this.lastAnnounceAt < ANNOUNCE_EVERY_MS && this.lastAnnounceAt !== 0) return
    const addresses: PeerAddress[] = []
    const tcp = ctx.network.listener?.address()
    // A listener on every interface is announced with an empty host: "the address you see
    // me at" (the super-node fills in the one it observed), never the wildcard itself.
    if (tcp) {
      const wildcard = tcp.host === '0.0.0.0' || tcp.host === '::'
      addresses.push({ transport: 'tcp', host: wildcard ? '' : tcp.host, port: tcp.port })
    }
    await ctx.superNodes.announce(addresses, ctx.clock)
    this.lastAnnounceAt = now
    ctx.events.statusChanged()
  }

  /**
   * Publishes this client's address record (type 4) in the DHT every few minutes: where it can
   * be dialed (its listener at the addresses the super-nodes observed, or its own when not a
   * wildcard or loopback) and the relays it is registered at, so contacts find it without any
   * one super-node.
   */
  async publishAddresses(): Promise<void> {
    const { ctx } = this
    const dht = ctx.network.dht
    if (!dht || !ctx.network.dhtJoined) return
    const now = ctx.clock.now()
    if (now - this.lastAddressAt < ANNOUNCE_EVERY_MS && this.lastAddressAt !== 0) return
    const addresses = this.dialAddresses()
    if (addresses.length === 0) return
    const record = createAddressRecord(ctx.identity, { addresses, seq: now, timestamp: now })
    const { stored } = await dht.putRecord(record)
    if (stored > 0) this.lastAddressAt = now
  }

  /** Where this client can be dialed now, best first, at most 8 (see {@link publishAddresses}). */
  dialAddresses(): DialAddress[] {
    const { ctx } = this
    const out: DialAddress[] = []
    const tcp = ctx.network.listener?.address()
    // As in announces: a wildcard listener at the addresses the super-nodes saw, else its own.
    if (tcp) {
      if (tcp.host === '0.0.0.0' || tcp.host === '::') {
        for (const seen of ctx.superNodes.observed) {
          out.push({ transport: 'tcp', host: seen.host, port: tcp.port })
        }
      } else out.push({ transport: 'tcp', host: tcp.host, port: tcp.port })
    }
    for (const relay of ctx.network.relays.values()) {
      if (relay.registered) out.push({ transport: 'relay', ...relay.address })
    }
    const seen = new Set<string>()
    return out
      .filter((a) => {
        const key = `${a.transport}|${a.host}|${a.port}`
        if (seen.has(key)) return false
        seen.add(key)
        return true
      })
      .slice(0, 8)
  }

  /** Publishes a fresh pre-key bundle when it is stale or an hour old. */
  async publishBundle(): Promise<void> {
    const { ctx } = this
    const directory = ctx.network.directory
    if (!directory || !ctx.network.dhtJoined || ctx.account.deviceId === 0) return
    const now = ctx.clock.now()
    if (!this.bundleStale && now - this.lastPublishAt < REPUBLISH_BUNDLE_MS) return
    const stored = await directory.publish(ctx.session)
    if (stored > 0) {
      this.bundleStale = false
      this.lastPublishAt = now
    }
  }
}
