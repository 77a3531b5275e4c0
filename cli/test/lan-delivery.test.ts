// Delivery without the super-node (issue 13, item 10): two chat clients on one LAN, the
// super-node killed mid-chat and the links gone with a restart: LAN beacons alone must open a
// direct link, and the next 20 texts arrive directly within 2 s each, in order.
//
// "One LAN" is a network namespace this test creates (and deletes) with a veth interface
// `lan0` at 10.77.0.1: the beacons are sent from that address, as on a real LAN (on loopback
// they would come from 127.0.0.1, where a loopback-only listener hides the fault). Everything
// runs inside the namespace (helpers/lan-chat.ts); nothing leaves it.
//
// Two machines on a LAN, no super-node at all (issue 16): two namespaces joined by a veth pair,
// a client in each (helpers/relay-chat.ts); beacons alone find the peer, and 100 texts each way
// go over the direct link, none through a mailbox (there is none).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { contactHomes, ip, namespace, run } from './helpers/netns.js'

const SCRIPT = fileURLToPath(new URL('./helpers/lan-chat.ts', import.meta.url))
const CHAT = fileURLToPath(new URL('./helpers/relay-chat.ts', import.meta.url))
const LAN_IP = '10.77.0.1'
const TEXTS = 20
const RUN_MS = 120_000

/** A namespace with loopback and a multicast-capable `lan0` at LAN_IP; deleted at teardown. */
function lanNamespace(t: { teardown(fn: () => unknown): void }): string {
  const ns = `passage-lan-${randomBytes(3).toString('hex')}`
  try {
    ip('netns', 'add', ns)
  } catch (error) {
    throw new Error(
      `this test creates a network namespace (ip netns add, as root): ${String(error)}`,
    )
  }
  t.teardown(() => ip('netns', 'del', ns))
  ip('-n', ns, 'link', 'set', 'lo', 'up')
  // A veth pair with both ends inside: lan0 is this host's LAN interface, lan1 the wire.
  ip('-n', ns, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1')
  ip('-n', ns, 'addr', 'add', `${LAN_IP}/24`, 'dev', 'lan0')
  ip('-n', ns, 'link', 'set', 'lan0', 'multicast', 'on')
  ip('-n', ns, 'link', 'set', 'lan1', 'up')
  ip('-n', ns, 'link', 'set', 'lan0', 'up')
  ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'lan0')
  return ns
}

t.test(
  'super-node gone, links gone: LAN beacons open a link, 20 texts direct, in order',
  async (t) => {
    const ns = lanNamespace(t)
    const child = spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, ...process.execArgv, SCRIPT],
      {
        env: { ...process.env, LAN_IP, TEXTS: String(TEXTS) },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_MS)
    t.teardown(() => {
      clearTimeout(timer)
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const [code] = (await once(child, 'exit')) as [number | null]
    t.equal(code, 0, `the chat ran to the end ${stderr.slice(-2000)}`)
    const line = stdout.trim().split('\n').at(-1) ?? '{}'
    const result = JSON.parse(line) as {
      delays: number[]
      states: string[]
      routes: (string | null)[]
      order: string[]
      online: boolean
    }
    t.same(
      result.order,
      Array.from({ length: TEXTS }, (_, i) => `direct ${i + 1}`),
      `Bob got all ${TEXTS} texts once, in order`,
    )
    t.same(result.states, Array(TEXTS).fill('delivered'), 'each acknowledged over the link')
    t.same(result.routes, Array(TEXTS).fill('direct'), 'each came over the direct link')
    const slow = result.delays.filter((ms) => ms > 2_000)
    t.same(slow, [], `each within 2 s (slowest ${Math.max(...result.delays)} ms)`)
    t.equal(result.online, true, 'Alice shows Bob online: she reaches him')
  },
)

t.test(
  'two machines on a LAN, no super-node: 100 texts each way direct, 0 via mailbox',
  async (t) => {
    t.setTimeout(RUN_MS + 60_000)
    const a = namespace(t, 'lan-a')
    const b = namespace(t, 'lan-b')
    // One cable between the two machines: eth0 at 10.79.0.1 in A, at 10.79.0.2 in B.
    ip('-n', a, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1')
    ip('-n', a, 'link', 'set', 'eth1', 'netns', b)
    ip('-n', b, 'link', 'set', 'eth1', 'name', 'eth0')
    for (const [ns, addr] of [
      [a, '10.79.0.1'],
      [b, '10.79.0.2'],
    ] as const) {
      ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0')
      ip('-n', ns, 'link', 'set', 'eth0', 'multicast', 'on')
      ip('-n', ns, 'link', 'set', 'eth0', 'up')
      ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
    }
    const { homes, ids } = await contactHomes(t, 'passage-lan-two-')
    const alice = run(
      t,
      a,
      CHAT,
      { HOME_DIR: homes.alice, LAN_IP: '10.79.0.1', PEER: ids.bob },
      RUN_MS,
    )
    const bob = run(
      t,
      b,
      CHAT,
      { HOME_DIR: homes.bob, LAN_IP: '10.79.0.2', PEER: ids.alice },
      RUN_MS,
    )
    t.same(await alice.json(), { ready: true }, "Alice hears Bob's beacons")
    t.same(await bob.json(), { ready: true }, "Bob hears Alice's")
    type Sent = { sent: string[]; route: string }
    type Got = { got: string[]; routes: (string | null)[] }
    const numbered = (prefix: string) => Array.from({ length: 100 }, (_, i) => `${prefix}${i}`)
    for (const [from, to, prefix] of [
      [alice, bob, 'a'],
      [bob, alice, 'b'],
    ] as const) {
      from.say({ cmd: 'send', prefix, n: 100 })
      const sent = await from.json<Sent>()
      t.same(sent.sent, Array(100).fill('delivered'), `${prefix}: 100 acknowledged over the link`)
      t.equal(sent.route, 'lan', `${prefix}: the peer shows on the LAN`)
      to.say({ cmd: 'expect', prefix, n: 100 })
      const got = await to.json<Got>()
      t.same(got.got, numbered(prefix), `${prefix}: all 100 arrived, in order, once`)
      t.same(got.routes, Array(100).fill('direct'), `${prefix}: over the link, 0 via mailbox`)
    }
    for (const p of [alice, bob]) p.say({ cmd: 'quit' })
    const exits = [alice, bob].map(
      (p) =>
        new Promise((resolve) =>
          p.child.exitCode !== null ? resolve(p.child.exitCode) : p.child.on('exit', resolve),
        ),
    )
    t.same(await Promise.all(exits), [0, 0], 'both stop cleanly')
  },
)
