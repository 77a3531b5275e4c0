import { sha256 } from '@noble/hashes/sha2.js'
import { MalformedError } from '../errors.js'
import { toBytes, toHex, type Bytes } from '../wire/bytes.js'

/** Length of an account/node ID: 160 bits, the Kademlia ID space (as in BitTorrent's DHT). */
export const NODE_ID_BYTES = 20
/** Length of a serialized libsignal Curve25519 public key: 0x05 then 32 bytes. */
export const PUBLIC_KEY_BYTES = 33
/** Length of an XEdDSA signature made by a libsignal identity key. */
export const SIGNATURE_BYTES = 64

/** An account/node ID: the first 20 bytes of SHA-256 over the serialized public key. */
export type NodeId = Bytes

/** The ID of a public key: `SHA-256(publicKey)[0..20)`. */
export function nodeIdFromPublicKey(publicKey: Uint8Array): NodeId {
  if (publicKey.byteLength !== PUBLIC_KEY_BYTES || publicKey[0] !== 0x05) {
    throw new MalformedError(`a public key is ${PUBLIC_KEY_BYTES} bytes starting with 0x05`)
  }
  return toBytes(sha256(publicKey).subarray(0, NODE_ID_BYTES))
}

/** XOR distance between two IDs, as bytes (big-endian, comparable with {@link compareBytes}). */
export function xorDistance(a: Uint8Array, b: Uint8Array): Bytes {
  const out = new Uint8Array(NODE_ID_BYTES)
  for (let i = 0; i < NODE_ID_BYTES; i++) out[i] = a[i]! ^ b[i]!
  return out
}

/** Lexicographic comparison of equal-length byte strings: -1, 0 or 1. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1
  }
  return a.byteLength === b.byteLength ? 0 : a.byteLength < b.byteLength ? -1 : 1
}

/** Which of `a` and `b` is closer to `target` by XOR: negative when `a` is. */
export function compareDistance(target: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < NODE_ID_BYTES; i++) {
    const da = a[i]! ^ target[i]!
    const db = b[i]! ^ target[i]!
    if (da !== db) return da < db ? -1 : 1
  }
  return 0
}

export function nodeIdToHex(id: Uint8Array): string {
  return toHex(id)
}
