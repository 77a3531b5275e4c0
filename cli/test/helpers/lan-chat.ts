// Run inside a network namespace by lan-delivery.test.ts (`ip netns exec`): a super-node and
// two chat clients whose LAN is the namespace's `lan0` interface (LAN_IP). They chat through
// the super-node; then it is stopped and Bob's client restarts (a new listener port, no links
// left): Alice finds him again only by his LAN beacons, and sends TEXTS texts one at a time.
// Prints one JSON line: per text, how long until Bob had it, its route, and Bob's order.
import type { ChatMessage } from '@passage/sdk'
import { createNodeClient } from '@passage/sdk/node'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSuperNode } from './super-node.js'

const LAN_IP = process.env.LAN_IP ?? '10.77.0.1'
const TEXTS = Number(process.env.TEXTS ?? 20)
const WAIT_MS = 10_000 // the longest this script waits for any one thing

const dir = mkdtempSync(join(tmpdir(), 'passage-lan-chat-'))
const lan = { interface: LAN_IP, port: 7477, intervalMs: 300 }

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + WAIT_MS
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const node = await startSuperNode()
const open = (name: string, servers: string[]) =>
  createNodeClient({
    home: join(dir, name),
    createIdentity: true,
    name,
    servers,
    lan,
  })
const alice = await open('alice', [node.url])
let bob = await open('bob', [node.url])
try {
  await alice.contacts.add(bob.contactUri, { name: 'Bob' })
  await bob.contacts.add(alice.contactUri, { name: 'Alice' })
  const first = await alice.send(bob.textId, 'hello through the super-node')
  if (first.state === 'pending') throw new Error('the first text went nowhere')

  // The super-node goes away; Bob's chat restarts: no link, no announce, only the LAN.
  await node.stop()
  await bob.close()
  bob = await open('bob', [node.url])
  const bobPort = bob.status().listening?.port
  await until("Bob's beacon at his new port", () =>
    alice
      .lanPeers()
      .some((p) => p.contactId === bob.textId && p.addresses.some((a) => a.port === bobPort)),
  )
  const arrived: ChatMessage[] = []
  bob.on('message', (m) => arrived.push(m))
  const delays: number[] = []
  const states: string[] = []
  for (let i = 0; i < TEXTS; i++) {
    const text = `direct ${i + 1}`
    const started = Date.now()
    const sent = await alice.send(bob.textId, text)
    states.push(sent.state)
    await until(`Bob to get "${text}"`, () => arrived.some((m) => m.text === text))
    delays.push(Date.now() - started)
  }
  process.stdout.write(
    `${JSON.stringify({
      delays,
      states,
      routes: arrived.map((m) => m.route ?? null),
      order: arrived.map((m) => m.text),
      online: (await alice.conversations()).find((c) => c.contact.id === bob.textId)?.contact
        .online,
    })}\n`,
  )
} finally {
  await alice.close()
  await bob.close()
  await node.stop()
  rmSync(dir, { recursive: true, force: true })
}
