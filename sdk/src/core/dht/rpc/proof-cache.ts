import type { Identity } from '../../identity/identity.js'
import { nodeIdFromPublicKey, type NodeId } from '../../identity/node-id.js'
import { BoundedMap } from '../../util/bounded-map.js'
import { equalBytes, type Bytes } from '../../wire/bytes.js'
import { type DhtMessage } from '../messages.js'
import { proofInput, proofKeyFromShared, proofMac } from '../keys.js'

/** Peers' keys remembered at once (an entry is ~200 B: about 2 MB at most). */
export const PROOF_CACHE_ENTRIES = 10_000

/** A cached public key: its node ID and the MAC-proof key (null: none, a bad key). */
interface PeerKey {
  key: Bytes
  id: NodeId
  proofKey: Bytes | null | undefined
}

/** Bytes 1 to 6 of a public key (byte 0 is the type) as a number. */
function peerNumber(key: Uint8Array): number {
  return (
    key[1]! * 0x100_0000_0000 +
    key[2]! * 0x1_0000_0000 +
    (((key[3]! << 24) | (key[4]! << 16) | (key[5]! << 8) | key[6]!) >>> 0)
  )
}

/**
 * Peers' public keys as a node meets them on its datagrams: the node ID each hashes to, and
 * the MAC-proof key shared with it once computed (one key agreement per peer instead of a
 * signature and a verification per proof). Checks the proofs responses carry.
 *
 * @example
 * const proofs = new ProofCache(identity)
 * const senderId = proofs.idOf(msg.senderKey)
 * if (wantedProof && !proofs.validProof(msg)) drop('bad-proof')
 */
export class ProofCache {
  /**
   * By a number from the key's bytes 1 to 6 (the full key is compared after): one entry per
   * peer, no string key built per datagram.
   */
  private readonly peers: BoundedMap<number, PeerKey>

  constructor(
    private readonly identity: Identity,
    maxEntries = PROOF_CACHE_ENTRIES,
  ) {
    this.peers = new BoundedMap(maxEntries)
  }

  /** The node ID `publicKey` hashes to. */
  idOf(publicKey: Bytes): NodeId {
    return this.peer(publicKey).id
  }

  /**
   * The MAC-proof key shared with the holder of `publicKey` (X25519, then hashed), or
   * undefined for a key no proof key can be made with.
   */
  proofKeyFor(publicKey: Bytes): Bytes | undefined {
    const peer = this.peer(publicKey)
    if (peer.proofKey !== undefined) return peer.proofKey ?? undefined
    let key: Bytes | undefined
    try {
      key = proofKeyFromShared(this.identity.agree(publicKey))
    } catch {
      key = undefined
    }
    peer.proofKey = key ?? null
    return key
  }

  /** Whether a response carries a valid proof of its sender's key (a MAC or a signature). */
  validProof(msg: DhtMessage): boolean {
    if (!msg.proof) return false
    if (msg.mac) {
      const key = this.proofKeyFor(msg.senderKey)
      return key !== undefined && equalBytes(msg.proof, proofMac(key, msg.txid, this.identity.id))
    }
    return this.identity.keys.verify(
      msg.senderKey,
      proofInput(msg.txid, this.identity.id),
      msg.proof,
    )
  }

  /** The cache entry of a public key (a fresh, uncached one when another key shares its number). */
  private peer(publicKey: Bytes): PeerKey {
    const n = peerNumber(publicKey)
    const cached = this.peers.get(n)
    if (cached && equalBytes(cached.key, publicKey)) return cached
    const peer: PeerKey = {
      key: publicKey,
      id: nodeIdFromPublicKey(publicKey),
      proofKey: undefined,
    }
    if (!cached) this.peers.set(n, peer)
    return peer
  }
}
