import type { Verifier } from '../crypto/key-provider.js'
import { ClockSkewError, KeyMismatchError, MalformedError, WrongAudienceError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import { idMatchesKey } from '../identity/identity.js'
import {
  NODE_ID_BYTES,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  type NodeId,
} from '../identity/node-id.js'
import { encodeTextId, parseTextId } from '../identity/text-id.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import {
  equalBytes,
  fromBase64Url,
  fromUtf8,
  toBase64Url,
  utf8,
  type Bytes,
} from '../wire/bytes.js'
import {
  RecordType,
  signRecord,
  verifyRecord,
  type SignedRecord,
  type UnsignedRecord,
} from './signed-record.js'

/** Accepted clock skew for announces: ±60 s, as Session's storage servers accept. */
export const ANNOUNCE_SKEW_MS = 60_000
/** At most this many addresses in one announce. */
export const MAX_ANNOUNCE_ADDRESSES = 8
/** Longest host name in an address (DNS's limit). */
export const MAX_HOST_BYTES = 253

/** How a peer can be reached at an address. */
export type Transport = 'tcp' | 'udp'
const TRANSPORT_CODES: Record<Transport, number> = { tcp: 1, udp: 2 }

/**
 * One way to reach a node. `tcp` is a direct link; `udp` is its DHT endpoint. An empty
 * `host` means "the address this announce came from" (a node behind NAT does not know it).
 */
export interface PeerAddress {
  transport: Transport
  host: string
  port: number
}

/** A node's announce, decoded: who it is, where it is, for which server, when. */
export interface Announce {
  id: NodeId
  publicKey: Bytes
  seq: number
  timestamp: number
  /** The ID of the super-node this announce is for; replaying it to another one fails. */
  audience: NodeId
  addresses: PeerAddress[]
  signature: Bytes
}

/** The JSON form used over HTTP (`POST /v1/announce` and peer lists). */
export interface AnnounceJson {
  id: string
  publicKey: string
  seq: number
  timestamp: number
  audience: string
  addresses: PeerAddress[]
  signature: string
}

export function encodeAnnouncePayload(audience: NodeId, addresses: PeerAddress[]): Bytes {
  if (audience.byteLength !== NODE_ID_BYTES) throw new MalformedError('audience must be an ID')
  checkAddresses(addresses)
  const writer = new BinaryWriter().fixed(audience, NODE_ID_BYTES, 'audience').u8(addresses.length)
  for (const address of addresses) {
    writer
      .u8(TRANSPORT_CODES[address.transport])
      .bytes8(utf8(address.host), 'host')
      .u16(address.port)
  }
  return writer.finish()
}

export function decodeAnnouncePayload(payload: Uint8Array): {
  audience: NodeId
  addresses: PeerAddress[]
} {
  const reader = new BinaryReader(payload)
  const audience = reader.fixed(NODE_ID_BYTES, 'audience')
  const count = reader.u8('address count')
  const addresses: PeerAddress[] = []
  for (let i = 0; i < count; i++) {
    const code = reader.u8('transport')
    const transport = code === 1 ? 'tcp' : code === 2 ? 'udp' : undefined
    if (!transport) throw new MalformedError(`unknown transport ${code}`)
    const host = fromUtf8(reader.bytes8('host'), 'host')
    const port = reader.u16('port')
    addresses.push({ transport, host, port })
  }
  reader.end('announce payload')
  checkAddresses(addresses)
  return { audience, addresses }
}

function checkAddresses(addresses: PeerAddress[]): void {
  if (addresses.length < 1 || addresses.length > MAX_ANNOUNCE_ADDRESSES) {
    throw new MalformedError(`an announce carries 1 to ${MAX_ANNOUNCE_ADDRESSES} addresses`)
  }
  for (const { transport, host, port } of addresses) {
    if (!(transport in TRANSPORT_CODES)) throw new MalformedError(`unknown transport ${transport}`)
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new MalformedError(`port must be 1 to 65535, got ${port}`)
    }
    if (utf8(host).byteLength > MAX_HOST_BYTES || !isHost(host)) {
      throw new MalformedError(`host is not an IP address or a DNS name: ${JSON.stringify(host)}`)
    }
  }
}

const HOSTNAME =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i
const IPV6 = /^[0-9a-f:.]+$/i

function isHost(host: string): boolean {
  if (host === '') return true
  if (host.includes(':')) return IPV6.test(host) && host.split(':').length <= 8
  return HOSTNAME.test(host)
}

export function announceToRecord(announce: Announce): SignedRecord {
  return {
    type: RecordType.announce,
    publicKey: announce.publicKey,
    seq: announce.seq,
    timestamp: announce.timestamp,
    payload: encodeAnnouncePayload(announce.audience, announce.addresses),
    signature: announce.signature,
  }
}

/** Signs an announce of `identity` for the super-node `audience`. */
export function createAnnounce(
  identity: Identity,
  fields: { audience: NodeId; addresses: PeerAddress[]; seq: number; timestamp: number },
): Announce {
  const record = signRecord(identity, {
    type: RecordType.announce,
    seq: fields.seq,
    timestamp: fields.timestamp,
    payload: encodeAnnouncePayload(fields.audience, fields.addresses),
  })
  return {
    id: identity.id,
    publicKey: identity.publicKey,
    seq: fields.seq,
    timestamp: fields.timestamp,
    audience: fields.audience,
    addresses: fields.addresses.map((a) => ({ ...a })),
    signature: record.signature,
  }
}

export function announceToJson(announce: Announce): AnnounceJson {
  return {
    id: encodeTextId(announce.id),
    publicKey: toBase64Url(announce.publicKey),
    seq: announce.seq,
    timestamp: announce.timestamp,
    audience: encodeTextId(announce.audience),
    addresses: announce.addresses.map((a) => ({ ...a })),
    signature: toBase64Url(announce.signature),
  }
}

/** Parses the JSON form; checks shapes and lengths only (see {@link verifyAnnounce}). */
export function announceFromJson(json: AnnounceJson): Announce {
  const publicKey = fromBase64Url(json.publicKey, 'publicKey')
  if (publicKey.byteLength !== PUBLIC_KEY_BYTES || publicKey[0] !== 0x05) {
    throw new MalformedError(`publicKey must be ${PUBLIC_KEY_BYTES} bytes starting with 0x05`)
  }
  const signature = fromBase64Url(json.signature, 'signature')
  if (signature.byteLength !== SIGNATURE_BYTES) {
    throw new MalformedError(`signature must be ${SIGNATURE_BYTES} bytes`)
  }
  for (const [name, value] of [
    ['seq', json.seq],
    ['timestamp', json.timestamp],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new MalformedError(`${name} must be a non-negative integer`)
    }
  }
  const addresses = json.addresses.map((a) => ({
    transport: a.transport,
    host: a.host,
    port: a.port,
  }))
  checkAddresses(addresses)
  return {
    id: parseTextId(json.id),
    publicKey,
    seq: json.seq,
    timestamp: json.timestamp,
    audience: parseTextId(json.audience),
    addresses,
    signature,
  }
}

/**
 * Checks an announce the way a super-node must: the ID is the key's hash, the signature
 * verifies, it was signed for `audience`, and (when `now` is given) its timestamp is within
 * ±`skewMs`. Replay (the sequence number must grow) needs storage and is the caller's check.
 * Throws {@link KeyMismatchError}, {@link BadSignatureError}, {@link WrongAudienceError} or
 * {@link ClockSkewError}.
 */
export function verifyAnnounce(
  announce: Announce,
  verifier: Verifier,
  options: { audience?: NodeId; now?: number; skewMs?: number } = {},
): void {
  if (!idMatchesKey(announce.id, announce.publicKey)) throw new KeyMismatchError()
  const record: UnsignedRecord & { signature: Bytes } = announceToRecord(announce)
  verifyRecord(record, verifier)
  if (options.audience && !equalBytes(options.audience, announce.audience)) {
    throw new WrongAudienceError()
  }
  if (options.now !== undefined) {
    const skew = options.skewMs ?? ANNOUNCE_SKEW_MS
    if (Math.abs(announce.timestamp - options.now) > skew) {
      throw new ClockSkewError(
        `the announce's timestamp is ${Math.round((announce.timestamp - options.now) / 1000)} s off this server's clock (±${skew / 1000} s accepted); check the clock`,
      )
    }
  }
}
