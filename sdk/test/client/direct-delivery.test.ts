import { createSocket } from 'node:dgram'
import t from 'tap'
import { collect, home, startClient, testnet, until } from './helpers.js'

/** A UDP port free on 127.0.0.1 now (the LAN group sockets of both clients share it). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const { port } = socket.address()
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return port
}

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
    const alice = await startClient(t, none, home(t, 'alice'), { lan, background: true })
    const bob = await startClient(t, none, home(t, 'bob'), { lan, background: true })
    t.equal(alice.status().dhtNodes, 0, 'no DHT')
    t.ok(
      await until(alice, () => alice.lanPeers().some((p) => p.textId === bob.textId)),
      'Alice sees Bob on the LAN',
    )
    t.ok(
      await until(bob, () => bob.lanPeers().some((p) => p.textId === alice.textId)),
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
  const alice = await startClient(t, net, home(t, 'alice'), { lan })
  const bobHome = home(t, 'bob')
  let bob = await startClient(t, net, bobHome, { lan })
  await alice.contacts.add(bob.contactUri)
  t.ok(await until(alice, () => alice.lanPeers().length === 1), 'on the LAN')
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
