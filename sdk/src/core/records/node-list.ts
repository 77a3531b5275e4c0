import type { Verifier } from '../crypto/key-provider.js'
import { KeyMismatchError, MalformedError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import { NODE_ID_BYTES, nodeIdFromPublicKey, type NodeId } from '../identity/node-id.js'
import { encodeTextId } from '../identity/text-id.js'
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
  decodeSignedRecord,
  encodeSignedRecord,
  MAX_RECORD_PAYLOAD_BYTES,
  RecordType,
  signRecord,
  verifyRecord,
  type SignedRecord,
} from './signed-record.js'

/** At most this many super-nodes in one list (the 1024-byte payload limit may allow fewer). */
export const MAX_NODE_LIST_NODES = 16
/** Longest base URL of a listed super-node, in UTF-8 bytes: room for a long DNS name. */
export const MAX_NODE_URL_BYTES = 200

/** One healthy super-node, as another super-node saw it. */
export interface NodeListEntry {
  /** Base URL of its HTTP API, e.g. `https://passage.example.org`. */
  url: string
  /** Its ID, as its `GET /v1/info` said. */
  id: NodeId
  /** Its DHT endpoint (UDP), or null when it runs no DHT. */
  dht: { host: string; port: number } | null
  /** When the signer last saw it answer, ms since the Unix epoch. */
  lastChecked: number
}

/** A signed list of super-nodes (record type 5), decoded. */
export interface NodeList {
  /** The signer's (the serving super-node's) public key. */
  publicKey: Bytes
  seq: number
  timestamp: number
  nodes: NodeListEntry[]
  signature: Bytes
}

/** The JSON form of `GET /v1/nodes`; `record` is the signed record itself (base64url). */
export interface NodeListJson {
  /** The signer's text ID. */
  id: string
  publicKey: string
  seq: number
  timestamp: number
  nodes: {
    url: string
    id: string
    dht: { host: string; port: number } | null
    lastChecked: number
  }[]
  record: string
}

function checkEntry(entry: NodeListEntry): void {
  if (utf8(entry.url).byteLength > MAX_NODE_URL_BYTES || !/^https?:\/\/\S+$/.test(entry.url)) {
    throw new MalformedError(
      `a listed node needs an http(s) URL of at most ${MAX_NODE_URL_BYTES} bytes`,
    )
  }
  if (entry.id.byteLength !== NODE_ID_BYTES) throw new MalformedError('a listed node needs an ID')
  if (entry.dht && (entry.dht.host === '' || entry.dht.port < 1 || entry.dht.port > 65_535)) {
    throw new MalformedError('a DHT endpoint needs a host and a port from 1 to 65535')
  }
}

/**
 * The canonical payload: `u8 count`, then per node `bytes8 url`, `id` (20 bytes),
 * `bytes8 dhtHost` (empty: no DHT), `u16 dhtPort` (0: no DHT), `u64 lastChecked`.
 */
export function encodeNodeListPayload(nodes: NodeListEntry[]): Bytes {
  if (nodes.length > MAX_NODE_LIST_NODES) {
    throw new MalformedError(`a node list carries at most ${MAX_NODE_LIST_NODES} nodes`)
  }
  const writer = new BinaryWriter().u8(nodes.length)
  for (const entry of nodes) {
    checkEntry(entry)
    writer
      .bytes8(utf8(entry.url), 'url')
      .fixed(entry.id, NODE_ID_BYTES, 'id')
      .bytes8(utf8(entry.dht?.host ?? ''), 'dht host')
      .u16(entry.dht?.port ?? 0)
      .u64(entry.lastChecked)
  }
  return writer.finish()
}

export function decodeNodeListPayload(payload: Uint8Array): NodeListEntry[] {
  const reader = new BinaryReader(payload)
  const count = reader.u8('node count')
  if (count > MAX_NODE_LIST_NODES) throw new MalformedError('too many nodes in a node list')
  const nodes: NodeListEntry[] = []
  for (let i = 0; i < count; i++) {
    const url = fromUtf8(reader.bytes8('url'), 'url')
    const id = reader.fixed(NODE_ID_BYTES, 'id')
    const host = fromUtf8(reader.bytes8('dht host'), 'dht host')
    const port = reader.u16('dht port')
    const lastChecked = reader.u64('lastChecked')
    if ((host === '') !== (port === 0)) {
      throw new MalformedError('a DHT endpoint has both a host and a port, or neither')
    }
    const entry = { url, id, dht: host === '' ? null : { host, port }, lastChecked }
    checkEntry(entry)
    nodes.push(entry)
  }
  reader.end('node list payload')
  return nodes
}

/** Bytes of the payload for `nodes`: to keep a list within {@link MAX_RECORD_PAYLOAD_BYTES}. */
export function nodeListPayloadBytes(nodes: NodeListEntry[]): number {
  return encodeNodeListPayload(nodes).byteLength
}

/** The record form of a list. */
export function nodeListToRecord(list: NodeList): SignedRecord {
  return {
    type: RecordType.nodeList,
    publicKey: list.publicKey,
    seq: list.seq,
    timestamp: list.timestamp,
    payload: encodeNodeListPayload(list.nodes),
    signature: list.signature,
  }
}

/** Signs a list of super-nodes with `identity` (the serving super-node's key). */
export function createNodeList(
  identity: Identity,
  fields: { seq: number; timestamp: number; nodes: NodeListEntry[] },
): NodeList {
  const payload = encodeNodeListPayload(fields.nodes)
  if (payload.byteLength > MAX_RECORD_PAYLOAD_BYTES) {
    throw new MalformedError(`a node list payload is at most ${MAX_RECORD_PAYLOAD_BYTES} bytes`)
  }
  const record = signRecord(identity, {
    type: RecordType.nodeList,
    seq: fields.seq,
    timestamp: fields.timestamp,
    payload,
  })
  return {
    publicKey: record.publicKey,
    seq: record.seq,
    timestamp: record.timestamp,
    nodes: fields.nodes.map((node) => ({ ...node, dht: node.dht && { ...node.dht } })),
    signature: record.signature,
  }
}

/** The JSON form served at `GET /v1/nodes`. */
export function nodeListToJson(list: NodeList): NodeListJson {
  return {
    id: encodeTextId(nodeIdFromPublicKey(list.publicKey)),
    publicKey: toBase64Url(list.publicKey),
    seq: list.seq,
    timestamp: list.timestamp,
    nodes: list.nodes.map((node) => ({
      url: node.url,
      id: encodeTextId(node.id),
      dht: node.dht && { ...node.dht },
      lastChecked: node.lastChecked,
    })),
    record: toBase64Url(encodeSignedRecord(nodeListToRecord(list))),
  }
}

/**
 * Decodes and verifies the signed record of a node list (the `record` field of
 * `GET /v1/nodes`, base64url, or its bytes) against the public key the client trusts for
 * that super-node (from `GET /v1/info`, checked against its ID). Only the record counts:
 * the other JSON fields are a convenience and are not signed on their own.
 *
 * @throws MalformedError when it is not a node-list record, BadSignatureError when the
 *   signature does not verify, KeyMismatchError when another key signed it.
 */
export function verifyNodeListRecord(
  record: string | Uint8Array,
  signerPublicKey: Uint8Array,
  verifier: Verifier,
): NodeList {
  const bytes = typeof record === 'string' ? fromBase64Url(record, 'record') : record
  const decoded = decodeSignedRecord(bytes)
  if (decoded.type !== RecordType.nodeList) {
    throw new MalformedError(`expected a node-list record (type 5), got type ${decoded.type}`)
  }
  if (!equalBytes(decoded.publicKey, signerPublicKey)) {
    throw new KeyMismatchError('the node list is signed by another key than the server’s')
  }
  verifyRecord(decoded, verifier)
  return {
    publicKey: decoded.publicKey,
    seq: decoded.seq,
    timestamp: decoded.timestamp,
    nodes: decodeNodeListPayload(decoded.payload),
    signature: decoded.signature,
  }
}
