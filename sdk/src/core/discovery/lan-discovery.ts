import { systemClock, type Clock } from '../runtime/clock.js'
import { BadSignatureError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import { nodeIdFromPublicKey, type NodeId } from '../identity/node-id.js'
import { encodeTextId } from '../identity/text-id.js'
import type { DatagramSocket, DatagramSource, MulticastBind } from '../net/ports.js'
import { systemTimers, type TimerHandle, type Timers } from '../runtime/timers.js'
import { equalBytes, toHex, type Bytes } from '../wire/bytes.js'
import { decodeBeacon, encodeBeacon, signBeacon, verifyBeacon } from './beacon.js'

/** Default multicast group: organisation-local scope (RFC 2365), so routers keep it in. */
export const LAN_GROUP = '239.255.77.77'
/** Default UDP port of the beacons. */
export const LAN_PORT = 7477
/** Time between beacons. */
export const BEACON_INTERVAL_MS = 5_000 // 5 s: a new peer shows up within seconds, ~24 B/s each
/** A peer not heard from for this long is dropped from the table. */
export const LAN_PEER_TTL_MS = 20_000 // 4 missed beacons: tolerates loss, forgets the departed
/** Beacons whose timestamp is further than this from our clock are stale. */
export const BEACON_SKEW_MS = 60_000 // ±60 s, as announces
/** Peers kept at most; the least recently seen goes first (anyone can mint keys). */
const MAX_LAN_PEERS = 256 // far more than a LAN has; bounds memory under a flood
/** After a new peer appears we beacon at once, but not more often than this. */
const ANSWER_MIN_GAP_MS = 1_000 // lets a newcomer learn us without a storm of answers

/** A peer seen on the local network. */
export interface DiscoveredPeer {
  id: NodeId
  textId: string
  publicKey: Bytes
  /** The beacon's source address. */
  host: string
  /** Its link listener's TCP port, from the beacon. */
  tcpPort: number
  /** When its last accepted beacon arrived (our clock). */
  lastSeen: number
  /**
   * The account it claims to be a device of, and which (a version 1 beacon: its own key,
   * device 1). A hint like the address: a link's handshake signs the claim.
   */
  account: { publicKey: Bytes; textId: string; deviceId: number }
}

/** Why beacons were dropped, and how many arrived and were sent. */
export interface LanDiscoveryStats {
  sent: number
  received: number
  accepted: number
  dropped: { malformed: number; badSignature: number; stale: number; replay: number; own: number }
}

export interface LanDiscoveryOptions {
  identity: Identity
  /** The account this device speaks for now, when it is not its own key (beacons then have version 2). */
  account?: () => { publicKey: Bytes; deviceId: number } | undefined
  /** The TCP port our {@link LinkListener} listens on (what the beacons advertise). */
  tcpPort: number
  clock?: Clock
  timers?: Timers
  /** Multicast group; default {@link LAN_GROUP}. */
  group?: string
  /** UDP port; default {@link LAN_PORT}. */
  port?: number
  /** Local interface for the group (tests: `127.0.0.1`). */
  interface?: string
  /**
   * Unicast mode: send each beacon to these addresses instead of the group (tests, networks
   * without multicast). Combine with a `bind` that binds a unicast socket.
   */
  targets?: { host: string; port: number }[]
  /**
   * Joins the group and port (Node: `bindMulticastSocket` of `@passage/sdk/node`). Tests may
   * hand out any {@link DatagramSocket}.
   */
  bind: MulticastBind
  /** Default {@link BEACON_INTERVAL_MS}. */
  intervalMs?: number
  /** Default {@link LAN_PEER_TTL_MS}. */
  peerTtlMs?: number
}

type PeerHandler = (peer: DiscoveredPeer) => void

/**
 * Finds Passage nodes on the local network: sends a signed beacon (identity key, link port,
 * timestamp, growing seq) to a UDP multicast group every few seconds, and keeps a table of the
 * peers whose beacons verify. Beacons that do not parse or verify, are more than ±60 s off our
 * clock, repeat or lower a seq already seen, or are our own, are dropped and counted.
 *
 * A beacon only says "this key is here": the address is the datagram's source, and a link
 * there still proves the identity in its handshake, so a replayed beacon cannot impersonate.
 *
 * Events: `peer` (a new peer, or a known one at a new address or port), `lost` (expired).
 *
 * @example
 * const lan = new LanDiscovery({ identity, tcpPort: listener.address().port, bind: bindMulticastSocket })
 * lan.on('peer', (peer) => console.log(peer.textId, peer.host, peer.tcpPort))
 * await lan.start()
 */
export class LanDiscovery {
  private readonly clock: Clock
  private readonly timers: Timers
  private readonly group: string
  private readonly port: number
  private readonly intervalMs: number
  private readonly peerTtlMs: number
  private readonly table = new Map<string, DiscoveredPeer>()
  private readonly highestSeq = new Map<string, number>()
  private readonly peerHandlers = new Set<PeerHandler>()
  private readonly lostHandlers = new Set<PeerHandler>()
  private socket: DatagramSocket | undefined
  private timer: TimerHandle | undefined
  private seq = 0
  private lastSent = -Infinity
  private running = false
  readonly stats: LanDiscoveryStats = {
    sent: 0,
    received: 0,
    accepted: 0,
    dropped: { malformed: 0, badSignature: 0, stale: 0, replay: 0, own: 0 },
  }

  constructor(private readonly options: LanDiscoveryOptions) {
    this.clock = options.clock ?? systemClock
    this.timers = options.timers ?? systemTimers
    this.group = options.group ?? LAN_GROUP
    this.port = options.port ?? LAN_PORT
    this.intervalMs = options.intervalMs ?? BEACON_INTERVAL_MS
    this.peerTtlMs = options.peerTtlMs ?? LAN_PEER_TTL_MS
  }

  on(event: 'peer' | 'lost', handler: PeerHandler): this {
    ;(event === 'peer' ? this.peerHandlers : this.lostHandlers).add(handler)
    return this
  }

  off(event: 'peer' | 'lost', handler: PeerHandler): this {
    ;(event === 'peer' ? this.peerHandlers : this.lostHandlers).delete(handler)
    return this
  }

  /** Opens the socket, sends a first beacon, and beacons every interval until {@link stop}. */
  async start(): Promise<void> {
    if (this.running) return
    this.socket = await this.options.bind({
      group: this.group,
      port: this.port,
      ...(this.options.interface ? { interface: this.options.interface } : {}),
    })
    this.running = true
    this.socket.onMessage((bytes, from) => this.receive(bytes, from))
    this.tick()
  }

  /** Stops beaconing and closes the socket; the table is kept. */
  async stop(): Promise<void> {
    this.running = false
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    this.timer = undefined
    const socket = this.socket
    this.socket = undefined
    await socket?.close()
  }

  /** Peers heard from within the TTL, most recently seen first. Expired ones are removed. */
  peers(): DiscoveredPeer[] {
    this.expire()
    return [...this.table.values()].sort((a, b) => b.lastSeen - a.lastSeen).map((p) => ({ ...p }))
  }

  /** The peer with this ID, if heard from within the TTL. */
  peer(id: Uint8Array): DiscoveredPeer | undefined {
    this.expire()
    const found = this.table.get(toHex(id))
    return found ? { ...found } : undefined
  }

  /** Sends one beacon now (also done every interval). */
  async announce(): Promise<void> {
    const socket = this.socket
    if (!socket) return
    const timestamp = this.clock.now()
    // Seq never repeats, even across restarts: it is at least the current time in ms.
    this.seq = Math.max(this.seq + 1, timestamp)
    const account = this.options.account?.()
    const beacon = signBeacon(this.options.identity, {
      tcpPort: this.options.tcpPort,
      timestamp,
      seq: this.seq,
      ...(account && !equalBytes(account.publicKey, this.options.identity.publicKey)
        ? { account }
        : {}),
    })
    const bytes = encodeBeacon(beacon)
    this.lastSent = timestamp
    const targets = this.options.targets ?? [{ host: this.group, port: this.port }]
    for (const target of targets) {
      try {
        await socket.send(bytes, target.port, target.host)
        this.stats.sent++
      } catch {
        // No route (interface down): the next interval tries again.
      }
    }
  }

  /**
   * Handles one datagram (the socket calls it; tests may too). Returns the peer when the
   * beacon was accepted.
   */
  receive(bytes: Uint8Array, from: DatagramSource): DiscoveredPeer | undefined {
    this.stats.received++
    const dropped = this.stats.dropped
    let beacon
    try {
      beacon = decodeBeacon(bytes)
    } catch {
      dropped.malformed++
      return undefined
    }
    if (equalBytes(beacon.publicKey, this.options.identity.publicKey)) {
      dropped.own++
      return undefined
    }
    const now = this.clock.now()
    if (Math.abs(beacon.timestamp - now) > BEACON_SKEW_MS) {
      dropped.stale++
      return undefined
    }
    const key = toHex(beacon.publicKey)
    const highest = this.highestSeq.get(key)
    if (highest !== undefined && beacon.seq <= highest) {
      dropped.replay++
      return undefined
    }
    try {
      verifyBeacon(beacon, this.options.identity.keys)
    } catch (error) {
      if (!(error instanceof BadSignatureError)) throw error
      dropped.badSignature++
      return undefined
    }
    this.stats.accepted++
    this.highestSeq.delete(key) // re-insert: oldest first, for eviction
    this.highestSeq.set(key, beacon.seq)
    const id = nodeIdFromPublicKey(beacon.publicKey)
    const idKey = toHex(id)
    const known = this.table.get(idKey)
    const claimed = beacon.account ?? { publicKey: beacon.publicKey, deviceId: 1 }
    const peer: DiscoveredPeer = {
      id,
      textId: known?.textId ?? encodeTextId(id),
      publicKey: beacon.publicKey,
      host: from.host,
      tcpPort: beacon.tcpPort,
      lastSeen: now,
      account: {
        publicKey: claimed.publicKey,
        textId: beacon.account
          ? encodeTextId(nodeIdFromPublicKey(claimed.publicKey))
          : encodeTextId(id),
        deviceId: claimed.deviceId,
      },
    }
    this.table.delete(idKey) // re-insert: the Map's order is least recently seen first
    this.table.set(idKey, peer)
    this.evictOverflow()
    const changed =
      !known ||
      known.host !== peer.host ||
      known.tcpPort !== peer.tcpPort ||
      known.account.deviceId !== peer.account.deviceId ||
      !equalBytes(known.account.publicKey, peer.account.publicKey)
    if (changed) {
      for (const handler of this.peerHandlers) this.call(handler, peer)
      if (!known && this.running && now - this.lastSent >= ANSWER_MIN_GAP_MS) {
        void this.announce()
      }
    }
    return { ...peer }
  }

  private tick(): void {
    if (!this.running) return
    this.expire()
    void this.announce()
    this.timer = this.timers.setTimeout(() => this.tick(), this.intervalMs)
  }

  private expire(): void {
    const cutoff = this.clock.now() - this.peerTtlMs
    for (const [key, peer] of this.table) {
      if (peer.lastSeen >= cutoff) continue
      this.table.delete(key)
      for (const handler of this.lostHandlers) this.call(handler, peer)
    }
  }

  private evictOverflow(): void {
    while (this.table.size > MAX_LAN_PEERS) {
      const oldest = this.table.keys().next().value as string
      this.table.delete(oldest)
    }
    // The replay table is bounded the same way (its entries only guard against replays).
    while (this.highestSeq.size > MAX_LAN_PEERS * 4) {
      const oldest = this.highestSeq.keys().next().value as string
      this.highestSeq.delete(oldest)
    }
  }

  private call(handler: PeerHandler, peer: DiscoveredPeer): void {
    try {
      handler({ ...peer })
    } catch {
      // The caller's bug; discovery goes on.
    }
  }
}
