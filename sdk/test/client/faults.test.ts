import t from 'tap'
import { mailboxKeyFor, ManualClock, type PassageClient } from '@passage/sdk'
import { collect, tmpHome, startClient, testnet, offlinePair } from '@passage/sdk/testing'

class Crash extends Error {}

async function mailboxSize(
  net: Awaited<ReturnType<typeof testnet>>,
  client: Pick<PassageClient, 'identity'>,
) {
  const key = mailboxKeyFor(client.identity.publicKey)
  let n = 0
  for (const node of net.nodes) n += (await node.mailboxStore.list(key, Date.now(), 256)).length
  return n
}

t.test('the recipient crashes between fetch and delete: nothing lost, nothing twice', async (t) => {
  const net = await testnet(t)
  const { alice, bobHome, bob: offline } = await offlinePair(t, net)
  const id = offline.textId
  let bob: PassageClient
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
    const { alice, bobHome, bob: offline } = await offlinePair(t, net)
    const id = offline.textId
    let bob: PassageClient
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

// beforeSeal: a message queued with `wait: false` (accepted, in the outbox as plaintext) is
// encrypted by the outbox flush; the other points come after send() stored the message with
// its Signal message.
for (const point of ['beforeSeal', 'beforeDeliver', 'afterDeliver'] as const) {
  t.test(`the sender crashes ${point}: the outbox goes out after restart, once`, async (t) => {
    const net = await testnet(t)
    const bob = await startClient(t, net, tmpHome(t, 'bob'), { listen: false })
    const aliceHome = tmpHome(t, 'alice')
    let fired!: () => void
    const crashed = new Promise<void>((resolve) => (fired = resolve))
    let alice = await startClient(
      t,
      net,
      aliceHome,
      { listen: false },
      {
        faults: {
          [point]: () => {
            fired()
            throw new Crash(point)
          },
        },
      },
    )
    const { id } = await alice.contacts.add(bob.contactUri)
    if (point === 'beforeSeal') {
      t.equal((await alice.send(id, 'survives a crash', { wait: false })).state, 'pending')
      await crashed
    } else {
      await t.rejects(alice.send(id, 'survives a crash'), { message: point })
    }
    t.equal(alice.status().outbox, 1, 'it waits in the outbox')
    await alice.close()

    // The failed flush of the queued one set a retry time (FIRST_RETRY_MS, 5 s): restart later.
    const later = point === 'beforeSeal' ? { clock: new ManualClock(Date.now() + 10_000) } : {}
    alice = await startClient(t, net, aliceHome, { listen: false, ...later })
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

t.test(
  'the sender crashes in send() before encrypting: nothing was accepted, nothing is stored or sent',
  async (t) => {
    const net = await testnet(t)
    const bob = await startClient(t, net, tmpHome(t, 'bob'), { listen: false })
    const aliceHome = tmpHome(t, 'alice')
    let alice = await startClient(
      t,
      net,
      aliceHome,
      { listen: false },
      {
        faults: {
          beforeSeal: () => {
            throw new Crash('beforeSeal')
          },
        },
      },
    )
    const { id } = await alice.contacts.add(bob.contactUri)
    await t.rejects(alice.send(id, 'never accepted'), { message: 'beforeSeal' })
    t.equal(alice.status().outbox, 0, 'not in the outbox')
    t.same(await alice.history(id), [], 'not in the history')
    await alice.close()

    alice = await startClient(t, net, aliceHome, { listen: false })
    t.equal(await alice.flushOutbox(), 0, 'nothing to send after the restart')
    t.equal((await alice.send(id, 'after the restart')).state, 'stored')
    const got = collect(bob, 2, 1_500)
    await bob.fetchInbox()
    t.same(
      (await got.done).map((m) => m.text),
      ['after the restart'],
      'the recipient gets only the accepted message',
    )
  },
)
