// Delivery without the super-node (issue 13, item 10): two chat clients on one LAN, the
// super-node killed mid-chat and the links gone with a restart: LAN beacons alone must open a
// direct link, and the next 20 texts arrive directly within 2 s each, in order.
//
// "One LAN" is a network namespace this test creates (and deletes) with a veth interface
// `lan0` at 10.77.0.1: the beacons are sent from that address, as on a real LAN (on loopback
// they would come from 127.0.0.1, where a loopback-only listener hides the fault). Everything
// runs inside the namespace (helpers/lan-chat.ts); nothing leaves it.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const SCRIPT = fileURLToPath(new URL('./helpers/lan-chat.ts', import.meta.url))
const LAN_IP = '10.77.0.1'
const TEXTS = 20
const RUN_MS = 120_000

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

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
