import t from 'tap'
import { Identity, MalformedError, NotFoundError, type ChatRequest } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import {
  collect,
  eventually,
  linkDevice,
  startClient,
  testnet,
  tmpHome,
  whenClient,
} from '@passage/sdk/testing'

/** A `passage:` URI for a key nobody runs (a contact that never writes). */
function uriOf(identity: Identity): string {
  return `passage:${identity.textId}?key=${Buffer.from(identity.publicKey).toString('base64url')}`
}

t.test(
  'a stranger lands in requests with its claimed name, never as a contact; accept moves it and its history',
  async (t) => {
    const net = await testnet(t)
    const bob = await startClient(t, net, tmpHome(t, 'bob'), { listen: false })
    const alice = Identity.generate(libsignalKeys)
    await bob.contacts.add(uriOf(alice), { name: 'Alice' })
    // Mallory calls herself Alice, with invisible characters and a bidi override around it.
    const mallory = await startClient(t, net, tmpHome(t, 'mallory'), {
      listen: false,
      name: ' Ali\u200bce\u202e\u0007 ',
    })
    await mallory.contacts.add(bob.contactUri)
    const first = await mallory.send(bob.textId, 'hi, it is me 你好 👋')
    await mallory.send(bob.textId, 'second')
    t.equal(first.state, 'stored', 'through the mailbox')

    const requests: ChatRequest[] = []
    bob.on('request', (r) => requests.push(r))
    const got = await bob.fetchInbox()
    t.same(
      got.map((m) => [m.contactId, m.text]),
      [
        [mallory.textId, 'hi, it is me 你好 👋'],
        [mallory.textId, 'second'],
      ],
      'its messages are stored and shown (as messages of the request)',
    )
    t.ok(requests.length >= 1, 'a request event')
    t.equal(requests.at(-1)?.claimedName, 'Alice', 'the claimed name, cleaned')

    t.same(
      (await bob.contacts.list()).map((c) => [c.id, c.name]),
      [[alice.textId, 'Alice']],
      'not among the contacts',
    )
    t.equal((await bob.contacts.get('Alice'))?.id, alice.textId, '"Alice" is still the real one')
    t.equal(await bob.contacts.get(mallory.textId), undefined)
    t.notOk(
      (await bob.conversations()).some((c) => c.contact.id === mallory.textId),
      'no conversation among the contacts',
    )
    const [request, ...more] = await bob.requests.list()
    t.same(more, [])
    t.match(request, {
      id: mallory.textId,
      claimedName: 'Alice',
      unread: 2,
      lastMessage: { text: 'second' },
    })

    // Delivered receipts still go to a request (it is not blocked).
    await bob.flushOutbox()
    await mallory.fetchInbox()
    t.ok(
      await whenClient(mallory, async () =>
        (await mallory.history(bob.textId)).every((m) => m.state === 'delivered'),
      ),
      'delivered',
    )

    await t.rejects(bob.contacts.rename(mallory.textId, 'x'), NotFoundError, 'accept to name')
    await t.rejects(bob.contacts.remove(mallory.textId), NotFoundError, 'decline, not remove')
    const accepted = await bob.requests.accept(mallory.textId, '  Mallory\n🦊 ')
    t.equal(accepted.name, 'Mallory 🦊', 'accepted under the name the user chose, cleaned')
    t.same(await bob.requests.list(), [])
    t.same(
      (await bob.history(mallory.textId)).map((m) => m.text),
      ['hi, it is me 你好 👋', 'second'],
      'its history comes along',
    )
    t.equal((await bob.contacts.get('Mallory 🦊'))?.unread, 2)
    t.equal((await bob.contacts.get('Alice'))?.id, alice.textId)
    await t.rejects(bob.requests.accept(mallory.textId), NotFoundError, 'no longer a request')
  },
)

t.test('no intro once the contact answered; none without a name', async (t) => {
  const net = await testnet(t)
  const bob = await startClient(t, net, tmpHome(t, 'bob'), { listen: false, name: 'Bob' })
  const carolHome = tmpHome(t, 'carol')
  let carol = await startClient(t, net, carolHome, { listen: false, name: 'Carol' })
  await carol.contacts.add(bob.contactUri)
  await carol.send(bob.textId, 'hello')
  await bob.fetchInbox()
  t.equal((await bob.requests.get(carol.textId))?.claimedName, 'Carol')
  await bob.requests.accept(carol.textId)
  t.equal((await bob.contacts.get(carol.textId))?.name, undefined, 'no name taken silently')
  const reply = await bob.send(carol.textId, 'hi Carol')
  t.equal(reply.state, 'stored')
  await carol.fetchInbox()
  t.same(await carol.requests.list(), [], 'Carol added Bob: no request on her side')
  // Carol heard from Bob: after a restart too, her texts go alone (an intro would be a second
  // outbox entry).
  await carol.flushOutbox()
  t.equal(carol.status().outbox, 0)
  await carol.close()
  carol = await startClient(t, net, carolHome, { listen: false, name: 'Carol' })
  const offline = await carol.send(bob.textId, 'no intro', { wait: false })
  t.equal(carol.status().outbox, 1, 'only the text waits')
  t.equal(offline.state, 'pending')

  const dan = await startClient(t, net, tmpHome(t, 'dan'), { listen: false })
  await dan.contacts.add(bob.contactUri)
  await dan.send(bob.textId, 'nameless')
  await bob.fetchInbox()
  const request = await bob.requests.get(dan.textId)
  t.ok(request, 'a request')
  t.equal(request?.claimedName, undefined, 'with no claimed name')
})

t.test(
  'block: nothing shown, no receipts, counted, kept over a restart; unblock; decline; remove',
  async (t) => {
    const net = await testnet(t)
    const bobHome = tmpHome(t, 'bob')
    let bob = await startClient(t, net, bobHome, { listen: false })
    const mallory = await startClient(t, net, tmpHome(t, 'mallory'), {
      listen: false,
      name: 'Mallory',
    })
    await mallory.contacts.add(bob.contactUri)
    await mallory.send(bob.textId, 'first')
    await bob.fetchInbox()
    await bob.flushOutbox()
    await bob.requests.block(mallory.textId)
    t.same(await bob.requests.list(), [], 'a blocked request is no longer listed')
    t.same(await bob.contacts.blocked(), [
      {
        id: mallory.textId,
        textId: mallory.textId,
        publicKey: mallory.accountKey,
        claimedName: 'Mallory',
        contact: false,
        dropped: 0,
      },
    ])

    const events = collect(bob, 1, 500)
    for (const text of ['one', 'two', 'three']) {
      t.equal((await mallory.send(bob.textId, text)).state, 'stored')
    }
    t.same(await bob.fetchInbox(), [], 'nothing shown')
    t.same(await events.done, [], 'no message event')
    // Counted as they travel: Mallory never heard from Bob, so each text came with an intro.
    t.equal((await bob.contacts.blocked())[0]?.dropped, 3, 'counted')
    t.same(
      (await bob.history(mallory.textId)).map((m) => m.text),
      ['first'],
      'nothing stored',
    )
    t.equal(bob.status().outbox, 0, 'no receipt owed')
    await bob.flushOutbox()
    await mallory.fetchInbox()
    t.same(
      (await mallory.history(bob.textId)).map((m) => [m.text, m.state]),
      [
        ['first', 'delivered'],
        ['one', 'stored'],
        ['two', 'stored'],
        ['three', 'stored'],
      ],
      'the blocked sender sees "stored", never "delivered"',
    )

    await bob.close()
    bob = await startClient(t, net, bobHome, { listen: false })
    await mallory.send(bob.textId, 'after the restart')
    t.same(await bob.fetchInbox(), [], 'still blocked after a restart')
    t.equal((await bob.contacts.blocked())[0]?.dropped, 4)
    t.same(await bob.requests.list(), [])

    await bob.contacts.unblock(mallory.textId)
    t.same(await bob.contacts.blocked(), [])
    t.equal((await bob.requests.get(mallory.textId))?.claimedName, 'Mallory', 'a request again')
    await mallory.send(bob.textId, 'unblocked')
    t.same(
      (await bob.fetchInbox()).map((m) => m.text),
      ['unblocked'],
      'shown again; dropped ones do not come back',
    )
    await t.rejects(bob.contacts.unblock(mallory.textId), NotFoundError, 'not blocked')

    await bob.requests.decline(mallory.textId)
    t.same(await bob.requests.list(), [])
    t.same(await bob.history(mallory.textId), [], 'a declined request’s messages are gone')
    await t.rejects(bob.requests.decline(mallory.textId), NotFoundError)

    // A contact: blocked, it leaves the list; removed while blocked, it stays blocked.
    await bob.contacts.add(mallory.contactUri, { name: 'Mal' })
    await bob.contacts.block(mallory.textId)
    t.same(await bob.contacts.list(), [], 'a blocked contact is not listed')
    t.match(await bob.contacts.blocked(), [{ name: 'Mal', contact: true }])
    await bob.contacts.remove(mallory.textId)
    t.match(await bob.contacts.blocked(), [{ contact: false }], 'removed, still blocked')
    await bob.contacts.unblock(mallory.textId)
    t.ok(await bob.requests.get(mallory.textId), 'unblocked: a request, not a contact')

    await bob.contacts.add(mallory.contactUri, { name: 'Mal' })
    await bob.contacts.remove(mallory.textId)
    t.same(await bob.contacts.list(), [])
    t.equal(await bob.requests.get(mallory.textId), undefined, 'removed: gone')
    await t.rejects(bob.contacts.remove(mallory.textId), NotFoundError, 'not a contact')
    await t.rejects(bob.contacts.block(Identity.generate(libsignalKeys).textId), NotFoundError)
    await t.rejects(bob.contacts.block(bob.textId), MalformedError, 'not oneself')
  },
)

t.test('a block, and its lifting, reach this account’s other devices', async (t) => {
  const net = await testnet(t)
  const bob = await startClient(t, net, tmpHome(t, 'bob'))
  const bob2 = await linkDevice(t, net, bob)
  const mallory = await startClient(t, net, tmpHome(t, 'mallory'), { listen: false })
  await mallory.contacts.add(bob.contactUri)
  await mallory.send(bob.textId, 'hi, both of you')
  await bob.fetchInbox()
  await bob2.fetchInbox()
  t.ok(await bob2.requests.get(mallory.textId), 'a request on each device')

  await bob.requests.block(mallory.textId)
  await bob.flushOutbox()
  const blockedThere = async () => {
    await bob2.fetchInbox()
    return (await bob2.contacts.blocked()).some((b) => b.id === mallory.textId)
  }
  t.ok(await eventually(blockedThere), 'blocked on the other device too')
  t.same(await bob2.requests.list(), [])
  await mallory.send(bob.textId, 'anyone?')
  t.same(await bob2.fetchInbox(), [], 'dropped there')

  await bob.contacts.unblock(mallory.textId)
  await bob.flushOutbox()
  t.ok(await eventually(async () => !(await blockedThere())), 'unblocked there too')
  t.ok(await bob2.requests.get(mallory.textId), 'a request again, not a contact')
})

t.test(
  'a blocked member’s group texts are dropped; the group goes on for the others',
  async (t) => {
    const net = await testnet(t)
    const alice = await startClient(t, net, tmpHome(t, 'alice'), { listen: false })
    const bob = await startClient(t, net, tmpHome(t, 'bob'), { listen: false })
    const mallory = await startClient(t, net, tmpHome(t, 'mallory'), { listen: false })
    await alice.contacts.add(bob.contactUri)
    await alice.contacts.add(mallory.contactUri)
    const group = await alice.groups.create('山の会 🏔', [bob.textId, mallory.textId])
    const joined = async (c: typeof bob) => {
      await c.fetchInbox()
      return (await c.groups.list()).length === 1
    }
    t.ok(await eventually(() => joined(bob)), 'Bob joined')
    t.ok(await eventually(() => joined(mallory)), 'Mallory joined')
    await alice.fetchInbox()

    await bob.contacts.block(mallory.textId)
    await mallory.groups.send(group.id, 'spam 💸')
    await alice.groups.send(group.id, 'hello all')
    const texts = async (c: typeof bob) => (await c.history(group.id)).map((m) => m.text)
    t.ok(
      await eventually(async () => {
        await alice.fetchInbox()
        return (await texts(alice)).includes('spam 💸')
      }),
      'Alice gets Mallory’s text',
    )
    t.ok(
      await eventually(async () => {
        await bob.fetchInbox()
        return (await texts(bob)).includes('hello all')
      }),
      'Bob gets Alice’s',
    )
    t.notOk((await texts(bob)).includes('spam 💸'), 'but not Mallory’s')
    t.ok(((await bob.contacts.blocked())[0]?.dropped ?? 0) >= 1, 'counted')
  },
)
