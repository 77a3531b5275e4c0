import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import {
  dialLink,
  encodeDirectFrame,
  mailboxKeyFor,
  nodeIdFromPublicKey,
  type Bytes,
  type RefusedEvent,
} from '@passage/sdk'
import { connectTcp, CLIENT_DB_FILE } from '@passage/sdk/node'
import {
  collect,
  tmpHome,
  startClient,
  testnet,
  whenClient,
  freeUdpPort,
} from '@passage/sdk/testing'

t.test(
  'LAN: two clients find each other with no super-node and no DHT, and chat directly both ways',
  async (t) => {
    const lan = {
      interface: '127.0.0.1',
      port: await freeUdpPort(),
      group: '239.255.77.78',
      intervalMs: 250,
    }
    // An empty "testnet" bootstrap list: no DHT at all.
    const none = { bootstrap: [] } as unknown as Parameters<typeof startClient>[1]
    const alice = await startClient(t, none, tmpHome(t, 'alice'), { lan, background: true })
    const bob = await startClient(t, none, tmpHome(t, 'bob'), { lan, background: true })
    t.equal(alice.status().dhtNodes, 0, 'no DHT')
    t.ok(
      await whenClient(alice, () => alice.lanPeers().some((p) => p.textId === bob.textId)),
      'Alice sees Bob on the LAN',
    )
    t.ok(
      await whenClient(bob, () => bob.lanPeers().some((p) => p.textId === alice.textId)),
      'Bob sees Alice on the LAN',
    )
    t.equal(alice.status().lanPeers, 1)

    const contact = await alice.contacts.add(bob.contactUri, { name: 'Bob' })
    t.equal(alice.lanPeers()[0]?.contactId, bob.textId, 'the LAN peer is a contact now')
    const atBob = collect(bob, 1)
    const hi = await alice.send(contact.id, 'hi Bob')
    t.equal(hi.state, 'delivered', 'delivered over the link (the link answer is the receipt)')
    t.equal(hi.route, 'direct')
    const [received] = await atBob.done
    t.equal(received?.text, 'hi Bob')
    t.equal(received?.route, 'direct')
    t.equal(received?.contactId, alice.textId, 'the sender became a contact of Bob')

    const atAlice = collect(alice, 3)
    for (const text of ['hello Alice', 'two', 'three']) {
      const reply = await bob.send(alice.textId, text)
      t.equal(reply.state, 'delivered')
      t.equal(reply.route, 'direct')
    }
    t.same(
      (await atAlice.done).map((m) => m.text),
      ['hello Alice', 'two', 'three'],
    )
    t.equal((await alice.contacts.get('Bob'))?.online, true, 'Bob shows online')
    t.equal(alice.status().directLinks, 1)
    t.same(
      (await alice.history(bob.textId)).map((m) => `${m.direction}:${m.text}`),
      ['out:hi Bob', 'in:hello Alice', 'in:two', 'in:three'],
    )
  },
)

t.test('direct first, the mailbox when the link is gone', async (t) => {
  const net = await testnet(t)
  const lan = {
    interface: '127.0.0.1',
    port: await freeUdpPort(),
    group: '239.255.77.79',
    intervalMs: 250,
  }
  const alice = await startClient(t, net, tmpHome(t, 'alice'), { lan })
  const bobHome = tmpHome(t, 'bob')
  let bob = await startClient(t, net, bobHome, { lan })
  await alice.contacts.add(bob.contactUri)
  t.ok(await whenClient(alice, () => alice.lanPeers().length === 1), 'on the LAN')
  const first = await alice.send(bob.textId, 'direct')
  t.equal(first.route, 'direct')
  await bob.close()
  const t0 = Date.now()
  const second = await alice.send(bob.textId, 'mailbox')
  t.comment(`fallback took ${Date.now() - t0} ms`)
  t.equal(second.route, 'mailbox', 'Bob is gone: the mailbox takes it')
  t.equal(second.state, 'stored')
  bob = await startClient(t, net, bobHome, { lan: false })
  const got = collect(bob, 1)
  await bob.fetchInbox()
  t.same(
    (await got.done).map((m) => m.text),
    ['mailbox'],
  )
  t.same(
    (await bob.history(alice.textId)).map((m) => m.text),
    ['direct', 'mailbox'],
  )
})

t.test(
  'overlapping sends: strictly increasing send times, each message delivered once over the link',
  async (t) => {
    const lan = {
      interface: '127.0.0.1',
      port: await freeUdpPort(),
      group: '239.255.77.80',
      intervalMs: 250,
    }
    const none = { bootstrap: [] } as unknown as Parameters<typeof startClient>[1]
    const alice = await startClient(t, none, tmpHome(t, 'alice'), { lan })
    const bobHome = tmpHome(t, 'bob')
    const bob = await startClient(t, none, bobHome, { lan })
    await alice.contacts.add(bob.contactUri)
    t.ok(await whenClient(alice, () => alice.lanPeers().length === 1), 'on the LAN')
    t.equal((await alice.send(bob.textId, 'first')).route, 'direct', 'the session is set up')
    const texts = Array.from({ length: 40 }, (_, i) => `m${i}`)
    const got = collect(bob, texts.length)
    // All in flight at once: one link, one session, many messages.
    const sent = await Promise.all(texts.map((text) => alice.send(bob.textId, text)))
    t.ok(
      sent.every((m) => m.route === 'direct' && m.state === 'delivered'),
      'each one delivered directly',
    )
    for (let i = 1; i < sent.length; i++) {
      t.ok(sent[i]!.sentAt > sent[i - 1]!.sentAt, `send time ${i} is later than ${i - 1}`)
    }
    t.same((await got.done).map((m) => m.text).sort(), [...texts].sort(), 'each arrived once')
    t.same(
      (await bob.history(alice.textId, { limit: 100 })).map((m) => m.text),
      ['first', ...texts],
      'in send order',
    )
    t.equal(alice.status().outbox, 0)

    // "Last seen" is exact while running; the row is written at most once a second per
    // sender, so it may lag by less than that.
    const last = Math.max(
      ...(await bob.history(alice.textId, { limit: 100 })).map((m) => m.receivedAt),
    )
    t.equal((await bob.requests.get(alice.textId))?.lastSeenAt, last, 'last seen: the last message')
    const file = new Database(join(bobHome, CLIENT_DB_FILE), { readonly: true })
    t.teardown(() => file.close())
    const row = file
      .prepare('select last_seen_at from contacts where id = ?')
      .get(alice.textId) as {
      last_seen_at: number
    }
    t.ok(row.last_seen_at <= last && last - row.last_seen_at < 1_000, 'the row lags by under 1 s')
  },
)

t.test(
  'a lost "stored" answer: the mailbox copy of the same Signal message is not shown twice',
  async (t) => {
    const net = await testnet(t)
    const lan = {
      interface: '127.0.0.1',
      port: await freeUdpPort(),
      group: '239.255.77.81',
      intervalMs: 250,
    }
    let loseAnswers = false
    const alice = await startClient(t, net, tmpHome(t, 'alice'), { lan })
    const bob = await startClient(
      t,
      net,
      tmpHome(t, 'bob'),
      { lan },
      {
        faults: {
          beforeDirectAck: () => {
            if (loseAnswers) throw new Error('the answer is lost')
          },
        },
      },
    )
    await alice.contacts.add(bob.contactUri)
    t.ok(await whenClient(alice, () => alice.lanPeers().length === 1), 'on the LAN')
    t.equal((await alice.send(bob.textId, 'one')).route, 'direct')
    const refused: unknown[] = []
    bob.on('refused', (r) => refused.push(r))
    const got = collect(bob, 1)
    loseAnswers = true
    // Bob stores it from the link; Alice hears nothing and, after 5 s, puts it in the mailbox.
    const two = await alice.send(bob.textId, 'two')
    t.equal(two.route, 'mailbox', 'no answer: the mailbox took it')
    t.equal(two.state, 'stored')
    t.same(
      (await got.done).map((m) => m.text),
      ['two'],
      'Bob got it over the link',
    )
    const again = collect(bob, 1, 1_000)
    t.same(await bob.fetchInbox(), [], 'the mailbox copy is a duplicate')
    t.same(await again.done, [], 'no second message event')
    t.same(refused, [], 'a duplicate is not a refusal')
    t.same(
      (await bob.history(alice.textId)).map((m) => m.text),
      ['one', 'two'],
    )
    const key = mailboxKeyFor(bob.identity.publicKey)
    let left = 0
    for (const node of net.nodes)
      left += (await node.mailboxStore.list(key, Date.now(), 256)).length
    t.equal(left, 0, 'and it left the mailbox')
  },
)

t.test(
  'a damaged Signal message on a link is refused as tampered; the client carries on',
  async (t) => {
    const lan = {
      interface: '127.0.0.1',
      port: await freeUdpPort(),
      group: '239.255.77.82',
      intervalMs: 250,
    }
    const none = { bootstrap: [] } as unknown as Parameters<typeof startClient>[1]
    const alice = await startClient(t, none, tmpHome(t, 'alice'), { lan })
    const bob = await startClient(t, none, tmpHome(t, 'bob'), { lan })
    await alice.contacts.add(bob.contactUri)
    t.ok(await whenClient(alice, () => alice.lanPeers().length === 1), 'on the LAN')
    t.equal((await alice.send(bob.textId, 'one')).route, 'direct')
    const refused: RefusedEvent[] = []
    bob.on('refused', (r) => refused.push(r))
    // A link of Alice's own identity (the handshake passes), carrying damaged messages.
    const { host, port } = bob.status().listening!
    const link = await dialLink({
      connect: connectTcp,
      identity: alice.identity,
      host,
      port,
      expectedId: nodeIdFromPublicKey(bob.identity.publicKey),
    })
    t.teardown(() => link.close())
    const garbage = new Uint8Array(120).fill(0x5a) as Bytes
    for (const messageType of [2, 3] as const) {
      await link.send(
        encodeDirectFrame({ type: 'signal', deviceId: 1, messageType, message: garbage }),
      )
    }
    t.ok(await whenClient(bob, () => refused.length === 2), 'both refused')
    t.same(
      refused.map((r) => [r.reason, r.route, r.claimedSender]),
      [
        ['tampered', 'direct', alice.textId],
        ['tampered', 'direct', alice.textId],
      ],
    )
    t.equal((await bob.contacts.get(alice.textId))?.flagged, undefined, 'damage flags nobody')
    link.close()
    const got = collect(bob, 1)
    t.equal((await alice.send(bob.textId, 'two')).route, 'direct', 'the genuine one still goes')
    t.same(
      (await got.done).map((m) => m.text),
      ['two'],
    )
  },
)
