// Issue 13, item 6: a node never answers an endpoint that has not proven its address with more
// bytes than it sent (docs/PROTOCOL.md, "DHT amplification guard"), and limits requests per
// source IP by default. Raw datagrams over real UDP on 127.0.0.1.
import t, { type Test } from 'tap'
import {
  DEFAULT_MAILBOX_QUOTA,
  DEFAULT_RATE_LIMIT,
  DhtNode,
  Identity,
  ManualClock,
  RecordType,
  UNPROVEN_PAD_BYTES,
  decodeMessage,
  encodeMessage,
  envelopeIdOf,
  fromHex,
  mailboxAuthInput,
  mailboxKeyFor,
  recordKeyFor,
  signRecord,
  KyberKeyPartRecordType,
  toHex,
  tryDecodeMessage,
  type DatagramSocket,
  type DhtMessage,
  type MessageBody,
  type NodeAddress,
} from '@passage/sdk'
import { bindUdpSocket, libsignalKeys } from '@passage/sdk/node'
import { createTestnet } from '@passage/sdk/testing'
// Internal: the limiter's memory bound is not part of the package's API.
import { RateLimiter } from '../../src/core/dht/rpc/rate-limiter.js'
import { hexVector } from '../helpers/protocol-doc.js'
import { alice, TOKEN, TXID } from './samples.js'

/** Longest wait for a node to process a datagram, or for an answer on loopback. */
const WAIT_MS = 3_000

async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

let txidCounter = 0
function nextTxid(): Uint8Array {
  const txid = new Uint8Array(8)
  new DataView(txid.buffer).setUint32(4, ++txidCounter)
  return txid
}

/** A header from Alice's raw socket: a client, as a phone would be. */
function request(body: MessageBody, extra: Partial<DhtMessage> = {}): DhtMessage {
  return {
    ...body,
    txid: nextTxid(),
    senderKey: alice.publicKey,
    client: true,
    wantProof: false,
    proof: undefined,
    ...extra,
  } as DhtMessage
}

/** A raw UDP endpoint that records every datagram it gets; it may answer pings (`pongs`). */
async function rawPeer(t: Test) {
  const socket: DatagramSocket = await bindUdpSocket('127.0.0.1', 0)
  t.teardown(() => socket.close())
  const inbox: { size: number; msg: DhtMessage | undefined }[] = []
  const peer = { socket, inbox, pongs: false, address: socket.address() }
  socket.onMessage((bytes, from) => {
    const decoded = tryDecodeMessage(bytes)
    const msg = decoded.ok ? decoded.message : undefined
    inbox.push({ size: bytes.byteLength, msg })
    if (peer.pongs && msg?.type === 'ping') {
      const pong = {
        type: 'pong',
        observed: from,
        token: TOKEN,
        txid: msg.txid,
        senderKey: alice.publicKey,
        client: true,
        wantProof: false,
        proof: undefined,
      } as DhtMessage
      void socket.send(encodeMessage(pong), from.port, from.host)
    }
  })
  return peer
}
type RawPeer = Awaited<ReturnType<typeof rawPeer>>

/** Requests the node processed: answered, or not answered for want of a proven address. */
function processed(node: DhtNode): number {
  const handled = Object.values(node.stats.handled).reduce((a, b) => a + (b ?? 0), 0)
  return handled + node.stats.dropped.unproven
}

/**
 * Sends `bytes` from the raw peer to the node, waits until the node processed it, then sends
 * a padded ping as a barrier and waits for its pong: everything the node sent back for
 * `bytes` arrived before it (one socket pair on loopback keeps order). Returns the bytes
 * and datagrams it sent back, the barrier's pong excluded.
 */
async function exchange(peer: RawPeer, node: DhtNode, bytes: Uint8Array) {
  const to = node.address()
  const from = peer.inbox.length
  const before = processed(node)
  await peer.socket.send(bytes, to.port, to.host)
  await until('the request processed', () => processed(node) > before)
  const barrier = request({ type: 'ping' })
  await peer.socket.send(
    encodeMessage(barrier, undefined, UNPROVEN_PAD_BYTES.ping),
    to.port,
    to.host,
  )
  const isBarrier = (m: DhtMessage | undefined) => !!m && toHex(m.txid) === toHex(barrier.txid)
  await until('the barrier pong', () => peer.inbox.slice(from).some((d) => isBarrier(d.msg)))
  const got = peer.inbox.slice(from).filter((d) => !isBarrier(d.msg))
  return { answered: got.reduce((a, d) => a + d.size, 0), replies: got.map((d) => d.msg) }
}

t.test('the token flag and padding match the document', async (t) => {
  const findNode = request({ type: 'find-node', target: fromHex('ab'.repeat(20)) })
  findNode.txid = TXID
  findNode.addressToken = TOKEN
  const vector = hexVector('dht.findNodeToken')
  t.equal(toHex(encodeMessage(findNode)), toHex(vector))
  t.same(decodeMessage(vector), findNode)
  const ping = request({ type: 'ping' }, { client: false, wantProof: true, mac: true })
  ping.txid = TXID
  const padded = hexVector('dht.pingPadded')
  t.equal(padded.byteLength, UNPROVEN_PAD_BYTES.ping)
  t.equal(toHex(encodeMessage(ping, undefined, UNPROVEN_PAD_BYTES.ping)), toHex(padded))
  t.same(decodeMessage(padded), ping, 'padding is read and dropped')
  const bad = (bytes: Uint8Array, why: string) => t.equal(tryDecodeMessage(bytes).ok, false, why)
  const nonZero = Uint8Array.from(padded)
  nonZero[160] = 1
  bad(nonZero, 'padding is zero bytes')
  const emptyToken = Uint8Array.from(vector.subarray(0, 46 + 20))
  emptyToken[45] = 0
  bad(emptyToken, 'an empty address token is malformed')
  const pong = Uint8Array.from(hexVector('dht.pongMac'))
  pong[3]! |= 0x10
  bad(pong, 'a response with flag token is malformed')
})

t.test('an unproven address never gets more bytes than it sent, of any request', async (t) => {
  const net = await createTestnet(21)
  t.teardown(() => net.destroy())
  const node = net.nodes[5]!
  // Something big to ask for: a record of 1000 bytes, and 40 envelopes in Alice's mailbox.
  const owner = alice
  const record = signRecord(owner, {
    type: RecordType.preKeyBundle,
    seq: 1,
    timestamp: Date.now(),
    payload: new Uint8Array(1000).fill(7),
  })
  const recordKey = recordKeyFor(owner.publicKey, RecordType.preKeyBundle)
  await node.recordStore.put(recordKey, record)
  const mailboxKey = mailboxKeyFor(owner.publicKey)
  const now = Date.now()
  let firstId: Uint8Array | undefined
  for (let i = 0; i < 40; i++) {
    const data = new Uint8Array(1500).fill(i + 1)
    const id = envelopeIdOf(mailboxKey, data)
    firstId ??= id
    const envelope = { mailboxKey, id, data, source: '127.0.0.1', storedAt: now }
    await node.mailboxStore.put(
      { ...envelope, expiresAt: now + 3_600_000 },
      DEFAULT_MAILBOX_QUOTA,
      now,
    )
  }
  const signed = (body: MessageBody & { type: 'mailbox-get' | 'mailbox-delete' }) => {
    const nonce = crypto.getRandomValues(new Uint8Array(16))
    const timestamp = Date.now()
    const auth = { ownerKey: owner.publicKey, timestamp, nonce, signature: new Uint8Array(64) }
    auth.signature = owner.sign(mailboxAuthInput(node.id, timestamp, nonce, body as never))
    return request({ ...body, auth } as MessageBody)
  }
  const zeroId = new Uint8Array(16)
  const cases: [string, DhtMessage][] = [
    ['ping (MAC proof)', request({ type: 'ping' }, { wantProof: true, mac: true })],
    ['ping (signature proof)', request({ type: 'ping' }, { wantProof: true })],
    ['find-node', request({ type: 'find-node', target: node.id })],
    ['record-get', request({ type: 'record-get', key: recordKey })],
    [
      'mailbox-get list',
      signed({ type: 'mailbox-get', kind: 'list', envelopeId: zeroId, index: 0 } as never),
    ],
    [
      'mailbox-get read',
      signed({ type: 'mailbox-get', kind: 'read', envelopeId: firstId!, index: 0 } as never),
    ],
    ['mailbox-delete', signed({ type: 'mailbox-delete', ids: [zeroId] } as never)],
    [
      'mailbox-put, bad token',
      request({
        type: 'mailbox-put',
        token: TOKEN,
        mailboxKey,
        envelopeId: envelopeIdOf(mailboxKey, Uint8Array.of(1)),
        ttlSeconds: 60,
        totalSize: 1,
        index: 0,
        count: 1,
        data: Uint8Array.of(1),
      } as MessageBody),
    ],
    [
      'record-put, bad token',
      request({ type: 'record-put', token: TOKEN, record: new Uint8Array(1) } as MessageBody),
    ],
  ]
  const peer = await rawPeer(t)
  for (const [name, msg] of cases) {
    const bytes = encodeMessage(msg)
    const { answered } = await exchange(peer, node, bytes)
    t.ok(answered <= bytes.byteLength, `${name}: ${answered} B answered to ${bytes.byteLength} B`)
  }
  t.ok(node.stats.dropped.unproven > 0, 'answers that did not fit were not sent')
  t.equal(node.table.get(alice.id), undefined, 'an unproven requester is not learned')

  // An endpoint that answers the node's check ping (as any DHT node does) has proven its
  // address: the resend gets its full answer, and so do its later requests.
  const prover = await rawPeer(t)
  prover.pongs = true
  const recordGet = encodeMessage(cases[3]![1])
  const responses = node.stats.responses
  const first = await exchange(prover, node, recordGet)
  t.equal(first.answered, 45, 'first: only the check ping, 45 bytes')
  t.equal(first.replies[0]?.type, 'ping')
  await until('the check pong', () => node.stats.responses > responses)
  for (const [name, msg] of [cases[3]!, cases[4]!, cases[2]!]) {
    const bytes = encodeMessage(msg)
    const again = await exchange(prover, node, bytes)
    t.ok(again.answered > 3 * bytes.byteLength, `${name}: ${again.answered} B, in full`)
    t.notOk(
      again.replies.some((m) => m?.type === 'error'),
      `${name}: not an error`,
    )
  }
})

t.test('a padded first request, then the token it got back, are answered in full', async (t) => {
  const net = await createTestnet(21)
  t.teardown(() => net.destroy())
  const node = net.nodes[3]!
  const record = signRecord(alice, {
    type: RecordType.deviceList,
    seq: 1,
    timestamp: Date.now(),
    payload: new Uint8Array(900).fill(9),
  })
  const key = recordKeyFor(alice.publicKey, RecordType.deviceList)
  await node.recordStore.put(key, record)
  const peer = await rawPeer(t)
  const ping = request({ type: 'ping' }, { wantProof: true, mac: true })
  const padded = encodeMessage(ping, undefined, UNPROVEN_PAD_BYTES.ping)
  const pong = await exchange(peer, node, padded)
  const reply = pong.replies[0]
  t.equal(reply?.type, 'pong', 'a padded ping gets its pong')
  t.ok(reply?.proof && pong.answered <= padded.byteLength)
  const token = reply?.type === 'pong' ? reply.token : new Uint8Array(0)
  for (const body of [
    { type: 'find-node', target: node.id },
    { type: 'record-get', key },
  ] as MessageBody[]) {
    const bytes = encodeMessage(request(body, { addressToken: token }))
    const got = await exchange(peer, node, bytes)
    t.ok(got.answered > 3 * bytes.byteLength, `${body.type} with the token: ${got.answered} B`)
  }
  // A first contact that pads a record-get to 1280 bytes gets the record at once.
  const other = await rawPeer(t)
  const bytes = encodeMessage(
    request({ type: 'record-get', key }),
    undefined,
    UNPROVEN_PAD_BYTES['record-get'],
  )
  const got = await exchange(other, node, bytes)
  const result = got.replies[0]
  t.ok(result?.type === 'record-result' && result.record, 'the padded record-get is answered')
  // A token for another address proves nothing.
  const stolen = encodeMessage(request({ type: 'record-get', key }, { addressToken: token }))
  t.ok((await exchange(other, node, stolen)).answered <= stolen.byteLength)
})

t.test('our own nodes and clients never need an address check', async (t) => {
  const net = await createTestnet(21)
  t.teardown(() => net.destroy())
  const client = await net.add({ client: true })
  const bob = Identity.generate(libsignalKeys)
  const put = await client.putEnvelope(bob.publicKey, new Uint8Array(3000).fill(1))
  t.ok(put.stored >= 3, `stored on ${put.stored} replicas`)
  const reader = await net.add({ client: true })
  const fetched = await reader.fetchMailbox(bob)
  t.equal(fetched.length, 1, 'the owner fetches it from a fresh client')
  // A large record the DHT stores (one half of a Kyber key: 785 bytes of any content).
  const record = signRecord(bob, {
    type: KyberKeyPartRecordType.first,
    seq: 1,
    timestamp: Date.now(),
    payload: new Uint8Array(785).fill(3),
  })
  t.ok((await client.putRecord(record)).stored >= 3)
  t.ok(await reader.getRecord(bob.publicKey, KyberKeyPartRecordType.first), 'the record is found')
  await net.nodes[4]!.republish()
  const checks = [...net.nodes, client, reader].reduce((a, n) => a + n.stats.dropped.unproven, 0)
  t.equal(checks, 0, 'no request of ours went unanswered for want of a proven address')
})

t.test('a per-IP rate limit is on by default (injected clock)', async (t) => {
  const clock = new ManualClock()
  const node = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    clock,
  })
  t.teardown(() => node.destroy())
  const peer = await rawPeer(t)
  const to: NodeAddress = node.address()
  const counted = () => (node.stats.handled.ping ?? 0) + node.stats.dropped['rate-limited']
  // Batches of 50: a burst of hundreds would overflow the kernel's receive buffer instead.
  const pings = async (n: number) => {
    for (let sent = 0; sent < n;) {
      const batch = Math.min(50, n - sent)
      const before = counted()
      for (let i = 0; i < batch; i++) {
        const ping = encodeMessage(request({ type: 'ping' }), undefined, UNPROVEN_PAD_BYTES.ping)
        await peer.socket.send(ping, to.port, to.host)
      }
      await until('the batch processed', () => counted() >= before + batch)
      sent += batch
    }
  }
  const { burst, perSecond } = DEFAULT_RATE_LIMIT
  await pings(burst + 100)
  t.equal(node.stats.handled.ping, burst, `a burst of ${burst} is answered`)
  t.equal(node.stats.dropped['rate-limited'], 100, 'the rest is dropped and counted')
  clock.advance(1000)
  await pings(perSecond + 50)
  t.equal(node.stats.handled.ping, burst + perSecond, `then ${perSecond} a second`)
  t.equal(node.stats.dropped['rate-limited'], 150)
})

t.test('the rate limiter: bounded memory, IPv6 by /64, refills on the clock', async (t) => {
  const clock = new ManualClock()
  const limiter = new RateLimiter({ perSecond: 1, burst: 2 }, clock, 3)
  t.ok(limiter.allow('192.0.2.1') && limiter.allow('192.0.2.1'))
  t.notOk(limiter.allow('192.0.2.1'), 'burst spent')
  t.ok(limiter.allow('2001:db8::1') && limiter.allow('2001:db8::ffff:1'))
  t.notOk(limiter.allow('2001:db8:0:0:8000::9'), 'one bucket per IPv6 /64')
  t.ok(limiter.allow('2001:db8:0:1::1'), 'another /64 has its own')
  t.equal(limiter.size, 3)
  t.ok(limiter.allow('198.51.100.7'))
  t.equal(limiter.size, 3, 'never more sources than the bound: the oldest is forgotten')
  clock.advance(1000)
  t.ok(limiter.allow('2001:db8::2'), 'a second refills one request')
  t.notOk(limiter.allow('2001:db8::2'))
  clock.set(clock.now() - 60_000)
  t.notOk(limiter.allow('2001:db8::2'), 'a clock that went back refills nothing')
})
