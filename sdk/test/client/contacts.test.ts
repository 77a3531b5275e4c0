import t from 'tap'
import { Identity, MalformedError, NoIdentityError, NotFoundError } from '@passage/sdk'
import { createNodeClient, libsignalKeys } from '@passage/sdk/node'
import { tmpHome, startClient, testnet } from '@passage/sdk/testing'

t.test('a home without an identity is refused unless asked to create one', async (t) => {
  await t.rejects(createNodeClient({ home: tmpHome(t, 'none'), network: false }), NoIdentityError)
})

t.test('contacts: add, get by ID or name, rename, remove, and refusals', async (t) => {
  const dir = tmpHome(t, 'alice')
  const alice = await createNodeClient({
    home: dir,
    createIdentity: true,
    name: 'Alice',
    network: false,
  })
  t.teardown(() => alice.close())
  t.match(alice.contactUri, /^passage:p1[a-z0-9]+\?key=.+&name=Alice$/)
  const bob = Identity.generate(libsignalKeys)
  const carol = Identity.generate(libsignalKeys)
  const bobUri = `passage:${bob.textId}?key=${Buffer.from(bob.publicKey).toString('base64url')}&name=Bobby`
  const added = await alice.contacts.add(bobUri)
  t.equal(added.name, 'Bobby', 'the name from the URI')
  t.equal(added.id, bob.textId)
  t.equal(added.unread, 0)
  t.equal(added.online, false)
  const renamed = await alice.contacts.add(bobUri, { name: 'Bob' })
  t.equal(renamed.name, 'Bob', 'adding again updates the name')
  await alice.contacts.add(
    `passage:${carol.textId}?key=${Buffer.from(carol.publicKey).toString('base64url')}`,
    { name: 'Carol' },
  )
  t.same(
    (await alice.contacts.list()).map((c) => c.name),
    ['Bob', 'Carol'],
  )
  t.equal((await alice.contacts.get('Bob'))?.id, bob.textId, 'by name')
  t.equal((await alice.contacts.get(bob.textId))?.name, 'Bob', 'by text ID')
  t.equal(await alice.contacts.get('Nobody'), undefined)
  await alice.contacts.rename(carol.textId, 'Bob')
  t.equal(await alice.contacts.get('Bob'), undefined, 'an ambiguous name finds nobody')
  await alice.contacts.remove(carol.textId)
  t.equal((await alice.contacts.get('Bob'))?.id, bob.textId)

  await t.rejects(alice.contacts.add('not an id'), MalformedError)
  await t.rejects(alice.contacts.add(alice.contactUri), MalformedError, 'not oneself')
  await t.rejects(
    alice.contacts.add(carol.textId),
    NotFoundError,
    'a bare text ID nobody can resolve',
  )
  await t.rejects(alice.contacts.rename(carol.textId, 'x'), NotFoundError)
  await t.rejects(alice.send(carol.textId, 'hi'), NotFoundError, 'not a contact')
  await t.rejects(alice.send(bob.textId, ''), MalformedError, 'empty')
  await t.rejects(alice.send(bob.textId, 'x'.repeat(4001)), MalformedError, 'too long')

  // Offline (network: false): the message waits in the outbox.
  const queued = await alice.send(bob.textId, 'later')
  t.equal(queued.state, 'pending')
  t.equal(alice.status().outbox, 1)
  const [conversation] = await alice.conversations()
  t.equal(conversation?.lastMessage?.text, 'later')
  await alice.close()
  const again = await createNodeClient({ home: dir, network: false })
  t.teardown(() => again.close())
  t.equal(again.textId, alice.textId, 'the same identity after reopening')
  t.equal(again.status().outbox, 1, 'the outbox survives')
  t.same(
    (await again.history(bob.textId)).map((m) => [m.text, m.state]),
    [['later', 'pending']],
  )
})

t.test('the outbox of an offline start goes out once the network is there', async (t) => {
  const net = await testnet(t)
  const bob = await startClient(t, net, tmpHome(t, 'bob'), { listen: false })
  const dir = tmpHome(t, 'alice')
  const offline = await createNodeClient({ home: dir, createIdentity: true, network: false })
  await offline.contacts.add(bob.contactUri)
  await offline.send(bob.textId, 'written offline')
  await offline.close()
  const alice = await startClient(t, net, dir, { listen: false })
  t.equal(await alice.flushOutbox(), 1)
  t.same(
    (await bob.fetchInbox()).map((m) => m.text),
    ['written offline'],
  )
})

t.test('flushOutbox({ all: true }) sends what waits out its retry delay', async (t) => {
  const net = await testnet(t)
  // Bob has never been online: his pre-key bundle is not in the DHT yet.
  const bobHome = tmpHome(t, 'bob')
  const never = await createNodeClient({ home: bobHome, createIdentity: true, network: false })
  const bobUri = never.contactUri
  await never.close()
  const alice = await startClient(t, net, tmpHome(t, 'alice'), { listen: false })
  const bob = await alice.contacts.add(bobUri)
  const sent = await alice.send(bob.id, 'before you were here')
  t.equal(sent.state, 'pending', 'no keys for Bob: it waits, its retry a few seconds away')
  await startClient(t, net, bobHome, { listen: false }) // Bob comes online: keys published
  t.equal(await alice.flushOutbox(), 0, 'not due yet: the retry delay holds')
  t.equal(await alice.flushOutbox({ all: true }), 1, 'all: it goes out now')
  t.equal(alice.status().outbox, 0)
})
