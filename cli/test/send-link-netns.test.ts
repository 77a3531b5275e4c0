// `passage send` across machines (issue 13, item 11): to a contact whose announced link address
// works, the link is tried first and takes the message (docs/PROTOCOL.md, "How a payload
// travels"); the mailbox only when no link can be had. send-link.test.ts shows it on loopback,
// where it always worked: the fault was in what a client binds by default, which only shows
// when the super-node and the peer are on other machines.
//
// Three network namespaces this test creates (and deletes): `S` (the super-node, no relay, as a
// super-node runs by default) joined by one veth pair to `A` (10.79.1.0/24) and by another to
// `B` (10.79.2.0/24); S routes between them, so Alice and Bob can dial each other. Bob in B is
// a chat client with the chat screen's options and LAN discovery off (helpers/link-peer.ts);
// Alice in A is the real `passage` program, one `passage send` per text.
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { contactHomes, exec, hub, run } from './helpers/netns.js'

const NODE = fileURLToPath(new URL('./helpers/relay-node.ts', import.meta.url))
const PEER = fileURLToPath(new URL('./helpers/link-peer.ts', import.meta.url))
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url))
const RUN_MS = 180_000
const SEND_MS = 60_000 // one `passage send`: TypeScript loading, the DHT, the send

// Two processes start (a super-node on PGlite, a client), and the CLI twice: slow on a busy
// machine.
t.setTimeout(RUN_MS + 60_000)

type Ready = {
  ready: boolean
  status: { listening?: { host: string; port: number }; superNodes: { lastAnnounceAt?: number }[] }
}
type Got = { got: string[]; routes: (string | null)[]; relayedLinks: number; mailbox: number }
type Sent = { state: string; route: string | null; text: string }

t.test('passage send takes the announced link; the mailbox when Bob is gone', async (t) => {
  const ns = hub(t, '10.79', true)
  const { homes, ids } = await contactHomes(t, 'passage-send-link-')

  const node = run(t, ns.s, NODE, { RELAY: 'off' }, RUN_MS)
  t.equal(await node.next(), 'ready', 'the super-node runs, no relay')
  const bob = run(
    t,
    ns.b,
    PEER,
    { HOME_DIR: homes.bob, SERVER: 'http://10.79.2.1:8080', PEER: ids.alice },
    RUN_MS,
  )
  const ready = await bob.json<Ready>()
  t.ok(ready.status.superNodes[0]?.lastAnnounceAt, 'Bob announced his link address')

  const send = async (text: string): Promise<Sent> => {
    const args = ['send', 'bob', text, '--server', 'http://10.79.1.1:8080', '--json']
    const env = { PASSAGE_HOME: homes.alice, NO_COLOR: '1' }
    const sent = await exec(ns.a, MAIN, args, env, SEND_MS)
    t.equal(sent.code, 0, `passage send exits 0: ${sent.stderr.slice(-2000)}`)
    return JSON.parse(sent.stdout || '{}') as Sent
  }

  const first = await send('over the link')
  t.same(
    { state: first.state, route: first.route },
    { state: 'delivered', route: 'direct' },
    `acknowledged by Bob over the link, not left to the mailbox (Bob listens at ${JSON.stringify(ready.status.listening)})`,
  )
  bob.say({ cmd: 'expect', n: 1 })
  const got = await bob.json<Got>()
  t.same(got.got, ['over the link'], 'Bob has it')
  t.same(got.routes, ['direct'], 'over a link')
  t.equal(got.relayedLinks, 0, 'a direct one (and there is no relay)')
  t.equal(got.mailbox, 0, 'nothing in his mailbox')

  // Bob quits: his announce lives on at the super-node, but nobody listens there now.
  bob.say({ cmd: 'close' })
  t.same(await bob.json(), { closed: true })
  const second = await send('while you were away')
  t.same(
    { state: second.state, route: second.route },
    { state: 'stored', route: 'mailbox' },
    'no link to be had: stored in his mailbox',
  )
  bob.say({ cmd: 'open' })
  await bob.json<Ready>()
  bob.say({ cmd: 'expect', n: 1 })
  const later = await bob.json<Got>()
  t.same(later.got, ['while you were away'], 'Bob gets it when he is back')
  t.same(later.routes, ['mailbox'], 'from his mailbox')

  bob.say({ cmd: 'quit' })
  node.say('quit')
  const exits = [bob, node].map(
    (p) =>
      new Promise((resolve) =>
        p.child.exitCode !== null ? resolve(p.child.exitCode) : p.child.on('exit', resolve),
      ),
  )
  t.same(await Promise.all(exits), [0, 0], 'both stop cleanly')
})
