import t from 'tap'
import { mailboxKeyFor, type PassageClient } from '@passage/sdk'
import { collect, home, startClient, testnet } from './helpers.js'

class Crash extends Error {}

async function mailboxSize(net: Awaited<ReturnType<typeof testnet>>, client: PassageClient) {
  const key = mailboxKeyFor(client.identity.publicKey)
  let n = 0
  for (const node of net.nodes) n += (await node.mailboxStore.list(key, Date.now(), 256)).length
  return n
}

t.test('the recipient crashes between fetch and delete: nothing lost, nothing twice', async (t) => {
  const net = await testnet(t)
  const bobHome = home(t, 'bob')
  let bob = await startClient(t, net, bobHome, { listen: false })
  const bobUri = bob.contactUri
  await bob.close()
  const alice = await startClient(t, net, home(t, 'alice'), { listen: false })
  const { id } = await alice.contacts.add(bobUri)
  const texts = Array.from({ length: 10 }, (_, i) => `m${i}`)
  for (const text of texts) t.equal((await alice.send(id, text)).state, 'stored')

  // Run 1: stores everything, crashes before deleting from the DHT.
  bob = await startClient(t, net, bobHome, { listen: false, network: false })
  await bob.close()
  let crashes = 0
  bob = await startClient(
    t,
    net,
    bobHome,
    { listen: false },
    {
      faults: {
        beforeMailboxDelete: () => {
          crashes++
          throw new Crash('crash before delete')
        },
      },
    },
  )
  const seen1 = collect(bob, 10, 5_000)
  await t.rejects(bob.fetchInbox(), { message: 'crash before delete' })
  await bob.close()
  t.ok(crashes >= 1)
  const shown1 = await seen1.done
  t.ok((await mailboxSize(net, bob)) > 0, 'the envelopes are still in the DHT')

  // Run 2: a fresh start on the same home: the envelopes are known, deleted, never shown again.
  bob = await startClient(t, net, bobHome, { listen: false })
  const seen2 = collect(bob, 1, 1_000)
  await bob.fetchInbox()
  t.same(await seen2.done, [], 'nothing shown twice')
  t.same(
    shown1.map((m) => m.text),
    texts,
    'run 1 showed each message once, in order',
  )
  const history = await bob.history(alice.textId)
  t.same(
    history.map((m) => m.text),
    texts,
    'history: all, once',
  )
  t.equal(await mailboxSize(net, bob), 0, 'the mailbox is empty afterwards')
})

t.test(
  'the recipient crashes in the middle of a batch: the rest arrives after restart',
  async (t) => {
    const net = await testnet(t)
    const bobHome = home(t, 'bob')
    let bob = await startClient(t, net, bobHome, { listen: false })
    const bobUri = bob.contactUri
    await bob.close()
    const alice = await startClient(t, net, home(t, 'alice'), { listen: false })
    const { id } = await alice.contacts.add(bobUri)
    const texts = Array.from({ length: 8 }, (_, i) => `m${i}`)
    for (const text of texts) await alice.send(id, text)

    bob = await startClient(
      t,
      net,
      bobHome,
      { listen: false },
      {
        faults: {
          afterEnvelopeStored: (index) => {
            if (index === 3) throw new Crash('crash after 4 stored')
          },
        },
      },
    )
    const seen1 = collect(bob, 8, 1_000)
    await bob.fetchInbox().catch(() => {})
    await bob.close()
    t.same(await seen1.done, [], 'the crash came before any event')
    bob = await startClient(t, net, bobHome, { listen: false })
    // The 4 stored before the crash are replayed at start, the other 4 come from the mailbox.
    const seen2 = collect(bob, 9, 1_500)
    await bob.fetchInbox()
    t.same(
      (await seen2.done).map((m) => m.text).sort(),
      texts,
      'every message shown once after the restart',
    )
    const history = await bob.history(alice.textId)
    t.same(
      history.map((m) => m.text),
      texts,
      'all 8, once each, in order',
    )
    t.equal(await mailboxSize(net, bob), 0)
  },
)

for (const point of ['beforeSeal', 'beforeDeliver', 'afterDeliver'] as const) {
  t.test(`the sender crashes ${point}: the outbox goes out after restart, once`, async (t) => {
    const net = await testnet(t)
    const bob = await startClient(t, net, home(t, 'bob'), { listen: false })
    const aliceHome = home(t, 'alice')
    let alice = await startClient(
      t,
      net,
      aliceHome,
      { listen: false },
      {
        faults: {
          [point]: () => {
            throw new Crash(point)
          },
        },
      },
    )
    const { id } = await alice.contacts.add(bob.contactUri)
    await t.rejects(alice.send(id, 'survives a crash'), { message: point })
    t.equal(alice.status().outbox, 1, 'it waits in the outbox')
    await alice.close()

    alice = await startClient(t, net, aliceHome, { listen: false })
    // The start-up flush may have sent it already; either way the outbox is empty then.
    t.ok((await alice.flushOutbox()) <= 1)
    t.equal(alice.status().outbox, 0, 'sent after the restart')
    const [message] = await alice.history(id)
    t.equal(message?.state, 'stored')

    const got = collect(bob, 2, 1_500)
    await bob.fetchInbox()
    t.same(
      (await got.done).map((m) => m.text),
      ['survives a crash'],
      'the recipient gets it exactly once',
    )
    t.equal((await bob.history(alice.textId)).length, 1)
  })
}
