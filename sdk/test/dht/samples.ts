// Fixed sample messages: the byte-level vectors of docs/PROTOCOL.md ("DHT messages (UDP)")
// are these messages encoded. Signatures were made once with the test identities.
import {
  Identity,
  concatBytes,
  envelopeIdOf,
  fromHex,
  mailboxKeyFor,
  recordKeyFor,
  utf8,
  type DhtMessage,
  type MessageHeader,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { hexVector } from '../helpers/protocol-doc.js'

export const alice = Identity.fromPrivateKey(libsignalKeys, hexVector('alice.privateKey'))
export const server = Identity.fromPrivateKey(
  libsignalKeys,
  hexVector('alice.privateKey').map((_, i) => (i === 0 ? 0xb0 : 0x22)),
)
export const TXID = fromHex('0102030405060708')
export const TOKEN = fromHex('c0'.repeat(16))
export const NONCE = fromHex('a0'.repeat(16))
export const TIMESTAMP = 1_764_140_000_000
export const ENVELOPE_ID = fromHex('e1'.repeat(16))
/** Server's proof over (TXID, alice.id). */
export const PROOF = fromHex(
  'c7904b2030df59585a6654fe82de9ce8d7c8319195afce857003b351747d3cd3' +
    '98f8de93c92cde973a9e7908b4251f8aadba2fcb0ef3c62f2d9695b1271d550b',
)
/** Alice's signature for Server over a list request from the start. */
export const GET_SIGNATURE = fromHex(
  '173b63b26cce98d7ed65276fc8889c2f6e70677240f448f0fb1fbacc0e8fed10' +
    '2312836e486a0d941b9f0c91a02df1a403b741ffb9aaccd20581da8251d5a80e',
)
/** Alice's signature for Server over deleting ENVELOPE_ID. */
export const DELETE_SIGNATURE = fromHex(
  '9c5e7dd800a549110cd1575065539d86e215b377f1e0a108262a6ad264801345' +
    '99216cf5a89ba450e2afc2fded3e431013888370cef6763d1b740a4917d05809',
)
export const HELLO = utf8('hello')
export const SERVER_MAILBOX = mailboxKeyFor(server.publicKey)
export const HELLO_ID = envelopeIdOf(SERVER_MAILBOX, HELLO)
export const WORLD = utf8('world')
export const WORLD_ID = envelopeIdOf(SERVER_MAILBOX, WORLD)
export const RECORD = concatBytes(hexVector('announce.body'), hexVector('announce.signature'))

const fromAlice = (extra: Partial<MessageHeader> = {}): MessageHeader => ({
  txid: TXID,
  senderKey: alice.publicKey,
  client: false,
  wantProof: false,
  proof: undefined,
  ...extra,
})
const fromServer = (extra: Partial<MessageHeader> = {}): MessageHeader => ({
  ...fromAlice(),
  senderKey: server.publicKey,
  ...extra,
})

/** One message of every kind, by vector name (`dht.<name>` in docs/PROTOCOL.md). */
export function samples(): Record<string, DhtMessage> {
  return {
    ping: { ...fromAlice({ wantProof: true }), type: 'ping' },
    pong: {
      ...fromServer({ proof: PROOF }),
      type: 'pong',
      observed: { host: '203.0.113.7', port: 7401 },
      token: TOKEN,
    },
    findNode: {
      ...fromAlice({ client: true }),
      type: 'find-node',
      target: fromHex('ab'.repeat(20)),
    },
    nodes: {
      ...fromServer(),
      type: 'nodes',
      token: TOKEN,
      nodes: [
        { id: alice.id, host: '203.0.113.7', port: 7401 },
        { id: fromHex('cd'.repeat(20)), host: '2001:db8::1', port: 7402 },
      ],
    },
    mailboxPut: {
      ...fromAlice(),
      type: 'mailbox-put',
      token: TOKEN,
      mailboxKey: SERVER_MAILBOX,
      envelopeId: HELLO_ID,
      ttlSeconds: 1_209_600,
      totalSize: 5,
      index: 0,
      count: 1,
      data: HELLO,
    },
    mailboxPutAck: {
      ...fromServer(),
      type: 'mailbox-put-ack',
      envelopeId: HELLO_ID,
      index: 0,
      stored: true,
    },
    mailboxGet: {
      ...fromAlice(),
      type: 'mailbox-get',
      auth: {
        ownerKey: alice.publicKey,
        timestamp: TIMESTAMP,
        nonce: NONCE,
        signature: GET_SIGNATURE,
      },
      kind: 'list',
      envelopeId: new Uint8Array(16),
      index: 0,
    },
    mailboxList: {
      ...fromServer(),
      type: 'mailbox-list',
      more: false,
      entries: [{ id: ENVELOPE_ID, size: 5, expiresAt: 1_765_349_600_000 }],
    },
    mailboxFragment: {
      ...fromServer(),
      type: 'mailbox-fragment',
      envelopeId: ENVELOPE_ID,
      index: 0,
      count: 1,
      totalSize: 5,
      data: HELLO,
    },
    mailboxDelete: {
      ...fromAlice(),
      type: 'mailbox-delete',
      auth: {
        ownerKey: alice.publicKey,
        timestamp: TIMESTAMP,
        nonce: NONCE,
        signature: DELETE_SIGNATURE,
      },
      ids: [ENVELOPE_ID],
    },
    mailboxDeleteAck: { ...fromServer(), type: 'mailbox-delete-ack', deleted: 1 },
    mailboxPutMany: {
      ...fromAlice(),
      type: 'mailbox-put-many',
      token: TOKEN,
      envelopes: [
        { mailboxKey: SERVER_MAILBOX, envelopeId: HELLO_ID, ttlSeconds: 1_209_600, data: HELLO },
        { mailboxKey: SERVER_MAILBOX, envelopeId: WORLD_ID, ttlSeconds: 1_209_600, data: WORLD },
      ],
    },
    mailboxPutAcks: {
      ...fromServer(),
      type: 'mailbox-put-acks',
      results: [
        { stored: true, code: 0 },
        { stored: false, code: 10 },
      ],
    },
    recordPut: { ...fromAlice(), type: 'record-put', token: TOKEN, record: RECORD },
    recordPutAck: { ...fromServer(), type: 'record-put-ack', seq: 7 },
    recordGet: { ...fromAlice(), type: 'record-get', key: recordKeyFor(alice.publicKey, 1) },
    recordResult: { ...fromServer(), type: 'record-result', record: RECORD },
    recordResultEmpty: { ...fromServer(), type: 'record-result', record: undefined },
    error: { ...fromServer(), type: 'error', code: 10, message: 'mailbox full' },
  }
}
