// `passage send` to a contact whose link address is announced: the link is tried first (as the
// chat screen does, and docs/PROTOCOL.md says), the mailbox only when no link can be had.
// A real super-node on 127.0.0.1, Bob a running SDK client that listens and announces, Alice
// the CLI in-process. LAN multicast off: the address comes from Bob's announce.
import { type ChatMessage } from '@passage/sdk'
import { createNodeClient } from '@passage/sdk/node'
import { tmpHome, until } from '@passage/sdk/testing'
import t from 'tap'
import { startSuperNode } from './helpers/super-node.js'
import { passage } from './helpers/passage.js'

const node = await startSuperNode()
t.teardown(() => node.stop())

t.test('send goes over the announced link, not to the mailbox', async (t) => {
  const aliceHome = tmpHome(t, 'Alice')
  const init = await passage(['init', '--home', aliceHome, '--name', 'Alice', '--json'])
  t.equal(init.code, 0, init.err)
  const alice = JSON.parse(init.out) as { id: string; uri: string }

  const bob = await createNodeClient({
    home: tmpHome(t, 'Bob'),
    createIdentity: true,
    name: 'Bob',
    servers: [node.url],
    lan: false,
  })
  t.teardown(() => bob.close())
  const received: ChatMessage[] = []
  bob.on('message', (m) => received.push(m))
  await bob.contacts.add(alice.uri)
  // Bob's announce (his link listener's address) is live on the super-node.
  await until(
    async () => (await fetch(`${node.url}/v1/peers/${bob.textId}`)).status === 200,
    "Bob's announce",
    { ms: 20_000, everyMs: 100 },
  )

  // The super-node is remembered in Alice's home from here on.
  const added = await passage([
    'contacts',
    'add',
    bob.contactUri,
    '--server',
    node.url,
    '--home',
    aliceHome,
  ])
  t.equal(added.code, 0, added.err)
  const sent = await passage(['send', 'Bob', 'over the link', '--home', aliceHome, '--json'])
  t.equal(sent.code, 0, sent.err)
  const message = JSON.parse(sent.out) as { state: string; route?: string }
  t.equal(message.state, 'delivered', 'acknowledged by Bob over the link')
  await until(async () => received.length > 0, 'Bob got it', { ms: 10_000, everyMs: 50 })
  t.equal(received[0]!.text, 'over the link')
  const mailbox = await bob.fetchInbox()
  t.same(mailbox, [], 'nothing went to his mailbox')
})

t.test('a listener on every interface is announced as "the address you see me at"', async (t) => {
  const carol = await createNodeClient({
    home: tmpHome(t, 'Carol'),
    createIdentity: true,
    name: 'Carol',
    servers: [node.url],
    lan: false,
    listen: { host: '0.0.0.0' },
  })
  t.teardown(() => carol.close())
  let peer: { addresses: { host: string; port: number }[] } | undefined
  await until(
    async () => {
      const res = await fetch(`${node.url}/v1/peers/${carol.textId}`)
      if (res.status === 200) peer = (await res.json()) as typeof peer
      return peer !== undefined
    },
    "Carol's announce",
    { ms: 20_000, everyMs: 100 },
  )
  const port = carol.status().listening!.port
  t.same(
    peer!.addresses.map((a) => ({ host: a.host, port: a.port })),
    [{ host: '', port }],
    'announced with an empty host, never 0.0.0.0 (a peer elsewhere would dial itself)',
  )
})
