import t from 'tap'
import {
  BadTokenError,
  DEFAULT_ENVELOPE_TTL_MS,
  Identity,
  MailboxFullError,
  MalformedError,
  ManualClock,
  QuotaExceededError,
  envelopeIdOf,
  mailboxKeyFor,
  utf8,
  type Bytes,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { createTestnet } from '@passage/sdk/testing'

const HOUR_MS = 3600_000
const DAY_MS = 24 * HOUR_MS

t.test('envelopes expire on the clock: invisible at once, removed by maintain()', async (t) => {
  const clock = new ManualClock()
  const net = await createTestnet(10, { clock })
  t.teardown(() => net.destroy())
  const bob = Identity.generate(libsignalKeys)
  const short = await net.nodes[1]!.putEnvelope(bob.publicKey, utf8('one hour'), { ttlMs: HOUR_MS })
  const normal = await net.nodes[2]!.putEnvelope(bob.publicKey, utf8('default ttl'))
  t.equal(short.stored, 10, 'every node of a 10-node net is among the k closest')
  t.equal(normal.stored, 10)
  const key = mailboxKeyFor(bob.publicKey)
  const [entry] = (await net.nodes[3]!.mailboxStore.list(key, clock.now(), 10)).filter(
    (e) => e.id[0] === normal.id[0] && e.id[1] === normal.id[1],
  )
  t.equal(entry?.expiresAt, clock.now() + DEFAULT_ENVELOPE_TTL_MS, 'default: 14 days')
  clock.advance(HOUR_MS - 1)
  t.equal((await net.nodes[4]!.fetchMailbox(bob)).length, 2)
  clock.advance(1)
  const after = await net.nodes[4]!.fetchMailbox(bob)
  t.same(
    after.map((e) => new TextDecoder().decode(e.data)),
    ['default ttl'],
    'the 1-hour envelope is gone after an hour',
  )
  let expired = 0
  for (const n of net.nodes) expired += (await n.maintain()).expired
  t.equal(expired, 10, 'maintain() removed it from every replica')
  clock.advance(14 * DAY_MS)
  t.same(await net.nodes[4]!.fetchMailbox(bob), [], 'and the other after 14 days')
  await t.rejects(
    net.nodes[1]!.putEnvelope(bob.publicKey, utf8('x'), { ttlMs: 31 * DAY_MS }),
    MalformedError,
    'at most 30 days',
  )
  // A replica refuses a longer TTL on the wire too.
  const { closest } = await net.nodes[1]!.lookup(key)
  const data = utf8('too long')
  await t.rejects(
    net.nodes[1]!.request(closest[0]!, {
      type: 'mailbox-put',
      token: closest[0]!.token,
      mailboxKey: key,
      envelopeId: envelopeIdOf(key, data),
      ttlSeconds: 31 * 24 * 3600,
      totalSize: data.length,
      index: 0,
      count: 1,
      data,
    }),
    MalformedError,
  )
})

t.test(
  'a full mailbox answers with a clear error; room again after the owner deletes',
  async (t) => {
    const clock = new ManualClock()
    const net = await createTestnet(8, {
      clock,
      quota: { maxCount: 3, maxBytes: 1 << 20, maxSourceBytes: 1 << 20 },
    })
    t.teardown(() => net.destroy())
    const bob = Identity.generate(libsignalKeys)
    const sender = net.nodes[1]!
    for (let i = 0; i < 3; i++) {
      t.equal((await sender.putEnvelope(bob.publicKey, utf8(`m${i}`))).stored, 8)
    }
    const full = await sender.putEnvelope(bob.publicKey, utf8('m3'))
    t.equal(full.stored, 0, 'nobody stores a 4th envelope')
    t.equal(full.errors.length, 8)
    t.ok(
      full.errors.every((e) => e instanceof MailboxFullError),
      'every replica says: mailbox full',
    )
    t.match(full.errors[0]!.message, /mailbox is full/)
    const mine = await net.nodes[5]!.fetchMailbox(bob)
    await net.nodes[5]!.deleteEnvelopes(
      bob,
      mine.map((e) => e.id),
    )
    t.equal((await sender.putEnvelope(bob.publicKey, utf8('m3'))).stored, 8, 'room again')
    // Envelopes that expired do not count either.
    clock.advance(15 * DAY_MS)
    for (let i = 0; i < 3; i++) {
      t.equal((await sender.putEnvelope(bob.publicKey, utf8(`n${i}`))).stored, 8)
    }
  },
)

t.test('per-source quota spans mailboxes', async (t) => {
  const net = await createTestnet(5, {
    quota: { maxCount: 100, maxBytes: 1 << 20, maxSourceBytes: 3000 },
  })
  t.teardown(() => net.destroy())
  const sender = net.nodes[1]!
  const big = new Uint8Array(2000).fill(1)
  t.equal((await sender.putEnvelope(Identity.generate(libsignalKeys).publicKey, big)).stored, 5)
  const over = await sender.putEnvelope(Identity.generate(libsignalKeys).publicKey, big.fill(2))
  // Every node of a loopback testnet sees the same source address, the sender's own included.
  t.equal(over.stored, 0, 'the second 2000 bytes from the same address exceed 3000')
  t.equal(over.errors.length, 5)
  t.ok(
    over.errors.every((e) => e instanceof QuotaExceededError),
    'every replica: source quota',
  )
  t.equal(
    (await sender.putEnvelope(Identity.generate(libsignalKeys).publicKey, new Uint8Array(900)))
      .stored,
    5,
    'a smaller envelope still fits',
  )
})

t.test('write tokens expire with the secret rotation (5 min, previous accepted)', async (t) => {
  const clock = new ManualClock()
  const net = await createTestnet(4, { clock })
  t.teardown(() => net.destroy())
  const a = net.nodes[1]!
  const bob = Identity.generate(libsignalKeys)
  const key = mailboxKeyFor(bob.publicKey)
  const { closest } = await a.lookup(key)
  const put = (token: Bytes, text: string) => {
    const data = utf8(text)
    return a.request(closest[0]!, {
      type: 'mailbox-put',
      token,
      mailboxKey: key,
      envelopeId: envelopeIdOf(key, data),
      ttlSeconds: 3600,
      totalSize: data.length,
      index: 0,
      count: 1,
      data,
    })
  }
  const token = closest[0]!.token
  clock.advance(5 * 60_000)
  t.match(
    await put(token, 'a'),
    { type: 'mailbox-put-ack', stored: true },
    'one rotation: still valid',
  )
  clock.advance(5 * 60_000)
  await t.rejects(put(token, 'b'), BadTokenError, 'two rotations: stale')
  const fresh = await a.lookup(key)
  t.match(await put(fresh.closest[0]!.token, 'c'), { type: 'mailbox-put-ack', stored: true })
})

t.test('buckets no lookup touched for 15 min are refreshed by maintain()', async (t) => {
  const clock = new ManualClock()
  const net = await createTestnet(12, { clock })
  t.teardown(() => net.destroy())
  const node = net.nodes[3]!
  clock.advance(15 * 60_000)
  const first = await node.maintain()
  t.ok(first.refreshed > 0, `${first.refreshed} buckets refreshed`)
  const second = await node.maintain()
  t.equal(second.refreshed, 0, 'nothing stale right after')
})
