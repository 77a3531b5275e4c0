import t from 'tap'
import { mailboxKeyFor } from '@passage/sdk'
import { collect, startClient, testnet, whenClient, offlinePair } from '@passage/sdk/testing'

t.test(
  'the recipient is offline: 50 messages wait in its mailbox, arrive once, in order',
  async (t) => {
    const net = await testnet(t)
    // Bob starts once (publishes his pre-key bundle), then goes offline.
    const { alice, bobHome, bob: offline } = await offlinePair(t, net)
    const contact = await alice.contacts.add(offline.contactUri, { name: 'Bob' })
    t.equal(contact.name, 'Bob')
    t.equal(contact.id, offline.textId)
    const sent = []
    for (let i = 0; i < 50; i++) {
      sent.push(await alice.send(contact.id, `message ${i}`))
    }
    t.ok(
      sent.every((m) => m.state === 'stored' && m.route === 'mailbox'),
      'every message is stored in the mailbox',
    )
    t.equal(alice.status().outbox, 0)

    const bob = await startClient(t, net, bobHome, { listen: false })
    const events = collect(bob, 51, 1_000)
    const got = await bob.fetchInbox()
    t.same(
      (await events.done).map((m) => m.id),
      got.map((m) => m.id),
      'one event per message, in the same order',
    )
    t.equal(got.length, 50, 'all 50 arrive')
    t.same(
      got.map((m) => m.text),
      sent.map((m) => m.text),
      'in order',
    )
    t.same(
      got.map((m) => m.id),
      sent.map((m) => m.id),
      'with the sender’s message IDs',
    )
    t.ok(got.every((m) => m.contactId === alice.textId && m.direction === 'in'))
    t.same(await bob.fetchInbox(), [], 'nothing is shown twice')
    const history = await bob.history(alice.textId, { limit: 100 })
    t.equal(history.length, 50)
    // The mailbox is empty on every node.
    /** The distinct envelopes waiting in `publicKey`'s mailbox, over every replica. */
    const waiting = async (publicKey: Uint8Array) => {
      const ids = new Set<string>()
      for (const node of net.nodes) {
        const listed = await node.mailboxStore.list(mailboxKeyFor(publicKey), Date.now(), 256)
        for (const e of listed) ids.add(Buffer.from(e.id).toString('hex'))
      }
      return ids.size
    }
    t.equal(await waiting(bob.identity.publicKey), 0, 'the mailbox is empty afterwards')

    // Receipts (docs/PROTOCOL.md, "When receipts are sent"): Bob owes "delivered" for all 50,
    // sent as one receipt payload; Alice sees them after her fetch.
    await bob.flushOutbox()
    t.equal(await waiting(alice.identity.publicKey), 1, 'one delivered receipt for the 50')
    await alice.fetchInbox()
    t.ok(
      await whenClient(alice, async () =>
        (await alice.history(bob.textId, { limit: 100 })).every((m) => m.state === 'delivered'),
      ),
      'every message is delivered',
    )
    t.equal(await bob.markRead(alice.textId), 50, 'Bob reads them')
    t.equal((await bob.requests.get(alice.textId))?.unread, 0)
    await bob.flushOutbox()
    t.equal(await waiting(alice.identity.publicKey), 1, 'and one read receipt for the 50')
    await alice.fetchInbox()
    t.ok(
      await whenClient(alice, async () =>
        (await alice.history(bob.textId, { limit: 100 })).every(
          (m) => m.state === 'read' && m.read,
        ),
      ),
      'every message is read',
    )
    const [conversation] = await alice.conversations()
    t.equal(conversation?.lastMessage?.text, 'message 49')
    const page = await alice.history(bob.textId, { limit: 10, before: sent[20]!.id })
    t.same(
      page.map((m) => m.text),
      sent.slice(10, 20).map((m) => m.text),
      'history pages back',
    )
    await bob.close()
  },
)
