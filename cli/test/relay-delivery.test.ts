// Relay through the super-node (issue 16): Alice and Bob cannot reach each other; both reach
// the super-node. Three network namespaces this test creates (and deletes): `S` (the
// super-node) joined by one veth pair to `A` (10.78.1.0/24) and by another to `B`
// (10.78.2.0/24). A and B route the other's network through S, which does not forward: their
// packets to each other are dropped unanswered, as by a NAT. Alice in A and Bob in B
// (helpers/relay-chat.ts, listening on every interface) each dial the other's address as the
// super-node saw it first (no answer: given up after 3 s, since a relay follows), then link
// through the relay; 100 texts each way go over that link. Then the relay is stopped mid-chat: the texts go to the
// mailboxes and every one arrives, once.
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { contactHomes, hub, run } from './helpers/netns.js'

const NODE = fileURLToPath(new URL('./helpers/relay-node.ts', import.meta.url))
const CHAT = fileURLToPath(new URL('./helpers/relay-chat.ts', import.meta.url))
const TEXTS = 100
const AFTER = 20 // texts each way after the relay is gone
const RUN_MS = 240_000

// Three processes start (a super-node on PGlite, two clients): slow on a busy machine.
t.setTimeout(RUN_MS + 60_000)

t.test('no way between them: a link through the relay, then the mailbox', async (t) => {
  const ns = hub(t, '10.78', false)
  const { homes, ids } = await contactHomes(t, 'passage-relay-')

  const node = run(t, ns.s, NODE, {}, RUN_MS)
  t.equal(await node.next(), 'ready', 'the super-node runs, relay on')
  const alice = run(
    t,
    ns.a,
    CHAT,
    { HOME_DIR: homes.alice, SERVER: 'http://10.78.1.1:8080', PEER: ids.bob },
    RUN_MS,
  )
  const bob = run(
    t,
    ns.b,
    CHAT,
    { HOME_DIR: homes.bob, SERVER: 'http://10.78.2.1:8080', PEER: ids.alice },
    RUN_MS,
  )
  t.same(await alice.json(), { ready: true }, 'Alice is registered at the relay')
  t.same(await bob.json(), { ready: true }, 'Bob too')

  type Sent = { sent: string[]; route: string }
  type Got = { got: string[]; routes: (string | null)[] }
  const numbered = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => `${prefix}${i}`)
  // A first text opens the link (the direct dial is given up after 3 s, then the relay).
  alice.say({ cmd: 'send', prefix: 'hello', n: 1 })
  await alice.json<Sent>()
  for (const p of [alice, bob]) p.say({ cmd: 'route', route: 'relay' })
  t.same(await alice.json(), { route: 'relay' }, 'Alice shows Bob on the relay')
  t.same(await bob.json(), { route: 'relay' }, 'Bob shows Alice on the relay')
  for (const [from, to, prefix] of [
    [alice, bob, 'a'],
    [bob, alice, 'b'],
  ] as const) {
    from.say({ cmd: 'send', prefix, n: TEXTS })
    const sent = await from.json<Sent>()
    t.same(sent.sent, Array(TEXTS).fill('delivered'), `${prefix}: 100 acknowledged over the link`)
    t.equal(sent.route, 'relay', `${prefix}: still on the relay`)
    to.say({ cmd: 'expect', prefix, n: TEXTS })
    const got = await to.json<Got>()
    t.same(got.got, numbered(prefix, TEXTS), `${prefix}: all 100 arrived, in order, once`)
    t.same(got.routes, Array(TEXTS).fill('direct'), `${prefix}: over the link, 0 via mailbox`)
  }

  // The relay goes away while Alice sends.
  alice.say({ cmd: 'send', prefix: 'c', n: AFTER })
  node.say('stop-relay')
  t.equal(await node.next(), 'relay-stopped')
  bob.say({ cmd: 'send', prefix: 'd', n: AFTER })
  const [afterA, afterB] = [await alice.json<Sent>(), await bob.json<Sent>()]
  t.equal(afterB.route, 'mailbox', 'Bob shows Alice reachable by mailbox only')
  t.notOk(afterB.sent.includes('pending'), `Bob's texts went to the mailbox: ${afterB.sent}`)
  t.notOk(afterA.sent.includes('pending'), `Alice's too: ${afterA.sent}`)
  alice.say({ cmd: 'expect', prefix: 'd', n: AFTER })
  bob.say({ cmd: 'expect', prefix: 'c', n: AFTER })
  const [lateA, lateB] = [await alice.json<Got>(), await bob.json<Got>()]
  t.same([...lateB.got].sort(), numbered('c', AFTER).sort(), 'Bob got every text, once')
  t.same([...lateA.got].sort(), numbered('d', AFTER).sort(), 'Alice too')
  t.ok(
    lateA.routes.every((r) => r === 'mailbox'),
    "Bob's texts after the relay came through the mailbox",
  )
  for (const p of [alice, bob]) p.say({ cmd: 'quit' })
  node.say('quit')
  const exits = [alice, bob, node].map(
    (p) =>
      new Promise((resolve) =>
        p.child.exitCode !== null ? resolve(p.child.exitCode) : p.child.on('exit', resolve),
      ),
  )
  t.same(await Promise.all(exits), [0, 0, 0], 'all three stop cleanly')
})
