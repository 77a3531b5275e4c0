// Two SDK clients with separate homes and one in-process super-node (HTTP bootstrap + DHT node
// on Postgres) on a DHT testnet, all on 127.0.0.1: direct delivery both ways with addresses
// resolved through the super-node; the recipient offline, 50 messages through its mailbox.
import { mailboxKeyFor, ManualClock, ManualTimers, type ChatMessage } from '@passage/sdk'
import { testnet, tmpHome, startClient, collect } from '@passage/sdk/testing'
import t from 'tap'
import { defaultConfig } from '../src/config.js'
import { startServer } from '../src/start-server.js'
import { backends } from './helpers/databases.js'

/** Timers that never fire by themselves: the test calls what they would call. */
const manualTimers = new ManualTimers(new ManualClock())

const backend = backends.find((b) => b.name === 'postgres') ?? backends[0]!

t.test(`${backend.name}: two clients and a super-node`, async (t) => {
  const net = await testnet(t, 5)
  const storage = await backend.prepare(t)
  const server = await startServer({
    config: defaultConfig({
      httpHost: '127.0.0.1',
      httpPort: 0,
      dhtPort: 0,
      bootstrap: net.bootstrap,
      ...storage.options,
    }),
    dht: { timers: manualTimers, node: { requestTimeoutMs: 200, retries: 2 } },
  })
  t.teardown(() => server.close())
  const servers = [server.url]

  const aliceHome = tmpHome(t, 'alice')
  const bobHome = tmpHome(t, 'bob')
  const alice = await startClient(t, undefined, aliceHome, { servers, background: true })
  let bob = await startClient(t, undefined, bobHome, { servers, background: true })
  t.ok(alice.status().dhtNodes > 0, 'Alice joined the DHT through the super-node')
  t.ok(alice.status().superNodes[0]?.reachable, 'and announced herself there')

  // A bare text ID: the key comes from the super-node.
  const contact = await alice.contacts.add(bob.textId, { name: 'Bob' })
  t.equal(contact.id, bob.textId)

  // Direct both ways, addresses resolved through the super-node.
  const atBob = collect(bob, 1).done
  const hi = await alice.send(bob.textId, 'hi Bob')
  t.equal(hi.route, 'direct')
  t.equal(hi.state, 'delivered')
  t.equal((await atBob)[0]?.text, 'hi Bob')
  const atAlice = collect(alice, 1).done
  const back = await bob.send(alice.textId, 'hi Alice')
  t.equal(back.route, 'direct')
  t.equal(back.state, 'delivered')
  t.equal((await atAlice)[0]?.text, 'hi Alice')

  // Bob goes offline; 50 messages go to his mailbox.
  await bob.close()
  const sent: ChatMessage[] = []
  for (let i = 0; i < 50; i++) sent.push(await alice.send(bob.textId, `offline ${i}`))
  t.ok(
    sent.every((m) => m.route === 'mailbox' && m.state === 'stored'),
    'all stored in the mailbox',
  )
  bob = await startClient(t, undefined, bobHome, { servers, background: true })
  const got = collect(bob, 50).done
  await bob.fetchInbox()
  const messages = await got
  t.same(
    messages.map((m) => m.text),
    sent.map((m) => m.text),
    'all 50, once, in order',
  )
  const late = collect(bob, 1, 1_000).done
  await bob.fetchInbox()
  t.same(await late, [], 'nothing twice')
  const key = mailboxKeyFor(bob.identity.publicKey)
  let left = (await server.dht!.node.mailboxStore.list(key, Date.now(), 256)).length
  for (const node of net.nodes) left += (await node.mailboxStore.list(key, Date.now(), 256)).length
  t.equal(left, 0, 'the mailbox is empty afterwards')
})
