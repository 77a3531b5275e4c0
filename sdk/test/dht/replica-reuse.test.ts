// A sender reuses the replicas one lookup found for a mailbox for 60 s (docs/PROTOCOL.md,
// "Mailboxes"): a fan-out of many envelopes to few mailboxes (a group's members) costs one
// lookup per mailbox, not one per envelope; a replica that fails makes the next put look again,
// and a remembered set that takes nothing is replaced at once.
import t from 'tap'
import {
  DEFAULT_MAILBOX_QUOTA,
  DhtNode,
  Identity,
  MailboxFullError,
  ManualClock,
  type DatagramSocket,
  REPLICA_REUSE_MS,
  compareDistance,
  mailboxKeyFor,
  toHex,
  utf8,
} from '@passage/sdk'
import { bindUdpSocket, libsignalKeys } from '@passage/sdk/node'
import { createTestnet } from '@passage/sdk/testing'

const clock = new ManualClock()
// Short deadlines: a dead replica fails its put in 0.3 s, not after seconds of resends.
const net = await createTestnet(26, { clock, requestTimeoutMs: 150, retries: 1 })
t.teardown(() => net.destroy())

t.test('puts to one mailbox share one lookup for 60 s', async (t) => {
  const phone = await net.add({ client: true })
  const bob = Identity.generate(libsignalKeys)
  const before = phone.stats.lookups
  const first = await phone.putEnvelope(bob.publicKey, utf8('1'))
  t.equal(first.stored, 20, 'on the k closest')
  t.equal(phone.stats.lookups, before + 1, 'the first put looks the replicas up')
  for (let i = 2; i <= 10; i++) {
    const r = await phone.putEnvelope(bob.publicKey, utf8(String(i)))
    t.equal(r.stored, 20, `put ${i} stored on all 20`)
  }
  const together = await Promise.all(
    Array.from({ length: 20 }, (_, i) => phone.putEnvelope(bob.publicKey, utf8(`c${i}`))),
  )
  t.same(
    together.map((r) => r.stored),
    Array(20).fill(20),
    '20 puts at once, every one on all 20',
  )
  t.equal(phone.stats.lookups, before + 1, '29 more puts, no more lookups')

  // Another mailbox has its own replicas.
  const carol = Identity.generate(libsignalKeys)
  await phone.putEnvelope(carol.publicKey, utf8('carol'))
  t.equal(phone.stats.lookups, before + 2, 'another mailbox: its own lookup')

  clock.advance(REPLICA_REUSE_MS - 1)
  await phone.putEnvelope(bob.publicKey, utf8('late'))
  t.equal(phone.stats.lookups, before + 2, 'still within 60 s')
  clock.advance(1)
  const renewed = await phone.putEnvelope(bob.publicKey, utf8('renewed'))
  t.equal(renewed.stored, 20)
  t.equal(phone.stats.lookups, before + 3, 'after 60 s: a new lookup')
  t.equal((await phone.fetchMailbox(bob)).length, 32, 'every envelope is there')
})

t.test('a replica that fails makes the next put look up again', async (t) => {
  const phone = await net.add({ client: true })
  const dave = Identity.generate(libsignalKeys)
  const key = mailboxKeyFor(dave.publicKey)
  await phone.putEnvelope(dave.publicKey, utf8('before'))
  const lookups = phone.stats.lookups
  // The closest replica goes away; never the bootstrap node (the first), which the next test
  // joins through.
  const closest = net.nodes.slice(1).sort((a, b) => compareDistance(key, a.id, b.id))[0]!
  await net.kill(closest)
  const short = await phone.putEnvelope(dave.publicKey, utf8('one short'))
  t.equal(short.stored, 19, 'the remembered set, less the dead replica')
  t.equal(phone.stats.lookups, lookups, 'no lookup for it')
  const next = await phone.putEnvelope(dave.publicKey, utf8('next'))
  t.equal(phone.stats.lookups, lookups + 1, 'the next put looks again')
  t.equal(next.stored, 20, 'and finds 20 live replicas')
  t.notOk(next.errors.length, `no errors (${next.errors.map((e) => e.message).join(', ')})`)
  t.equal(toHex(key).length, 40)
})

t.test('a remembered set that takes nothing is replaced at once', async (t) => {
  // The phone moves to another address (Wi-Fi to mobile data): the write tokens it holds were
  // for the old one, so every remembered replica refuses the next put.
  let inner = await bindUdpSocket('127.0.0.1', 0)
  let handler: Parameters<DatagramSocket['onMessage']>[0] = () => {}
  const socket: DatagramSocket = {
    send: (bytes, port, host) => inner.send(bytes, port, host),
    onMessage: (fn) => {
      handler = fn
      inner.onMessage(fn)
    },
    address: () => inner.address(),
    close: () => inner.close(),
  }
  const phone = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket,
    clock,
    client: true,
    requestTimeoutMs: 150,
    retries: 1,
  })
  t.teardown(() => phone.destroy())
  await phone.bootstrap(net.bootstrap)
  const erin = Identity.generate(libsignalKeys)
  t.equal((await phone.putEnvelope(erin.publicKey, utf8('before'))).stored, 20)
  const lookups = phone.stats.lookups
  const old = inner
  inner = await bindUdpSocket('127.0.0.1', 0)
  inner.onMessage(handler)
  await old.close()
  const r = await phone.putEnvelope(erin.publicKey, utf8('from the new address'))
  t.equal(r.stored, 20, 'stored on all 20 with tokens for the new address')
  t.equal(phone.stats.lookups, lookups + 1, 'one new lookup, in the same put')
  t.equal((await phone.fetchMailbox(erin)).length, 2)
})

t.test('a full mailbox is not looked up again', async (t) => {
  const small = await createTestnet(6, { clock, quota: { ...DEFAULT_MAILBOX_QUOTA, maxCount: 2 } })
  t.teardown(() => small.destroy())
  const phone = await small.add({ client: true })
  const frank = Identity.generate(libsignalKeys)
  for (const text of ['1', '2'])
    t.equal((await phone.putEnvelope(frank.publicKey, utf8(text))).stored, 6)
  const lookups = phone.stats.lookups
  const full = await phone.putEnvelope(frank.publicKey, utf8('3'))
  t.equal(full.stored, 0, 'refused everywhere')
  t.ok(
    full.errors.length === 6 && full.errors.every((e) => e instanceof MailboxFullError),
    'every replica says the mailbox is full',
  )
  t.equal(phone.stats.lookups, lookups, 'the full mailbox is no reason to look again')
})
