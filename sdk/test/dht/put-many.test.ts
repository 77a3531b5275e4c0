// The sender's side of "Several envelopes in one put" (docs/PROTOCOL.md, "Mailboxes"), over real
// UDP on a testnet: envelopes for many mailboxes that share replicas go to each replica in as few
// requests as they fit in; each envelope counts its own replicas (a refused one is retried alone,
// the others are not lost); a replica that predates put-many (it drops the unknown type) costs one
// timeout, then gets single puts.
import t from 'tap'
import {
  DhtNode,
  Identity,
  MailboxFullError,
  fromUtf8,
  utf8,
  type DatagramSocket,
} from '@passage/sdk'
import { bindUdpSocket, libsignalKeys } from '@passage/sdk/node'
import { createTestnet } from '@passage/sdk/testing'

const NODES = 6 // every node is a replica of every mailbox (k = 20): as the group bench's testnet
/** A sealed group copy of a 200-byte text is about this size. */
const COPY_BYTES = 420

/** A node that predates put-many: it drops type 0x16 unanswered, as any unknown type. */
function olderSocket(inner: DatagramSocket): DatagramSocket {
  return {
    send: (bytes, port, host) => inner.send(bytes, port, host),
    onMessage: (handler) =>
      inner.onMessage((bytes, from) => {
        if (bytes[2] !== 0x16) handler(bytes, from)
      }),
    address: () => inner.address(),
    close: () => inner.close(),
  }
}

function copies(recipients: Identity[], tag: string) {
  return recipients.map((r, i) => ({
    recipientKey: r.publicKey,
    data: new Uint8Array(COPY_BYTES)
      .fill(i % 251)
      .map((b, j) => (j < tag.length ? tag.charCodeAt(j) : b)),
  }))
}

t.test('a fan-out to 40 mailboxes: every copy on every replica, in few requests', async (t) => {
  const net = await createTestnet(NODES)
  t.teardown(() => net.destroy())
  const phone = await net.add({ client: true })
  const members = Array.from({ length: 40 }, () => Identity.generate(libsignalKeys))
  // The replicas of each mailbox are looked up once (and remembered for 60 s).
  await phone.putEnvelopes(members.map((m) => ({ recipientKey: m.publicKey, data: utf8('hi') })))
  const sent = phone.stats.sent
  const results = await phone.putEnvelopes(copies(members, 'text 1'))
  t.same(
    results.map((r) => [r.stored, r.replicas, r.errors.length]),
    Array(40).fill([NODES, NODES, 0]),
    'each copy on all 6 replicas',
  )
  const requests = phone.stats.sent - sent
  // 40 copies of 462 bytes on the wire, 2 per datagram: 20 requests per replica, not 40.
  t.ok(requests <= NODES * 20, `${requests} requests for 240 copy-replica pairs`)
  for (const m of [members[0]!, members[39]!]) {
    const mail = await phone.fetchMailbox(m)
    t.equal(mail.length, 2, 'the hello and the copy')
  }
})

t.test('one envelope refused is counted alone; the others are stored', async (t) => {
  const net = await createTestnet(NODES, {
    quota: { maxCount: 2, maxBytes: 1 << 20, maxSourceBytes: 1 << 26 },
  })
  t.teardown(() => net.destroy())
  const phone = await net.add({ client: true })
  const alice = Identity.generate(libsignalKeys)
  const bob = Identity.generate(libsignalKeys)
  const results = await phone.putEnvelopes([
    { recipientKey: alice.publicKey, data: utf8('a1') },
    { recipientKey: alice.publicKey, data: utf8('a2') },
    { recipientKey: alice.publicKey, data: utf8('a3: over the quota of 2') },
    { recipientKey: bob.publicKey, data: utf8('b1') },
  ])
  t.same(
    results.map((r) => r.stored),
    [NODES, NODES, 0, NODES],
  )
  t.ok(
    results[2]!.errors.length === NODES &&
      results[2]!.errors.every((e) => e instanceof MailboxFullError),
    'the third is refused by every replica as a full mailbox',
  )
  const mail = (await phone.fetchMailbox(alice)).map((e) => fromUtf8(e.data, 'text')).sort()
  t.same(mail, ['a1', 'a2'])
})

t.test('a replica that predates put-many: one timeout, then single puts', async (t) => {
  const net = await createTestnet(NODES - 1, { requestTimeoutMs: 100, retries: 1 })
  t.teardown(() => net.destroy())
  const older = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: olderSocket(await bindUdpSocket('127.0.0.1', 0)),
    requestTimeoutMs: 100,
    retries: 1,
    rateLimit: false,
  })
  t.teardown(() => older.destroy())
  await older.bootstrap(net.bootstrap)
  const phone = await net.add({ client: true })
  const members = [Identity.generate(libsignalKeys), Identity.generate(libsignalKeys)]
  const timeouts = phone.stats.timeouts
  const first = await phone.putEnvelopes(copies(members, 'first'))
  t.same(
    first.map((r) => [r.stored, r.replicas, r.errors.length]),
    [
      [NODES, NODES, 0],
      [NODES, NODES, 0],
    ],
    'the older replica took them as single puts after its put-many timed out',
  )
  t.equal(phone.stats.timeouts, timeouts + 1, 'one timeout: the put-many')
  const second = await phone.putEnvelopes(copies(members, 'second'))
  t.same(
    second.map((r) => [r.stored, r.replicas]),
    [
      [NODES, NODES],
      [NODES, NODES],
    ],
    'on all replicas again',
  )
  t.equal(phone.stats.timeouts, timeouts + 1, 'no put-many to it this time: no timeout')
  t.equal((await older.mailboxStore.stats(Date.now())).envelopes, 4, 'all four')
})
