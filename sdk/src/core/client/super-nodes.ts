import {
  BootstrapClient,
  type BootstrapPeer,
  type ObservedAddress,
} from '../bootstrap/bootstrap-client.js'
import type { NodeAddress } from '../dht/messages.js'
import type { Identity } from '../identity/identity.js'
import type { PeerAddress } from '../records/announce.js'
import type { Clock } from '../runtime/clock.js'
import type { AbortSignalLike, Fetch } from '../runtime/host.js'
import type { SuperNodeStatus } from './types.js'

/** A super-node's relay: where it listens, and its ID (the super-node's) that it proves. */
export interface RelayEndpoint {
  host: string
  port: number
  relayId: Uint8Array
}

/** The super-nodes a client uses: their bootstrap clients and what the client knows of each. */
export class SuperNodes {
  private readonly nodes: Array<{ client: BootstrapClient; status: SuperNodeStatus }>
  /** The addresses the super-nodes saw this client's last announces come from (its public side). */
  observed: ObservedAddress[] = []

  constructor(
    urls: string[],
    options: { identity: Identity; clock: Clock; fetch?: Fetch | undefined },
  ) {
    this.nodes = urls.map((url) => ({
      client: new BootstrapClient({
        url,
        identity: options.identity,
        clock: options.clock,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      }),
      status: { url, reachable: false },
    }))
  }

  get size(): number {
    return this.nodes.length
  }

  /** A copy of every super-node's status. */
  statuses(): SuperNodeStatus[] {
    return this.nodes.map((s) => ({ ...s.status }))
  }

  /** The DHT endpoints the super-nodes publish (`/v1/info`); unreachable ones are marked so. */
  async dhtEndpoints(): Promise<NodeAddress[]> {
    const out: NodeAddress[] = []
    for (const s of this.nodes) {
      try {
        const info = await s.client.info()
        if (info.dht) out.push(info.dht)
        s.status = { ...s.status, reachable: true }
      } catch (error) {
        s.status = { url: s.status.url, reachable: false, error: String(error) }
      }
    }
    return out
  }

  /** Fetches `/v1/info` of the super-nodes not asked yet (their relays are known after). */
  async learnInfo(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (s) => {
        if (s.client.cachedInfo) return
        try {
          await s.client.info()
          s.status = { ...s.status, reachable: true }
        } catch (error) {
          s.status = { url: s.status.url, reachable: false, error: String(error) }
        }
      }),
    )
  }

  /** The relays of the super-nodes that run one (as their last `/v1/info` said), with their IDs. */
  relays(): Array<RelayEndpoint & { url: string }> {
    const out: Array<RelayEndpoint & { url: string }> = []
    for (const s of this.nodes) {
      const info = s.client.cachedInfo
      if (info?.relay) out.push({ url: s.status.url, ...info.relay, relayId: info.id })
    }
    return out
  }

  /** Announces `addresses` to every super-node at once; records who took it. */
  async announce(addresses: PeerAddress[], clock: Clock): Promise<void> {
    const observed: ObservedAddress[] = []
    await Promise.all(
      this.nodes.map(async (s) => {
        try {
          const result = await s.client.announce({ addresses })
          observed.push(result.observed)
          s.status = { url: s.status.url, reachable: true, lastAnnounceAt: clock.now() }
        } catch (error) {
          s.status = { ...s.status, reachable: false, error: String(error) }
        }
      }),
    )
    if (observed.length > 0) this.observed = observed
  }

  /**
   * The live announce of `textId` on each super-node that has one, in order, with that
   * super-node's relay when it runs one (the peer may be registered there).
   */
  async resolveAll(
    textId: string,
    signal?: AbortSignalLike,
  ): Promise<Array<BootstrapPeer & { relay?: RelayEndpoint }>> {
    const found: Array<BootstrapPeer & { relay?: RelayEndpoint }> = []
    for (const s of this.nodes) {
      try {
        const peer = await s.client.resolve(textId, signal ? { signal } : {})
        const relay = s.client.cachedInfo?.relay
        const relayId = s.client.cachedInfo?.id
        if (peer) found.push(relay && relayId ? { ...peer, relay: { ...relay, relayId } } : peer)
      } catch {
        // the next super-node
      }
    }
    return found
  }

  /** The first live announce of `textId` found. */
  async resolve(textId: string, signal?: AbortSignalLike): Promise<BootstrapPeer | undefined> {
    for (const s of this.nodes) {
      try {
        const peer = await s.client.resolve(textId, signal ? { signal } : {})
        if (peer) return peer
      } catch {
        // try the next super-node
      }
    }
    return undefined
  }
}
