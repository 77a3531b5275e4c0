// The DHT wire codec: the only file that reads or writes DHT datagram bytes.
// Layouts are documented byte by byte in docs/PROTOCOL.md, "DHT messages (UDP)".
// Over 500 lines on purpose: every message's layout, encoder and decoder in one place, read
// against the document side by side (what is derived from bytes is in keys.ts, error numbers
// in wire-errors.ts, IP literals in ip-literal.ts).
import { MalformedError, TooLargeError, type PassageError } from '../errors.js'
import {
  NODE_ID_BYTES,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  type NodeId,
} from '../identity/node-id.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { fromUtf8, utf8, type Bytes } from '../wire/bytes.js'
import type { AddressCache } from './address-cache.js'
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from './ip-literal.js'

/** First byte of every datagram: ASCII 'P', so stray traffic is dropped at once. */
export const DHT_MAGIC = 0x50
/** Second byte: the codec version. A node drops datagrams of versions it does not speak. */
export const DHT_VERSION = 1
/** Largest datagram sent or accepted: the IPv6 minimum MTU, so nothing is IP-fragmented. */
export const MAX_DATAGRAM_BYTES = 1280
/** Transaction IDs are 8 random bytes: collisions among in-flight requests are negligible. */
export const TXID_BYTES = 8
/** Mailbox envelope IDs: 16 bytes of SHA-256 over the envelope (see {@link envelopeIdOf}). */
export const ENVELOPE_ID_BYTES = 16
/** Nonces in owner-signed mailbox requests. */
export const NONCE_BYTES = 16
/** Largest write token accepted (ours are 16 bytes). */
export const MAX_TOKEN_BYTES = 32
/** An envelope travels in fragments of this many bytes (the last may be shorter). */
export const FRAGMENT_BYTES = 1024 // fits a put (112 B of headers) in 1280 B with room to spare
/** Largest envelope (opaque ciphertext) a mailbox stores: 64 KiB, as issue 3 asks. */
export const MAX_ENVELOPE_BYTES = 65_536
/** Fragments of the largest envelope. */
export const MAX_FRAGMENTS = MAX_ENVELOPE_BYTES / FRAGMENT_BYTES
/** Nodes in one `nodes` reply: k. */
export const MAX_NODES_PER_REPLY = 20
/** Entries in one mailbox list page (28 B each). */
export const MAX_LIST_ENTRIES = 32
/** Envelope IDs in one delete request. */
export const MAX_DELETE_IDS = 32
/** Envelopes in one `mailbox-put-many`: at most 16 store writes per datagram. */
export const MAX_PUT_MANY_ENVELOPES = 16
/** Bytes a `mailbox-put-many` spends per envelope besides its data (key, ID, TTL, length). */
export const PUT_MANY_ENTRY_OVERHEAD = 20 + 16 + 4 + 2
/** Longest error text on the wire, in bytes. */
export const MAX_ERROR_TEXT_BYTES = 200

/** Signature domains: a signature made for one purpose cannot be replayed for another. */
export const PROOF_DOMAIN = utf8('passage/dht/proof/v1\0')
export const MAILBOX_AUTH_DOMAIN = utf8('passage/dht/mailbox-auth/v1\0')

/** Message type numbers. New types take new numbers; numbers are never reused. */
export const MessageType = {
  ping: 0x01,
  pong: 0x02,
  findNode: 0x03,
  nodes: 0x04,
  mailboxPut: 0x10,
  mailboxPutAck: 0x11,
  mailboxGet: 0x12,
  mailboxResult: 0x13,
  mailboxDelete: 0x14,
  mailboxDeleteAck: 0x15,
  mailboxPutMany: 0x16,
  mailboxPutAcks: 0x17,
  recordPut: 0x20,
  recordPutAck: 0x21,
  recordGet: 0x22,
  recordResult: 0x23,
  error: 0x7f,
} as const

/** Header flag bits; every other bit must be zero. */
export const Flag = {
  /** The sender is a client: do not add it to routing tables or return it to others. */
  client: 0x01,
  /** Request: the responder must prove its key (sign the txid and requester ID). */
  wantProof: 0x02,
  /** Response: a 64-byte proof follows the sender key. */
  hasProof: 0x04,
  /**
   * With `wantProof` (request): prove the key with a MAC instead of a signature. With
   * `hasProof` (response): the proof is a 32-byte {@link proofMac}, not a signature.
   */
  mac: 0x08,
  /**
   * Request: an address token follows the sender key (docs/PROTOCOL.md, "DHT amplification
   * guard"): the requester proves it receives at its address, and may get answers larger
   * than its request.
   */
  token: 0x10,
} as const
const KNOWN_FLAGS = Flag.client | Flag.wantProof | Flag.hasProof | Flag.mac | Flag.token
/** A MAC proof: HMAC-SHA-256, untruncated. */
export const PROOF_MAC_BYTES = 32

/** A UDP endpoint. `host` is a literal IPv4 or IPv6 address, never a name. */
export interface NodeAddress {
  host: string
  port: number
}

/** A node as it travels in `nodes` replies: its ID and endpoint. */
export interface NodeInfo extends NodeAddress {
  id: NodeId
}

/** Owner authentication carried by mailbox get and delete requests. */
export interface MailboxAuth {
  /** The mailbox owner's identity public key (33 bytes); the mailbox key is derived from it. */
  ownerKey: Bytes
  /** Milliseconds since the Unix epoch; the replica accepts ±60 s. */
  timestamp: number
  nonce: Bytes
  /** Over {@link mailboxAuthInput}. */
  signature: Bytes
}

/** One whole envelope of a `mailbox-put-many`. */
export interface PutManyEnvelope {
  mailboxKey: NodeId
  envelopeId: Bytes
  ttlSeconds: number
  data: Bytes
}

/** A replica's answer for one envelope of a `mailbox-put-many`. */
export interface PutManyResult {
  /** It holds the envelope (stored now, held already, or deleted). */
  stored: boolean
  /** When not stored: the wire error code a single put of it would have had. */
  code: number
}

export interface MailboxListEntry {
  id: Bytes
  size: number
  expiresAt: number
}

/** Fields every datagram carries. */
export interface MessageHeader {
  txid: Bytes
  /** The sender's identity public key; its node ID is SHA-256(key)[0..20). */
  senderKey: Bytes
  client: boolean
  wantProof: boolean
  /** On responses only: the sender's signature over {@link proofInput} (or a MAC, see `mac`). */
  proof: Bytes | undefined
  /** Flag `mac`: the proof asked for (request) or given (response) is a {@link proofMac}. */
  mac?: boolean
  /**
   * Flag `token` (requests only): the responder's write token for the requester's address,
   * proving the requester receives there (1 to 32 bytes).
   */
  addressToken?: Bytes | undefined
}

export type MessageBody =
  | { type: 'ping' }
  | { type: 'pong'; observed: NodeAddress; token: Bytes }
  | { type: 'find-node'; target: NodeId }
  | { type: 'nodes'; token: Bytes; nodes: NodeInfo[] }
  | {
      type: 'mailbox-put'
      token: Bytes
      mailboxKey: NodeId
      envelopeId: Bytes
      ttlSeconds: number
      totalSize: number
      index: number
      count: number
      data: Bytes
    }
  | { type: 'mailbox-put-ack'; envelopeId: Bytes; index: number; stored: boolean }
  | {
      type: 'mailbox-get'
      auth: MailboxAuth
      /** `list`: a page of IDs after `envelopeId` (all zero: from the start); `read`: a fragment. */
      kind: 'list' | 'read'
      envelopeId: Bytes
      index: number
    }
  | { type: 'mailbox-list'; more: boolean; entries: MailboxListEntry[] }
  | {
      type: 'mailbox-fragment'
      envelopeId: Bytes
      index: number
      count: number
      totalSize: number
      data: Bytes
    }
  | { type: 'mailbox-delete'; auth: MailboxAuth; ids: Bytes[] }
  | { type: 'mailbox-delete-ack'; deleted: number }
  | { type: 'mailbox-put-many'; token: Bytes; envelopes: PutManyEnvelope[] }
  | { type: 'mailbox-put-acks'; results: PutManyResult[] }
  | { type: 'record-put'; token: Bytes; record: Bytes }
  | { type: 'record-put-ack'; seq: number }
  | { type: 'record-get'; key: NodeId }
  | { type: 'record-result'; record: Bytes | undefined }
  | { type: 'error'; code: number; message: string }

/** A decoded datagram. */
export type DhtMessage = MessageHeader & MessageBody
export type MessageKind = DhtMessage['type']

/**
 * What a requester with no fresh token for a responder pads each request to (zero bytes
 * after the body): the largest answer it can get, so that it is answered in full
 * (docs/PROTOCOL.md, "DHT amplification guard"). Kinds not listed are not padded.
 */
export const UNPROVEN_PAD_BYTES: Readonly<Partial<Record<MessageKind, number>>> = {
  // A pong with a signature, an IPv6 address and a 32-byte token: 45 + 64 + 19 + 33.
  ping: 161,
  // nodes with a signature, a 32-byte token and 20 IPv6 entries: 45 + 64 + 33 + 1 + 20 × 39.
  'find-node': 923,
  'record-get': MAX_DATAGRAM_BYTES,
  'mailbox-get': MAX_DATAGRAM_BYTES,
}

/** Kinds that are requests (everything else is a response). */
export const REQUEST_KINDS: ReadonlySet<MessageKind> = new Set([
  'ping',
  'find-node',
  'mailbox-put',
  'mailbox-get',
  'mailbox-delete',
  'mailbox-put-many',
  'record-put',
  'record-get',
])

/** Why a datagram was dropped; the node counts drops by these reasons. */
export type DropReason =
  | 'oversized'
  | 'malformed'
  | 'unknown-type'
  | 'bad-version'
  | 'bad-proof'
  | 'unsolicited'
  | 'rate-limited'
  /** A request from an unproven endpoint whose answer would be larger than it: not answered. */
  | 'unproven'

// ---- encoding ----

const TYPE_OF: Record<MessageKind, number> = {
  ping: MessageType.ping,
  pong: MessageType.pong,
  'find-node': MessageType.findNode,
  nodes: MessageType.nodes,
  'mailbox-put': MessageType.mailboxPut,
  'mailbox-put-ack': MessageType.mailboxPutAck,
  'mailbox-get': MessageType.mailboxGet,
  'mailbox-list': MessageType.mailboxResult,
  'mailbox-fragment': MessageType.mailboxResult,
  'mailbox-delete': MessageType.mailboxDelete,
  'mailbox-delete-ack': MessageType.mailboxDeleteAck,
  'mailbox-put-many': MessageType.mailboxPutMany,
  'mailbox-put-acks': MessageType.mailboxPutAcks,
  'record-put': MessageType.recordPut,
  'record-put-ack': MessageType.recordPutAck,
  'record-get': MessageType.recordGet,
  'record-result': MessageType.recordResult,
  error: MessageType.error,
}

/**
 * Encodes a message; throws {@link MalformedError} for bad fields or more than 1280 bytes.
 * `addresses`: a node's cache of parsed IPv4 literals (optional; the bytes are the same).
 * `padTo`: a request is padded with zero bytes to this length (see {@link UNPROVEN_PAD_BYTES}).
 */
export function encodeMessage(msg: DhtMessage, addresses?: AddressCache, padTo = 0): Bytes {
  return encodeParts(msg, msg, addresses, padTo)
}

/**
 * {@link encodeMessage} of a header and a body held apart: the same bytes as their merged
 * message, without building it (a request's body as the caller gave it, a reused header).
 * `padTo`: a request is padded with zero bytes to this length (at most 1280; never cut).
 */
export function encodeParts(
  header: MessageHeader,
  body: MessageBody,
  addresses?: AddressCache,
  padTo = 0,
): Bytes {
  const w = scratchWriter.reset()
  const request = REQUEST_KINDS.has(body.type)
  if (header.addressToken && !request) throw new MalformedError('only requests carry flag token')
  if (padTo > 0 && !request) throw new MalformedError('only requests are padded')
  const flags =
    (header.client ? Flag.client : 0) |
    (header.wantProof ? Flag.wantProof : 0) |
    (header.proof ? Flag.hasProof : 0) |
    (header.mac && (header.wantProof || header.proof) ? Flag.mac : 0) |
    (header.addressToken ? Flag.token : 0)
  w.u8(DHT_MAGIC).u8(DHT_VERSION).u8(TYPE_OF[body.type]).u8(flags)
  w.fixed(header.txid, TXID_BYTES, 'txid').fixed(header.senderKey, PUBLIC_KEY_BYTES, 'senderKey')
  if (header.proof) w.fixed(header.proof, header.mac ? PROOF_MAC_BYTES : SIGNATURE_BYTES, 'proof')
  if (header.addressToken) {
    if (header.addressToken.byteLength === 0) throw new MalformedError('empty address token')
    writeToken(w, header.addressToken)
  }
  encodeBody(w, body, addresses)
  if (w.length > MAX_DATAGRAM_BYTES) {
    throw new MalformedError(`a ${body.type} datagram is ${w.length} bytes, over 1280`)
  }
  if (padTo > MAX_DATAGRAM_BYTES) throw new MalformedError(`padding to ${padTo}, over 1280`)
  while (w.length < padTo) w.u8(0)
  return w.finish()
}

/** The encoder's writer, reused: encoding is on every datagram's path. */
const scratchWriter = new BinaryWriter(2 * MAX_DATAGRAM_BYTES)

function encodeBody(w: BinaryWriter, msg: MessageBody, addresses: AddressCache | undefined): void {
  switch (msg.type) {
    case 'ping':
      return
    case 'pong':
      writeAddress(w, msg.observed, addresses)
      writeToken(w, msg.token)
      return
    case 'find-node':
      w.fixed(msg.target, NODE_ID_BYTES, 'target')
      return
    case 'nodes':
      writeToken(w, msg.token)
      if (msg.nodes.length > MAX_NODES_PER_REPLY) throw new MalformedError('too many nodes')
      w.u8(msg.nodes.length)
      for (const node of msg.nodes) {
        w.fixed(node.id, NODE_ID_BYTES, 'node id')
        writeAddress(w, node, addresses)
      }
      return
    case 'mailbox-put':
      checkFragment(msg.totalSize, msg.index, msg.count, msg.data.byteLength)
      writeToken(w, msg.token)
      w.fixed(msg.mailboxKey, NODE_ID_BYTES, 'mailboxKey')
      w.fixed(msg.envelopeId, ENVELOPE_ID_BYTES, 'envelopeId')
      w.u32(msg.ttlSeconds).u32(msg.totalSize).u16(msg.index).u16(msg.count)
      w.bytes16(msg.data, 'data')
      return
    case 'mailbox-put-ack':
      w.fixed(msg.envelopeId, ENVELOPE_ID_BYTES, 'envelopeId').u16(msg.index)
      w.u8(msg.stored ? 1 : 0)
      return
    case 'mailbox-get':
      writeAuth(w, msg.auth)
      w.u8(msg.kind === 'list' ? 0 : 1)
      w.fixed(msg.envelopeId, ENVELOPE_ID_BYTES, 'envelopeId').u16(msg.index)
      return
    case 'mailbox-list':
      if (msg.entries.length > MAX_LIST_ENTRIES) throw new MalformedError('too many entries')
      w.u8(0)
        .u8(msg.more ? 1 : 0)
        .u8(msg.entries.length)
      for (const e of msg.entries) {
        w.fixed(e.id, ENVELOPE_ID_BYTES, 'envelopeId').u32(e.size).u64(e.expiresAt)
      }
      return
    case 'mailbox-fragment':
      checkFragment(msg.totalSize, msg.index, msg.count, msg.data.byteLength)
      w.u8(1).fixed(msg.envelopeId, ENVELOPE_ID_BYTES, 'envelopeId')
      w.u16(msg.index).u16(msg.count).u32(msg.totalSize).bytes16(msg.data, 'data')
      return
    case 'mailbox-delete':
      writeAuth(w, msg.auth)
      if (msg.ids.length === 0 || msg.ids.length > MAX_DELETE_IDS) {
        throw new MalformedError(`a delete names 1 to ${MAX_DELETE_IDS} envelopes`)
      }
      w.u8(msg.ids.length)
      for (const id of msg.ids) w.fixed(id, ENVELOPE_ID_BYTES, 'envelopeId')
      return
    case 'mailbox-delete-ack':
      w.u8(msg.deleted)
      return
    case 'mailbox-put-many':
      writeToken(w, msg.token)
      if (msg.envelopes.length === 0 || msg.envelopes.length > MAX_PUT_MANY_ENVELOPES) {
        throw new MalformedError(`a put-many carries 1 to ${MAX_PUT_MANY_ENVELOPES} envelopes`)
      }
      w.u8(msg.envelopes.length)
      for (const e of msg.envelopes) {
        if (e.data.byteLength < 1) throw new MalformedError('an envelope is at least 1 byte')
        w.fixed(e.mailboxKey, NODE_ID_BYTES, 'mailboxKey')
        w.fixed(e.envelopeId, ENVELOPE_ID_BYTES, 'envelopeId')
        w.u32(e.ttlSeconds).bytes16(e.data, 'data')
      }
      return
    case 'mailbox-put-acks':
      if (msg.results.length > MAX_PUT_MANY_ENVELOPES) throw new MalformedError('too many results')
      w.u8(msg.results.length)
      for (const r of msg.results) w.u8(r.stored ? 1 : 0).u16(r.stored ? 0 : r.code)
      return
    case 'record-put':
      writeToken(w, msg.token)
      w.bytes16(msg.record, 'record')
      return
    case 'record-put-ack':
      w.u64(msg.seq)
      return
    case 'record-get':
      w.fixed(msg.key, NODE_ID_BYTES, 'key')
      return
    case 'record-result':
      if (msg.record) w.u8(1).bytes16(msg.record, 'record')
      else w.u8(0)
      return
    case 'error': {
      let text = utf8(msg.message)
      if (text.byteLength > MAX_ERROR_TEXT_BYTES) text = utf8(clipText(msg.message))
      w.u16(msg.code).bytes8(text, 'message')
      return
    }
  }
}

function clipText(text: string): string {
  let out = text
  while (utf8(out).byteLength > MAX_ERROR_TEXT_BYTES) out = out.slice(0, -1)
  return out
}

function writeToken(w: BinaryWriter, token: Uint8Array): void {
  if (token.byteLength > MAX_TOKEN_BYTES) throw new MalformedError('token too long')
  w.bytes8(token, 'token')
}

function writeAuth(w: BinaryWriter, auth: MailboxAuth): void {
  w.fixed(auth.ownerKey, PUBLIC_KEY_BYTES, 'ownerKey')
  w.u64(auth.timestamp)
  w.fixed(auth.nonce, NONCE_BYTES, 'nonce')
  w.fixed(auth.signature, SIGNATURE_BYTES, 'signature')
}

function writeAddress(
  w: BinaryWriter,
  address: NodeAddress,
  addresses: AddressCache | undefined,
): void {
  const v4 = addresses ? addresses.ipv4Bytes(address.host) : parseIpv4(address.host)
  if (v4) {
    w.u8(4).raw(v4)
  } else {
    const v6 = parseIpv6(address.host)
    if (!v6) throw new MalformedError(`not an IP address: ${address.host}`)
    w.u8(6).raw(v6)
  }
  if (!Number.isInteger(address.port) || address.port < 1 || address.port > 0xffff) {
    throw new MalformedError(`bad port ${address.port}`)
  }
  w.u16(address.port)
}

/** @internal Throws unless `key` is a 33-byte public key (type byte 0x05). */
export function checkKey(key: Uint8Array, what: string): void {
  if (key.byteLength !== PUBLIC_KEY_BYTES || key[0] !== 0x05) {
    throw new MalformedError(`${what} is a 33-byte key starting with 0x05`)
  }
}

function checkFragment(totalSize: number, index: number, count: number, length: number): void {
  const broken = fragmentRuleError(totalSize, index, count, length)
  if (broken) throw broken
}

/**
 * Why a fragment's fields break the envelope rules, or undefined: an envelope over 64 KiB is
 * too large (wire error 12); an empty one, a wrong count, index or length are malformed (1).
 */
function fragmentRuleError(
  totalSize: number,
  index: number,
  count: number,
  length: number,
): PassageError | undefined {
  if (totalSize > MAX_ENVELOPE_BYTES) {
    return new TooLargeError(`an envelope is at most ${MAX_ENVELOPE_BYTES} bytes`)
  }
  if (totalSize < 1) return new MalformedError('an envelope is at least 1 byte')
  if (count !== Math.ceil(totalSize / FRAGMENT_BYTES)) {
    return new MalformedError('count must be ceil(totalSize / 1024)')
  }
  if (index >= count) return new MalformedError('fragment index out of range')
  if (length !== fragmentLength(totalSize, index)) return new MalformedError('bad fragment length')
  return undefined
}

/** Length of fragment `index` of an envelope of `totalSize` bytes. */
export function fragmentLength(totalSize: number, index: number): number {
  return Math.min(FRAGMENT_BYTES, totalSize - index * FRAGMENT_BYTES)
}

// ---- decoding ----

/**
 * Result of {@link tryDecodeMessage}: a message, or why the datagram is not one. `refused`: a
 * request that is well-formed but breaks a rule of its fields (an envelope over 64 KiB, a
 * fragment count that does not match its size…); it is answered with `error`, not dropped.
 */
export type DecodeResult =
  | { ok: true; message: DhtMessage }
  | { ok: false; reason: DropReason; error: PassageError; refused?: DhtMessage }

/** Thrown by {@link decodeMessage} for a well-formed request that breaks a rule of its fields. */
class RefusedRequest extends Error {
  constructor(
    readonly request: DhtMessage,
    readonly answer: PassageError,
  ) {
    super(answer.message)
  }
}

/** Decodes untrusted bytes; never throws. `addresses`: as for {@link decodeMessage}. */
export function tryDecodeMessage(bytes: Uint8Array, addresses?: AddressCache): DecodeResult {
  if (bytes.byteLength > MAX_DATAGRAM_BYTES) {
    return { ok: false, reason: 'oversized', error: new MalformedError('datagram over 1280 bytes') }
  }
  if (bytes.byteLength >= 2 && bytes[0] === DHT_MAGIC && bytes[1] !== DHT_VERSION) {
    return { ok: false, reason: 'bad-version', error: new MalformedError('unknown DHT version') }
  }
  if (bytes.byteLength >= 3 && bytes[0] === DHT_MAGIC && !KNOWN_TYPES.has(bytes[2]!)) {
    return { ok: false, reason: 'unknown-type', error: new MalformedError('unknown type') }
  }
  try {
    return { ok: true, message: decodeLayout(bytes, addresses) }
  } catch (error) {
    if (error instanceof RefusedRequest) {
      return { ok: false, reason: 'malformed', error: error.answer, refused: error.request }
    }
    const e = error instanceof MalformedError ? error : new MalformedError(String(error))
    return { ok: false, reason: 'malformed', error: e }
  }
}

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(MessageType))

/**
 * Decodes a datagram; throws {@link MalformedError} for anything but a well-formed message
 * ({@link TooLargeError} for a put of an envelope over 64 KiB).
 * `addresses`: a node's cache of formatted IPv4 addresses (optional; the message is the same).
 */
export function decodeMessage(bytes: Uint8Array, addresses?: AddressCache): DhtMessage {
  try {
    return decodeLayout(bytes, addresses)
  } catch (error) {
    throw error instanceof RefusedRequest ? error.answer : error
  }
}

/**
 * {@link decodeMessage}, but a well-formed request whose fields break a rule throws a
 * {@link RefusedRequest} carrying the request (to answer) and the error (the answer).
 */
function decodeLayout(bytes: Uint8Array, addresses: AddressCache | undefined): DhtMessage {
  if (bytes.byteLength > MAX_DATAGRAM_BYTES) throw new MalformedError('datagram over 1280 bytes')
  const r = new BinaryReader(bytes)
  if (r.u8('magic') !== DHT_MAGIC) throw new MalformedError('not a Passage DHT datagram')
  if (r.u8('version') !== DHT_VERSION) throw new MalformedError('unknown DHT version')
  const typeByte = r.u8('type')
  const flags = r.u8('flags')
  if ((flags & ~KNOWN_FLAGS) !== 0) throw new MalformedError('unknown flag bits')
  const txid = r.fixed(TXID_BYTES, 'txid')
  const senderKey = readKey(r, 'senderKey')
  const mac = (flags & Flag.mac) !== 0
  if (mac && (flags & (Flag.wantProof | Flag.hasProof)) === 0) {
    throw new MalformedError('the mac flag goes with want-proof or has-proof')
  }
  const proof =
    flags & Flag.hasProof ? r.fixed(mac ? PROOF_MAC_BYTES : SIGNATURE_BYTES, 'proof') : undefined
  const wantProof = (flags & Flag.wantProof) !== 0
  let addressToken: Bytes | undefined
  if (flags & Flag.token) {
    addressToken = readToken(r)
    if (addressToken.byteLength === 0) throw new MalformedError('empty address token')
  }
  const broken: RuleBreach = { error: undefined }
  const body = decodeBody(r, typeByte, addresses, broken)
  const isRequest = REQUEST_KINDS.has(body.type)
  // A request may be padded with zero bytes (the amplification guard); a response may not.
  if (isRequest) r.zeros('padding')
  else r.end('datagram')
  if (isRequest && proof) throw new MalformedError('a request carries no proof')
  if (!isRequest && wantProof) throw new MalformedError('a response asks for no proof')
  if (!isRequest && addressToken) throw new MalformedError('a response carries no address token')
  // The header joins the body object itself: no second copy of every field per datagram.
  const msg = body as DhtMessage
  msg.txid = txid
  msg.senderKey = senderKey
  msg.client = (flags & Flag.client) !== 0
  msg.wantProof = wantProof
  msg.proof = proof
  if (mac) msg.mac = true
  if (addressToken) msg.addressToken = addressToken
  if (broken.error) throw new RefusedRequest(msg, broken.error)
  return msg
}

/** The first rule a request's fields break (its layout being sound): it is answered, not dropped. */
interface RuleBreach {
  error: PassageError | undefined
}

function decodeBody(
  r: BinaryReader,
  typeByte: number,
  addresses: AddressCache | undefined,
  broken: RuleBreach,
): MessageBody {
  switch (typeByte) {
    case MessageType.ping:
      return { type: 'ping' }
    case MessageType.pong:
      return { type: 'pong', observed: readAddress(r, addresses), token: readToken(r) }
    case MessageType.findNode:
      return { type: 'find-node', target: r.fixed(NODE_ID_BYTES, 'target') }
    case MessageType.nodes: {
      const token = readToken(r)
      const count = r.u8('count')
      if (count > MAX_NODES_PER_REPLY) throw new MalformedError('too many nodes')
      const nodes: NodeInfo[] = new Array<NodeInfo>(count)
      for (let i = 0; i < count; i++) {
        const id = r.fixed(NODE_ID_BYTES, 'node id')
        const { host, port } = readAddress(r, addresses)
        nodes[i] = { id, host, port }
      }
      return { type: 'nodes', token, nodes }
    }
    case MessageType.mailboxPut: {
      const token = readToken(r)
      const mailboxKey = r.fixed(NODE_ID_BYTES, 'mailboxKey')
      const envelopeId = r.fixed(ENVELOPE_ID_BYTES, 'envelopeId')
      const ttlSeconds = r.u32('ttl')
      const totalSize = r.u32('totalSize')
      const index = r.u16('index')
      const count = r.u16('count')
      const data = r.bytes16('data')
      broken.error = fragmentRuleError(totalSize, index, count, data.byteLength)
      return {
        type: 'mailbox-put',
        token,
        mailboxKey,
        envelopeId,
        ttlSeconds,
        totalSize,
        index,
        count,
        data,
      }
    }
    case MessageType.mailboxPutAck: {
      const envelopeId = r.fixed(ENVELOPE_ID_BYTES, 'envelopeId')
      const index = r.u16('index')
      return { type: 'mailbox-put-ack', envelopeId, index, stored: readBool(r, 'stored') }
    }
    case MessageType.mailboxGet: {
      const auth = readAuth(r)
      const kindByte = r.u8('kind')
      if (kindByte > 1) broken.error = new MalformedError('kind must be 0 (list) or 1 (read)')
      const envelopeId = r.fixed(ENVELOPE_ID_BYTES, 'envelopeId')
      const index = r.u16('index')
      return {
        type: 'mailbox-get',
        auth,
        kind: kindByte === 0 ? 'list' : 'read',
        envelopeId,
        index,
      }
    }
    case MessageType.mailboxResult: {
      const kind = r.u8('kind')
      if (kind === 0) {
        const more = readBool(r, 'more')
        const count = r.u8('count')
        if (count > MAX_LIST_ENTRIES) throw new MalformedError('too many entries')
        const entries: MailboxListEntry[] = []
        for (let i = 0; i < count; i++) {
          const id = r.fixed(ENVELOPE_ID_BYTES, 'envelopeId')
          const size = r.u32('size')
          if (size < 1 || size > MAX_ENVELOPE_BYTES) throw new MalformedError('bad size')
          entries.push({ id, size, expiresAt: r.u64('expiresAt') })
        }
        return { type: 'mailbox-list', more, entries }
      }
      if (kind === 1) {
        const envelopeId = r.fixed(ENVELOPE_ID_BYTES, 'envelopeId')
        const index = r.u16('index')
        const count = r.u16('count')
        const totalSize = r.u32('totalSize')
        const data = r.bytes16('data')
        checkFragment(totalSize, index, count, data.byteLength)
        return { type: 'mailbox-fragment', envelopeId, index, count, totalSize, data }
      }
      throw new MalformedError('unknown mailbox result kind')
    }
    case MessageType.mailboxDelete: {
      const auth = readAuth(r)
      const count = r.u8('count')
      if (count === 0 || count > MAX_DELETE_IDS) {
        broken.error = new MalformedError(`a delete names 1 to ${MAX_DELETE_IDS} envelopes`)
      }
      const ids: Bytes[] = []
      for (let i = 0; i < count; i++) ids.push(r.fixed(ENVELOPE_ID_BYTES, 'envelopeId'))
      return { type: 'mailbox-delete', auth, ids }
    }
    case MessageType.mailboxDeleteAck:
      return { type: 'mailbox-delete-ack', deleted: r.u8('deleted') }
    case MessageType.mailboxPutMany: {
      const token = readToken(r)
      const count = r.u8('count')
      if (count === 0 || count > MAX_PUT_MANY_ENVELOPES) {
        broken.error = new MalformedError(
          `a put-many carries 1 to ${MAX_PUT_MANY_ENVELOPES} envelopes`,
        )
      }
      const envelopes: PutManyEnvelope[] = new Array<PutManyEnvelope>(count)
      for (let i = 0; i < count; i++) {
        const mailboxKey = r.fixed(NODE_ID_BYTES, 'mailboxKey')
        const envelopeId = r.fixed(ENVELOPE_ID_BYTES, 'envelopeId')
        const ttlSeconds = r.u32('ttl')
        envelopes[i] = { mailboxKey, envelopeId, ttlSeconds, data: r.bytes16('data') }
      }
      return { type: 'mailbox-put-many', token, envelopes }
    }
    case MessageType.mailboxPutAcks: {
      const count = r.u8('count')
      if (count > MAX_PUT_MANY_ENVELOPES) throw new MalformedError('too many results')
      const results: PutManyResult[] = new Array<PutManyResult>(count)
      for (let i = 0; i < count; i++) {
        const stored = readBool(r, 'stored')
        const code = r.u16('code')
        if (stored && code !== 0) throw new MalformedError('a stored envelope has code 0')
        results[i] = { stored, code }
      }
      return { type: 'mailbox-put-acks', results }
    }
    case MessageType.recordPut:
      return { type: 'record-put', token: readToken(r), record: r.bytes16('record') }
    case MessageType.recordPutAck:
      return { type: 'record-put-ack', seq: r.u64('seq') }
    case MessageType.recordGet:
      return { type: 'record-get', key: r.fixed(NODE_ID_BYTES, 'key') }
    case MessageType.recordResult:
      return {
        type: 'record-result',
        record: readBool(r, 'found') ? r.bytes16('record') : undefined,
      }
    case MessageType.error: {
      const code = r.u16('code')
      const text = r.bytes8('message')
      if (text.byteLength > MAX_ERROR_TEXT_BYTES) throw new MalformedError('error text too long')
      return { type: 'error', code, message: fromUtf8(text, 'error message') }
    }
    default:
      throw new MalformedError(`unknown message type ${typeByte}`)
  }
}

function readBool(r: BinaryReader, what: string): boolean {
  const b = r.u8(what)
  if (b > 1) throw new MalformedError(`${what} must be 0 or 1`)
  return b === 1
}

function readKey(r: BinaryReader, what: string): Bytes {
  const key = r.fixed(PUBLIC_KEY_BYTES, what)
  if (key[0] !== 0x05) throw new MalformedError(`${what} must start with 0x05`)
  return key
}

function readToken(r: BinaryReader): Bytes {
  const token = r.bytes8('token')
  if (token.byteLength > MAX_TOKEN_BYTES) throw new MalformedError('token too long')
  return token
}

function readAuth(r: BinaryReader): MailboxAuth {
  return {
    ownerKey: readKey(r, 'ownerKey'),
    timestamp: r.u64('timestamp'),
    nonce: r.fixed(NONCE_BYTES, 'nonce'),
    signature: r.fixed(SIGNATURE_BYTES, 'signature'),
  }
}

function readAddress(r: BinaryReader, addresses: AddressCache | undefined): NodeAddress {
  const family = r.u8('family')
  let host: string
  if (family === 4) {
    const value = r.u32('ipv4')
    host = addresses ? addresses.ipv4Text(value) : formatIpv4(value)
  } else if (family === 6) host = formatIpv6(r.fixed(16, 'ipv6'))
  else throw new MalformedError('unknown address family')
  const port = r.u16('port')
  if (port === 0) throw new MalformedError('port 0')
  return { host, port }
}
