// Relay through the super-node (issue 16): Alice and Bob are on networks with no route between
// them; both reach the super-node. Three network namespaces this test creates (and deletes):
// `S` (the super-node, forwarding off) joined by one veth pair to `A` (10.78.1.0/24) and by
// another to `B` (10.78.2.0/24). Alice in A and Bob in B (helpers/relay-chat.ts) each dial the
// other's announced address first (it fails: no route), then link through the relay; 100
// texts each way go over that link. Then the relay is stopped mid-chat: the texts go to the
// mailboxes and every one arrives, once.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createNodeClient } from '@passage/sdk/node'
import t from 'tap'

const NODE = fileURLToPath(new URL('./helpers/relay-node.ts', import.meta.url))
const CHAT = fileURLToPath(new URL('./helpers/relay-chat.ts', import.meta.url))
const TEXTS = 100
const AFTER = 20 // texts each way after the relay is gone
const RUN_MS = 240_000

// Three processes start (a super-node on PGlite, two clients): slow on a busy machine.
t.setTimeout(RUN_MS + 60_000)

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/** S, A and B as in the file comment; deleted at teardown. */
function networks(t: { teardown(fn: () => unknown): void }): { s: string; a: string; b: string } {
  const tag = randomBytes(3).toString('hex')
  const names = { s: `passage-s-${tag}`, a: `passage-a-${tag}`, b: `passage-b-${tag}` }
  for (const ns of Object.values(names)) {
    try {
      ip('netns', 'add', ns)
    } catch (error) {
      throw new Error(
        `this test creates network namespaces (ip netns add, as root): ${String(error)}`,
      )
    }
    t.teardown(() => ip('netns', 'del', ns))
    ip('-n', ns, 'link', 'set', 'lo', 'up')
  }
  for (const [side, net] of [
    ['a', 1],
    ['b', 2],
  ] as const) {
    const ns = names[side]
    ip('-n', names.s, 'link', 'add', `to-${side}`, 'type', 'veth', 'peer', 'name', 'up0')
    ip('-n', names.s, 'link', 'set', 'up0', 'netns', ns)
    ip('-n', names.s, 'addr', 'add', `10.78.${net}.1/24`, 'dev', `to-${side}`)
    ip('-n', ns, 'addr', 'add', `10.78.${net}.2/24`, 'dev', 'up0')
    ip('-n', names.s, 'link', 'set', `to-${side}`, 'up')
    ip('-n', ns, 'link', 'set', 'up0', 'up')
  }
  return names
}

/** A child process in `ns`, its stdout read as lines. */
function run(
  t: { teardown(fn: () => unknown): void },
  ns: string,
  script: string,
  env: Record<string, string>,
) {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, script], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  }) as ChildProcessWithoutNullStreams
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_MS)
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr += chunk
    if (process.env.RELAY_DEBUG) process.stderr.write(`[${ns}] ${chunk}`)
  })
  t.teardown(() => {
    clearTimeout(timer)
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  return {
    child,
    async next(): Promise<string> {
      const line = await lines.next()
      if (line.done) throw new Error(`${script} ended: ${stderr.slice(-2000)}`)
      return line.value
    },
    async json<T>(): Promise<T> {
      const value = JSON.parse(await this.next()) as T & { error?: string }
      if (value.error) throw new Error(`${script}: ${value.error} ${stderr.slice(-2000)}`)
      return value
    },
    say(line: unknown) {
      child.stdin.write(`${typeof line === 'string' ? line : JSON.stringify(line)}\n`)
    },
  }
}

t.test('no route between them: a link through the relay, then the mailbox', async (t) => {
  const ns = networks(t)
  const dir = mkdtempSync(join(tmpdir(), 'passage-relay-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // The homes, made here (the file system is shared): each knows the other.
  const homes = { alice: join(dir, 'alice'), bob: join(dir, 'bob') }
  const ids: Record<string, string> = {}
  const uris: Record<string, string> = {}
  for (const [name, home] of Object.entries(homes)) {
    const c = await createNodeClient({ home, createIdentity: true, name, network: false })
    ids[name] = c.textId
    uris[name] = c.contactUri
    await c.close()
  }
  for (const [name, other] of [
    ['alice', 'bob'],
    ['bob', 'alice'],
  ] as const) {
    const c = await createNodeClient({ home: homes[name], network: false })
    await c.contacts.add(uris[other]!, { name: other })
    await c.close()
  }

  const node = run(t, ns.s, NODE, {})
  t.equal(await node.next(), 'ready', 'the super-node runs, relay on')
  const alice = run(t, ns.a, CHAT, {
    HOME_DIR: homes.alice,
    SERVER: 'http://10.78.1.1:8080',
    PEER: ids.bob!,
  })
  const bob = run(t, ns.b, CHAT, {
    HOME_DIR: homes.bob,
    SERVER: 'http://10.78.2.1:8080',
    PEER: ids.alice!,
  })
  t.same(await alice.json(), { ready: true }, 'Alice is registered at the relay')
  t.same(await bob.json(), { ready: true }, 'Bob too')

  type Sent = { sent: string[]; route: string }
  type Got = { got: string[]; routes: (string | null)[] }
  const numbered = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => `${prefix}${i}`)
  alice.say({ cmd: 'send', prefix: 'a', n: TEXTS })
  bob.say({ cmd: 'send', prefix: 'b', n: TEXTS })
  const [aliceSent, bobSent] = [await alice.json<Sent>(), await bob.json<Sent>()]
  t.same(aliceSent.sent, Array(TEXTS).fill('delivered'), "Alice's 100 acknowledged over the link")
  t.same(bobSent.sent, Array(TEXTS).fill('delivered'), "Bob's 100 too")
  t.equal(aliceSent.route, 'relay', 'Alice shows Bob on the relay')
  t.equal(bobSent.route, 'relay', 'Bob shows Alice on the relay')
  alice.say({ cmd: 'expect', prefix: 'b', n: TEXTS })
  bob.say({ cmd: 'expect', prefix: 'a', n: TEXTS })
  const [aliceGot, bobGot] = [await alice.json<Got>(), await bob.json<Got>()]
  t.same(bobGot.got, numbered('a', TEXTS), 'Bob got all 100, in order, once')
  t.same(aliceGot.got, numbered('b', TEXTS), 'Alice too')
  t.same([...bobGot.routes, ...aliceGot.routes], Array(2 * TEXTS).fill('direct'), '0 via mailbox')

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
  await Promise.all(
    [alice, bob, node].map(
      (p) =>
        new Promise((resolve) =>
          p.child.exitCode !== null ? resolve(0) : p.child.on('exit', resolve),
        ),
    ),
  )
})
