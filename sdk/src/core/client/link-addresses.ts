import type { DiscoveredPeer } from '../discovery/lan-discovery.js'
import { nodeIdFromPublicKey } from '../identity/node-id.js'
import { encodeTextId } from '../identity/text-id.js'
import type { LinkAddress } from '../link/link.js'
import { readAddressRecord, type DialAddress } from '../records/address-record.js'
import { RecordType } from '../records/signed-record.js'
import type { AbortSignalLike } from '../runtime/host.js'
import { toBytes, type Bytes } from '../wire/bytes.js'
import type { ClientContext } from './context.js'
import type { LanPeer } from './types.js'

/**
 * Where peers can be dialed: LAN peers (from beacons, or told by the app), dialed first, then
 * what the super-nodes' announces say. Also finds a bare text ID's public key.
 */
export class LinkAddresses {
  private readonly lan = new Map<string, LanPeer>()

  constructor(private readonly ctx: ClientContext) {}

  /** Peers on the LAN now. */
  get lanCount(): number {
    return this.lan.size
  }

  isOnLan(textId: string): boolean {
    return this.lan.has(textId)
  }

  /** Copies of the LAN peers, each with its contact ID when it is a contact. */
  lanPeers(): LanPeer[] {
    return [...this.lan.values()].map((p) => {
      const account = p.account?.textId ?? p.textId
      return {
        ...p,
        addresses: [...p.addresses],
        ...(this.ctx.contacts.isContact(account) ? { contactId: account } : {}),
      }
    })
  }

  /**
   * Tells the client where a peer's direct link listens (LAN discovery, or tests). LAN peers
   * are dialed before any address a super-node reports.
   */
  addLanPeer(peer: LanPeer): void {
    const before = this.lan.get(peer.textId)
    this.lan.set(peer.textId, peer)
    // A peer new on the LAN, or at a new address, is worth a dial now; its every beacon is
    // not (a failed dial must stand, or an undialable peer would look online).
    const key = (p: LanPeer) => p.addresses.map((a) => `${a.host}|${a.port}`).join(',')
    if (!before || key(before) !== key(peer)) {
      this.ctx.network.links?.retryNow(nodeIdFromPublicKey(peer.publicKey))
    }
    this.ctx.events.statusChanged()
  }

  onLanPeer(peer: DiscoveredPeer): void {
    this.addLanPeer({
      textId: peer.textId,
      publicKey: peer.publicKey,
      addresses: [{ host: peer.host, port: peer.tcpPort }],
      lastSeenAt: peer.lastSeen,
      account: { textId: peer.account.textId, deviceId: peer.account.deviceId },
    })
  }

  onLanLost(textId: string): void {
    this.lan.delete(textId)
    this.ctx.events.statusChanged()
  }

  /**
   * Every address `peerId` may be dialed at, in the order of the routes: LAN, then direct (what
   * the super-nodes' announces say), then through the relay of each super-node it announced
   * to (it registers at each relay it knows); when none of them knows it, what its address
   * record in the DHT says; without duplicates.
   */
  async resolve(peerId: Uint8Array): Promise<LinkAddress[]> {
    const out: LinkAddress[] = []
    const relayed: LinkAddress[] = []
    const textId = encodeTextId(toBytes(peerId))
    const lan = this.lan.get(textId)
    if (lan) out.push(...lan.addresses)
    const relays = this.ctx.options.relay !== false
    for (const peer of await this.ctx.superNodes.resolveAll(textId)) {
      for (const a of peer.announce.addresses) {
        if (a.transport !== 'tcp') continue
        out.push({ host: a.host === '' ? peer.observed.host : a.host, port: a.port })
      }
      if (relays && peer.relay) {
        const { host, port, relayId } = peer.relay
        relayed.push({ host, port, via: 'relay', relayId })
      }
    }
    // The peer's own address record in the DHT, when neither the LAN nor a super-node knows
    // where it is: found without any one super-node (a DHT lookup must not hold up a dial
    // that has addresses already; with the DHT gone it would take seconds).
    const known = out.length + relayed.length > 0
    for (const a of known ? [] : await this.fromDht(peerId)) {
      if (a.transport === 'tcp') out.push({ host: a.host, port: a.port })
      else if (relays) relayed.push({ host: a.host, port: a.port, via: 'relay' })
    }
    out.push(...relayed)
    const seen = new Set<string>()
    return out.filter((a) => {
      const key = `${a.via ?? ''}|${a.host}|${a.port}`
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
  }

  /** The addresses in the DHT address record of `peerId`, when its key is known here. */
  private async fromDht(peerId: Uint8Array): Promise<DialAddress[]> {
    const dht = this.ctx.network.dht
    const publicKey = this.ctx.contacts.keyOfNodeId(peerId)
    if (!dht || !publicKey || !this.ctx.network.dhtJoined) return []
    try {
      const record = await dht.getRecord(publicKey, RecordType.address)
      return record ? readAddressRecord(record, publicKey, dht.identity.keys) : []
    } catch {
      return [] // none, stale or forged: the other routes and the mailbox remain
    }
  }

  /** The public key of `textId` from the LAN or the super-nodes, when it is online. */
  async lookupPublicKey(textId: string, signal?: AbortSignalLike): Promise<Bytes | undefined> {
    const lan = this.lan.get(textId)
    if (lan) return lan.publicKey
    return (await this.ctx.superNodes.resolve(textId, signal))?.announce.publicKey
  }
}
