import t from 'tap'
import {
  BadSignatureError,
  BadTokenError,
  ClockSkewError,
  Identity,
  ManualClock,
  ReplayError,
  compareDistance,
  mailboxAuthInput,
  mailboxKeyFor,
  toHex,
  utf8,
  type Bytes,
  type DhtNode,
  type NodeId,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { createTestnet } from '@passage/sdk/testing'

const clock = new ManualClock()
const randomNonce = () => crypto.getRandomValues(new Uint8Array(16))
const net = await createTestnet(100, { clock })
t.teardown(() => net.destroy())

const trueClosest = (target: NodeId, nodes: DhtNode[] = net.nodes) =>
  nodes
    .map((n) => n.id)
    .sort((a, b) => compareDistance(target, a, b))
    .slice(0, 20)
    .map(toHex)

/** Nodes whose store holds `id` in `owner`'s mailbox. */
async function holders(owner: Identity, id: Bytes): Promise<DhtNode[]> {
  const key = mailboxKeyFor(owner.publicKey)
  const out: DhtNode[] = []
  for (const n of net.nodes) if (await n.mailboxStore.has(key, id, clock.now())) out.push(n)
  return out
}

t.test('every lookup finds the true k closest', async (t) => {
  const started = Date.now()
  for (let i = 0; i < 50; i++) {
    const target = Identity.generate(libsignalKeys).id
    const from = net.nodes[(i * 7) % net.nodes.length]!
    const r = await from.lookup(target)
    const expected = trueClosest(
      target,
      net.nodes.filter((n) => n !== from),
    )
    t.same(
      r.closest.map((c) => toHex(c.id)),
      expected,
      `lookup ${i}: ${r.queried} asked, ${r.hops} hops`,
    )
  }
  t.comment(`50 lookups in ${Date.now() - started} ms`)
  const sizes = net.nodes.map((n) => n.table.size)
  t.ok(
    Math.min(...sizes) >= 20,
    `every table holds ≥ 20 verified nodes (min ${Math.min(...sizes)})`,
  )
})

t.test(
  'put from one node, get from another; delete by the owner reaches every replica',
  async (t) => {
    const bob = Identity.generate(libsignalKeys)
    const small = utf8('hello bob')
    const large = new Uint8Array(65_536).map((_, i) => (i * 7) & 0xff)
    const putSmall = await net.nodes[3]!.putEnvelope(bob.publicKey, small)
    const putLarge = await net.nodes[4]!.putEnvelope(bob.publicKey, large)
    t.equal(putSmall.stored, 20, 'stored on the k closest')
    t.equal(putLarge.stored, 20, 'a 64 KiB envelope, 64 fragments, stored on the k closest')
    t.same(putSmall.errors, [])
    const key = mailboxKeyFor(bob.publicKey)
    t.same(
      (await holders(bob, putSmall.id)).map((n) => toHex(n.id)).sort(),
      trueClosest(key).sort(),
      'the replicas are exactly the 20 closest nodes',
    )
    // Bob reads through a node that stored nothing.
    const reader = net.nodes.find((n) => !trueClosest(key).includes(toHex(n.id)))!
    const got = await reader.fetchMailbox(bob)
    t.same(got.map((e) => toHex(e.data)).sort(), [toHex(small), toHex(large)].sort())
    const del = await reader.deleteEnvelopes(
      bob,
      got.map((e) => e.id),
    )
    t.equal(del.confirmed, 20)
    t.same(await holders(bob, putSmall.id), [], 'gone from every replica')
    t.same(await holders(bob, putLarge.id), [])
    t.same(await reader.fetchMailbox(bob), [])
    const again = await reader.deleteEnvelopes(bob, [putSmall.id])
    t.equal(again.confirmed, 20, 'delete is idempotent')
    // A tombstone keeps a late copy from coming back.
    const late = await net.nodes[9]!.putEnvelope(bob.publicKey, small)
    t.equal(late.stored, 20, 'acknowledged to the sender (a tombstone counts as stored)')
    t.same(await holders(bob, putSmall.id), [], 'but not stored again after the delete')
  },
)

t.test('only the owner can read or delete', async (t) => {
  const bob = Identity.generate(libsignalKeys)
  const mallory = Identity.generate(libsignalKeys)
  const put = await net.nodes[10]!.putEnvelope(bob.publicKey, utf8('for bob only'))
  t.equal(put.stored, 20)
  const { closest } = await net.nodes[11]!.lookup(mailboxKeyFor(bob.publicKey))
  const replica = closest[0]!
  const other = closest[1]!
  const asker = net.nodes[11]!
  const listReq = {
    type: 'mailbox-get' as const,
    kind: 'list' as const,
    envelopeId: new Uint8Array(16) as Bytes,
    index: 0,
  }
  const auth = (
    signer: Identity,
    audience: NodeId,
    timestamp = clock.now(),
    nonce = randomNonce(),
  ) => ({
    ownerKey: bob.publicKey,
    timestamp,
    nonce: nonce as Bytes,
    signature: signer.sign(mailboxAuthInput(audience, timestamp, nonce, listReq)),
  })
  await t.rejects(
    asker.request(replica, { ...listReq, auth: auth(mallory, replica.id) }),
    BadSignatureError,
    "mallory signs for bob's mailbox",
  )
  // Mallory's own mailbox is empty: her key does not open Bob's.
  t.same(await asker.fetchMailbox(mallory), [])
  const good = auth(bob, replica.id)
  const reply = await asker.request(replica, { ...listReq, auth: good })
  t.equal(reply.type === 'mailbox-list' && reply.entries.length, 1, 'the owner lists')
  await t.rejects(
    asker.request(replica, { ...listReq, auth: good }),
    ReplayError,
    'a captured request cannot be replayed',
  )
  await t.rejects(
    asker.request(other, { ...listReq, auth: auth(bob, replica.id) }),
    BadSignatureError,
    'a signature for one replica is refused by another',
  )
  await t.rejects(
    asker.request(replica, { ...listReq, auth: auth(bob, replica.id, clock.now() - 61_000) }),
    ClockSkewError,
    'older than 60 s',
  )
  await t.rejects(
    asker.request(replica, { ...listReq, auth: auth(bob, replica.id, clock.now() + 61_000) }),
    ClockSkewError,
    'more than 60 s ahead',
  )
  // Delete signed by Mallory: refused everywhere, the envelope stays on every replica.
  const delReq = { type: 'mailbox-delete' as const, ids: [put.id] }
  for (const r of closest) {
    const nonce = randomNonce() as Bytes
    const ts = clock.now()
    await t.rejects(
      asker.request(r, {
        ...delReq,
        auth: {
          ownerKey: bob.publicKey,
          timestamp: ts,
          nonce,
          signature: mallory.sign(mailboxAuthInput(r.id, ts, nonce, delReq)),
        },
      }),
      BadSignatureError,
    )
  }
  t.equal((await holders(bob, put.id)).length, 20)
})

t.test('writes need a round-trip token for the writer address', async (t) => {
  const bob = Identity.generate(libsignalKeys)
  const a = net.nodes[20]!
  const b = net.nodes[21]!
  const { closest } = await a.lookup(mailboxKeyFor(bob.publicKey))
  const target = closest[0]!
  const data = utf8('x')
  const put = {
    type: 'mailbox-put' as const,
    mailboxKey: mailboxKeyFor(bob.publicKey),
    envelopeId: (await import('@passage/sdk')).envelopeIdOf(mailboxKeyFor(bob.publicKey), data),
    ttlSeconds: 3600,
    totalSize: 1,
    index: 0,
    count: 1,
    data,
  }
  await t.rejects(
    a.request(target, { ...put, token: new Uint8Array(16) as Bytes }),
    BadTokenError,
    'no token',
  )
  await t.rejects(
    b.request(target, { ...put, token: target.token }),
    BadTokenError,
    "another address's token",
  )
  const ok = await a.request(target, { ...put, token: target.token })
  t.equal(ok.type === 'mailbox-put-ack' && ok.stored, true, 'own token accepted')
})

t.test('a node must prove its key: a wrong expected ID is dropped, not trusted', async (t) => {
  const a = net.nodes[30]!
  const b = net.nodes[31]!
  const before = a.stats.dropped['bad-proof']
  await t.rejects(
    a.request(
      b.address(),
      { type: 'ping' },
      {
        expectId: Identity.generate(libsignalKeys).id,
        wantProof: true,
        retries: 0,
        timeoutMs: 200,
      },
    ),
  )
  t.equal(a.stats.dropped['bad-proof'], before + 1)
  const pong = await a.ping(b.address())
  t.equal(toHex(pong.id), toHex(b.id))
})

t.test('client mode: uses the DHT, never enters tables', async (t) => {
  const phone = await net.add({ client: true })
  const carol = Identity.generate(libsignalKeys)
  const r = await phone.putEnvelope(carol.publicKey, utf8('from a phone'))
  t.equal(r.stored, 20)
  const got = await phone.fetchMailbox(carol)
  t.equal(got.length, 1)
  for (const n of net.nodes) t.notOk(n.table.has(phone.id), 'not in any table') // bounded: 100 nodes
  const look = await net.nodes[0]!.lookup(phone.id)
  t.notOk(
    look.closest.some((c) => toHex(c.id) === toHex(phone.id)),
    'never returned by lookups',
  )
})
