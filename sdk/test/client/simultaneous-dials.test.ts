// Issue 16: two peers that dial each other at the same moment keep ONE link (the one dialed
// by the smaller node ID), and a message written on the link that is dropped still arrives
// over a link, never through the mailbox.
import t, { type Test } from 'tap'
import type { PassageClient } from '@passage/sdk'
import {
  collect,
  dropLinks,
  introduce,
  startClient,
  testnet,
  tmpHome,
  type Testnet,
} from '@passage/sdk/testing'

const ROUNDS = 20 // races, each on fresh links; bounded in count and (below) in time
const TEXTS = 5 // in flight each way at once: frames keep coming while the links settle
const ROUND_MS = 20_000 // a round that takes longer failed (a mailbox fallback alone is 5 s)

async function pair(t: Test, net: Testnet): Promise<[PassageClient, PassageClient]> {
  const alice = await startClient(t, net, tmpHome(t, 'alice'))
  const bob = await startClient(t, net, tmpHome(t, 'bob'))
  await alice.contacts.add(bob.contactUri, { name: 'Bob' })
  await bob.contacts.add(alice.contactUri, { name: 'Alice' })
  introduce(alice, bob)
  return [alice, bob]
}

/** Both send `count` texts in the same turn of the event loop; checks what arrived and how. */
async function race(t: Test, alice: PassageClient, bob: PassageClient, tag: string, count = TEXTS) {
  const atAlice = collect(alice, count, ROUND_MS)
  const atBob = collect(bob, count, ROUND_MS)
  const texts = (p: string) => Array.from({ length: count }, (_, i) => `${p}${tag}.${i}`)
  const started = Date.now()
  const sent = await Promise.all([
    ...texts('a').map((text) => alice.send(bob.textId, text)),
    ...texts('b').map((text) => bob.send(alice.textId, text)),
  ])
  const took = Date.now() - started
  t.same(
    sent
      .filter((m) => m.route !== 'direct' || m.state !== 'delivered')
      .map((m) => `${m.text} ${m.route} ${m.state}`),
    [],
    `${tag}: every send answered over a link (${took} ms)`,
  )
  const [gotBob, gotAlice] = [await atBob.done, await atAlice.done]
  t.same(
    [
      gotBob.map((m) => `${m.text}:${m.route}`).sort(),
      gotAlice.map((m) => `${m.text}:${m.route}`).sort(),
    ],
    [texts('a').map((x) => `${x}:direct`), texts('b').map((x) => `${x}:direct`)],
    `${tag}: each text arrived once, over the link`,
  )
  // The dropped link closes on both ends; the kept one stays: the same one on both (a side
  // that kept another would have closed this one).
  const deadline = Date.now() + ROUND_MS
  const links = () => [alice.status().directLinks, bob.status().directLinks]
  for (let i = 0; i < 400 && Date.now() < deadline; i++) {
    if (links().every((n) => n === 1)) break
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  t.same(links(), [1, 1], `${tag}: exactly one open link on each side`)
  t.same([alice.status().outbox, bob.status().outbox], [0, 0], `${tag}: nothing left to send`)
}

t.test(
  'both send at the same instant on fresh links: all over the link, one link left',
  async (t) => {
    const net = await testnet(t)
    const [alice, bob] = await pair(t, net)
    // Sessions first (a Signal session each way), so each round races only the dials.
    await alice.send(bob.textId, 'hello')
    await bob.send(alice.textId, 'hello')
    for (let round = 0; round < ROUNDS; round++) {
      await dropLinks(round % 2 ? alice : bob, alice, bob)
      t.equal(alice.status().directLinks + bob.status().directLinks, 0, 'no link open')
      await race(t, alice, bob, `round ${round}`)
    }
    // Nothing went through a mailbox: a fetch brings nothing.
    const late = [collect(alice, 1, 200), collect(bob, 1, 200)]
    await Promise.all([alice.fetchInbox(), bob.fetchInbox()])
    t.same(
      await Promise.all(late.map(async (l) => (await l.done).length)),
      [0, 0],
      'both mailboxes empty',
    )
  },
)

t.test('first contact: both send at the same instant with no session and no link', async (t) => {
  const net = await testnet(t)
  for (let round = 0; round < 4; round++) {
    const [alice, bob] = await pair(t, net)
    // One text each way: several at once would each ask for the peer's pre-key bundle, and
    // only one of concurrent asks to one peer is answered (the rest wait 5 s, then use the DHT).
    await race(t, alice, bob, `pair ${round}`, 1)
    await Promise.all([alice.close(), bob.close()])
  }
})

t.test('one side dials late: still all over the link, one link left', async (t) => {
  const net = await testnet(t)
  // Fault injection: the slow side takes its own dial `holdMs` after its handshake, so the
  // peer's dial settles first on both ends (as between a fast and a slow machine).
  let slow: { name: string; holdMs: number } | undefined
  const faults = (name: string) => ({
    afterLinkDialed: async () => {
      if (slow?.name !== name) return
      await new Promise((resolve) => setTimeout(resolve, slow!.holdMs))
    },
  })
  const alice = await startClient(t, net, tmpHome(t, 'alice'), {}, { faults: faults('alice') })
  const bob = await startClient(t, net, tmpHome(t, 'bob'), {}, { faults: faults('bob') })
  await alice.contacts.add(bob.contactUri, { name: 'Bob' })
  await bob.contacts.add(alice.contactUri, { name: 'Alice' })
  introduce(alice, bob)
  await alice.send(bob.textId, 'hello')
  await bob.send(alice.textId, 'hello')
  // Both sides slow once each: one of them has the larger ID, whose dial is the one dropped.
  for (const name of ['alice', 'bob']) {
    for (const holdMs of [5, 30]) {
      for (let round = 0; round < 3; round++) {
        slow = undefined
        await dropLinks(round % 2 ? alice : bob, alice, bob)
        slow = { name, holdMs }
        await race(t, alice, bob, `${name} ${holdMs} ms late, ${round}`)
      }
    }
  }
})

t.test('the link closes before the "stored" answer: sent again on a new link, once', async (t) => {
  const net = await testnet(t)
  let cut: (() => Promise<void>) | undefined
  const bob = await startClient(
    t,
    net,
    tmpHome(t, 'bob'),
    {},
    {
      faults: {
        beforeDirectAck: () => {
          const once = cut
          cut = undefined
          // Stored, and the link goes before the answer (as a dropped duplicate would).
          if (once) void once()
        },
      },
    },
  )
  const alice = await startClient(t, net, tmpHome(t, 'alice'))
  await alice.contacts.add(bob.contactUri, { name: 'Bob' })
  introduce(alice, bob)
  await alice.send(bob.textId, 'hello')
  cut = () => dropLinks(bob)
  const started = Date.now()
  const sent = await alice.send(bob.textId, 'again')
  t.same([sent.route, sent.state], ['direct', 'delivered'], 'answered over a new link')
  t.ok(Date.now() - started < 5_000, 'before the answer timeout')
  const late = collect(bob, 1, 200)
  await bob.fetchInbox()
  t.same((await late.done).length, 0, 'nothing in the mailbox')
  t.same(
    (await bob.history(alice.textId)).map((m) => m.text),
    ['hello', 'again'],
    'stored once',
  )
})
