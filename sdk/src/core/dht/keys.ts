// What the DHT derives from bytes, documented in docs/PROTOCOL.md ("DHT messages (UDP)"):
// mailbox and record keys, envelope IDs, and the inputs of proofs and owners' signatures.
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { NODE_ID_BYTES, type NodeId } from '../identity/node-id.js'
import { BinaryWriter } from '../wire/binary.js'
import { concatBytes, utf8, type Bytes } from '../wire/bytes.js'
import {
  checkKey,
  ENVELOPE_ID_BYTES,
  MAILBOX_AUTH_DOMAIN,
  MessageType,
  NONCE_BYTES,
  PROOF_DOMAIN,
} from './messages.js'

const MAILBOX_KEY_DOMAIN = utf8('passage/mailbox/v1\0')
const PROOF_KEY_DOMAIN = utf8('passage/dht/proof-key/v1\0')
const ENVELOPE_ID_DOMAIN = utf8('passage/envelope/v1\0')
const RECORD_KEY_DOMAIN = utf8('passage/record-key/v1\0')

/** The mailbox key of a recipient: `SHA-256("passage/mailbox/v1\0" || publicKey)[0..20)`. */
export function mailboxKeyFor(publicKey: Uint8Array): NodeId {
  checkKey(publicKey, 'publicKey')
  return sha256(concatBytes(MAILBOX_KEY_DOMAIN, publicKey)).slice(0, NODE_ID_BYTES) as Bytes
}

/** An envelope's ID: `SHA-256("passage/envelope/v1\0" || mailboxKey || data)[0..16)`. */
export function envelopeIdOf(mailboxKey: Uint8Array, data: Uint8Array): Bytes {
  return sha256(concatBytes(ENVELOPE_ID_DOMAIN, mailboxKey, data)).slice(
    0,
    ENVELOPE_ID_BYTES,
  ) as Bytes
}

/** Where a signed record lives: `SHA-256("passage/record-key/v1\0" || type || publicKey)[0..20)`. */
export function recordKeyFor(publicKey: Uint8Array, type: number): NodeId {
  checkKey(publicKey, 'publicKey')
  return sha256(concatBytes(RECORD_KEY_DOMAIN, Uint8Array.of(type), publicKey)).slice(
    0,
    NODE_ID_BYTES,
  ) as Bytes
}

/**
 * The key of MAC proofs between two nodes: `SHA-256("passage/dht/proof-key/v1\0" || X25519(own
 * private key, peer's public key))`. Only the holders of the two private keys can compute it,
 * so a MAC under it proves to the requester that the responder holds its key, as a signature
 * does, for a hash instead of a signature and a verification per message once the X25519 result
 * is cached per peer. `shared`: the raw 32-byte X25519 output; all zero (a low-order peer key)
 * is refused.
 */
export function proofKeyFromShared(shared: Uint8Array): Bytes | undefined {
  if (shared.byteLength !== 32 || shared.every((b) => b === 0)) return undefined
  return sha256(concatBytes(PROOF_KEY_DOMAIN, shared)) as Bytes
}

/** A MAC proof: `HMAC-SHA-256(proofKey, "passage/dht/proof/v1\0" || txid || requesterId)`. */
export function proofMac(proofKey: Uint8Array, txid: Uint8Array, requesterId: Uint8Array): Bytes {
  return hmac(sha256, proofKey, proofInput(txid, requesterId)) as Bytes
}

/** What a responder signs to prove its key: domain, the request's txid, the requester's ID. */
export function proofInput(txid: Uint8Array, requesterId: Uint8Array): Bytes {
  return concatBytes(PROOF_DOMAIN, txid, requesterId)
}

/** The request-specific fields an owner's mailbox signature covers. */
export type MailboxAuthedRequest =
  | { type: 'mailbox-get'; kind: 'list' | 'read'; envelopeId: Uint8Array; index: number }
  | { type: 'mailbox-delete'; ids: Uint8Array[] }

/**
 * What a mailbox owner signs: domain, the replica's node ID (so a signature for one replica
 * is refused by the others), timestamp, nonce, then the request's own fields.
 */
export function mailboxAuthInput(
  audience: Uint8Array,
  timestamp: number,
  nonce: Uint8Array,
  request: MailboxAuthedRequest,
): Bytes {
  const w = new BinaryWriter()
    .raw(MAILBOX_AUTH_DOMAIN)
    .fixed(audience, NODE_ID_BYTES, 'audience')
    .u64(timestamp)
    .fixed(nonce, NONCE_BYTES, 'nonce')
  if (request.type === 'mailbox-get') {
    w.u8(MessageType.mailboxGet)
      .u8(request.kind === 'list' ? 0 : 1)
      .fixed(request.envelopeId, ENVELOPE_ID_BYTES, 'envelopeId')
      .u16(request.index)
  } else {
    w.u8(MessageType.mailboxDelete).u8(request.ids.length)
    for (const id of request.ids) w.fixed(id, ENVELOPE_ID_BYTES, 'envelopeId')
  }
  return w.finish()
}
