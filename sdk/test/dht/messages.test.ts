import t from 'tap'
import {
  BadTokenError,
  FRAGMENT_BYTES,
  MAX_DATAGRAM_BYTES,
  MAX_ENVELOPE_BYTES,
  MailboxFullError,
  MalformedError,
  RemoteError,
  WIRE_ERRORS,
  decodeMessage,
  encodeMessage,
  envelopeIdOf,
  errorFromWire,
  mailboxAuthInput,
  mailboxKeyFor,
  proofInput,
  recordKeyFor,
  toHex,
  tryDecodeMessage,
  wireErrorCode,
  type DhtMessage,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
// Internal: requests encode their header and body apart (not in the package's API).
import { encodeParts } from '../../src/core/dht/messages.js'
import { hexVector } from '../helpers/protocol-doc.js'
import {
  alice,
  DELETE_SIGNATURE,
  ENVELOPE_ID,
  GET_SIGNATURE,
  HELLO,
  NONCE,
  PROOF,
  samples,
  server,
  SERVER_MAILBOX,
  TIMESTAMP,
  TOKEN,
  TXID,
} from './samples.js'

t.test('every message encodes to its documented vector and decodes back', async (t) => {
  const all = samples()
  t.equal(Object.keys(all).length, 19)
  for (const [name, msg] of Object.entries(all)) {
    const vector = hexVector(`dht.${name}`)
    t.equal(toHex(encodeMessage(msg)), toHex(vector), `${name} encodes to dht.${name}`)
    const { txid, senderKey, client, wantProof, proof, mac, ...body } = msg
    const header = { txid, senderKey, client, wantProof, proof, mac: mac ?? false }
    t.equal(toHex(encodeParts(header, body as typeof msg)), toHex(vector), `${name} in parts`)
    t.same(decodeMessage(vector), msg, `dht.${name} decodes to the message`)
  }
})

t.test('derived keys, proof and signing inputs match the document', async (t) => {
  t.equal(toHex(mailboxKeyFor(alice.publicKey)), toHex(hexVector('dht.mailboxKey.alice')))
  t.equal(toHex(envelopeIdOf(SERVER_MAILBOX, HELLO)), toHex(hexVector('dht.envelopeId.hello')))
  t.equal(toHex(recordKeyFor(alice.publicKey, 1)), toHex(hexVector('dht.recordKey.aliceAnnounce')))
  t.equal(toHex(proofInput(TXID, alice.id)), toHex(hexVector('dht.proofInput')))
  const getInput = mailboxAuthInput(server.id, TIMESTAMP, NONCE, {
    type: 'mailbox-get',
    kind: 'list',
    envelopeId: new Uint8Array(16),
    index: 0,
  })
  t.equal(toHex(getInput), toHex(hexVector('dht.mailboxAuthInput.get')))
  t.ok(
    libsignalKeys.verify(server.publicKey, proofInput(TXID, alice.id), PROOF),
    'the pong proof verifies',
  )
  t.ok(libsignalKeys.verify(alice.publicKey, getInput, GET_SIGNATURE), 'the get signature verifies')
  const delInput = mailboxAuthInput(server.id, TIMESTAMP, NONCE, {
    type: 'mailbox-delete',
    ids: [ENVELOPE_ID],
  })
  t.ok(
    libsignalKeys.verify(alice.publicKey, delInput, DELETE_SIGNATURE),
    'the delete signature verifies',
  )
  // The audience binds the signature: for another node it does not verify.
  const other = mailboxAuthInput(alice.id, TIMESTAMP, NONCE, {
    type: 'mailbox-get',
    kind: 'list',
    envelopeId: new Uint8Array(16),
    index: 0,
  })
  t.notOk(libsignalKeys.verify(alice.publicKey, other, GET_SIGNATURE))
})

t.test('round trips of varied values, IPv4 and IPv6 addresses included', async (t) => {
  const hosts = [
    '127.0.0.1',
    '0.0.0.0',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1:2',
    '2001:db8:0:1:0:0:0:1',
    '1:2:3:4:5:6:7:8',
  ]
  const canonical: Record<string, string> = { '2001:db8:0:1:0:0:0:1': '2001:db8:0:1::1' }
  for (const host of hosts) {
    const msg: DhtMessage = {
      ...samples().pong!,
      type: 'pong',
      observed: { host, port: 65535 },
      token: new Uint8Array(0),
    } as DhtMessage
    const back = decodeMessage(encodeMessage(msg))
    t.equal(back.type === 'pong' && back.observed.host, canonical[host] ?? host, host)
  }
  for (let size of [
    1,
    FRAGMENT_BYTES - 1,
    FRAGMENT_BYTES,
    FRAGMENT_BYTES + 1,
    MAX_ENVELOPE_BYTES,
  ]) {
    const count = Math.ceil(size / FRAGMENT_BYTES)
    for (const index of [0, count - 1]) {
      const len = Math.min(FRAGMENT_BYTES, size - index * FRAGMENT_BYTES)
      const data = new Uint8Array(len).fill(index & 0xff)
      const put: DhtMessage = {
        ...samples().mailboxPut!,
        type: 'mailbox-put',
        totalSize: size,
        count,
        index,
        data,
      } as DhtMessage
      const bytes = encodeMessage(put)
      t.ok(bytes.byteLength <= MAX_DATAGRAM_BYTES)
      t.same(decodeMessage(bytes), put)
      const frag = {
        ...samples().mailboxFragment!,
        proof: PROOF,
        type: 'mailbox-fragment',
        totalSize: size,
        count,
        index,
        data,
      } as DhtMessage
      t.ok(encodeMessage(frag).byteLength <= MAX_DATAGRAM_BYTES)
      t.same(decodeMessage(encodeMessage(frag)), frag)
    }
    size++
  }
})

t.test('the largest messages fit in 1280 bytes', async (t) => {
  const s = samples()
  const nodes = {
    ...s.nodes!,
    proof: PROOF,
    token: new Uint8Array(32),
    nodes: Array.from({ length: 20 }, (_, i) => ({
      id: new Uint8Array(20).fill(i),
      host: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff' + (i % 10),
      port: 1 + i,
    })),
  } as DhtMessage
  t.ok(encodeMessage(nodes).byteLength <= MAX_DATAGRAM_BYTES)
  const list = {
    ...s.mailboxList!,
    proof: PROOF,
    entries: Array.from({ length: 32 }, () => ({
      id: ENVELOPE_ID,
      size: 65536,
      expiresAt: 2 ** 52,
    })),
  } as DhtMessage
  t.ok(encodeMessage(list).byteLength <= MAX_DATAGRAM_BYTES)
  const del = {
    ...s.mailboxDelete!,
    ids: Array.from({ length: 32 }, () => ENVELOPE_ID),
  } as DhtMessage
  t.ok(encodeMessage(del).byteLength <= MAX_DATAGRAM_BYTES)
  t.throws(
    () =>
      encodeMessage({ ...del, ids: Array.from({ length: 33 }, () => ENVELOPE_ID) } as DhtMessage),
    MalformedError,
  )
  t.throws(
    () =>
      encodeMessage({
        ...nodes,
        nodes: Array.from({ length: 21 }, () => (nodes as { nodes: unknown[] }).nodes[0]),
      } as DhtMessage),
    MalformedError,
  )
  const longError = { ...s.error!, message: 'x'.repeat(1000) } as DhtMessage
  const back = decodeMessage(encodeMessage(longError))
  t.equal(
    back.type === 'error' && back.message.length,
    200,
    'long error text is clipped to 200 bytes',
  )
})

t.test('bad datagrams are refused with a reason, never a throw', async (t) => {
  const ping = hexVector('dht.ping')
  t.match(tryDecodeMessage(new Uint8Array(1281)), { ok: false, reason: 'oversized' })
  t.match(tryDecodeMessage(new Uint8Array(0)), { ok: false, reason: 'malformed' })
  t.match(tryDecodeMessage(Uint8Array.of(0x51, 1, 1)), { ok: false, reason: 'malformed' })
  t.match(tryDecodeMessage(Uint8Array.of(0x50, 2, 1, 0)), { ok: false, reason: 'bad-version' })
  t.match(tryDecodeMessage(Uint8Array.of(0x50, 1, 0x55, 0)), { ok: false, reason: 'unknown-type' })
  const flags = ping.slice()
  flags[3] = 0x80
  t.match(tryDecodeMessage(flags), { ok: false, reason: 'malformed' }, 'unknown flag bits')
  const trailing = new Uint8Array([...ping, 1])
  t.match(tryDecodeMessage(trailing), { ok: false, reason: 'malformed' }, 'trailing bytes')
  const pong = hexVector('dht.pong')
  t.match(
    tryDecodeMessage(new Uint8Array([...pong, 0])),
    { ok: false, reason: 'malformed' },
    'a response is never padded',
  )
  const badKey = ping.slice()
  badKey[12] = 0x06
  t.match(tryDecodeMessage(badKey), { ok: false, reason: 'malformed' }, 'key not starting 0x05')
  // A request with a proof, a response asking for one.
  const withProof = hexVector('dht.ping').slice()
  withProof[3] = 0x04
  t.match(tryDecodeMessage(withProof), { ok: false, reason: 'malformed' })
  const pongWant = hexVector('dht.pong').slice()
  pongWant[3] = 0x06
  t.match(tryDecodeMessage(pongWant), { ok: false, reason: 'malformed' })
  // Every truncation of every vector is malformed.
  let truncations = 0
  for (const name of Object.keys(samples())) {
    const v = hexVector(`dht.${name}`)
    for (let n = 0; n < v.byteLength; n++) {
      const r = tryDecodeMessage(v.subarray(0, n))
      if (r.ok) t.fail(`dht.${name} truncated to ${n} decoded`)
      truncations++
    }
  }
  t.ok(truncations > 1000, `${truncations} truncations refused`)
  // A put whose fragment length disagrees with its size.
  const put = hexVector('dht.mailboxPut').slice()
  put[put.byteLength - 7 - 4] = 6 // totalSize low byte: 5 → 6
  t.match(tryDecodeMessage(put), { ok: false, reason: 'malformed' })
})

t.test('wire error codes map to SDK errors in both directions', async (t) => {
  const codes = new Set<number>()
  for (const [code, cls] of WIRE_ERRORS) {
    t.notOk(codes.has(code), `code ${code} used once`)
    codes.add(code)
    t.equal(wireErrorCode(new cls()), code)
    t.type(errorFromWire(code, 'x'), cls)
  }
  t.equal(wireErrorCode(new MailboxFullError()), 10)
  t.equal(wireErrorCode(new BadTokenError()), 9)
  t.equal(wireErrorCode(new Error('boom')), 0)
  t.type(errorFromWire(999, 'x'), RemoteError)
  t.equal(toHex(TOKEN).length, 32)
})
