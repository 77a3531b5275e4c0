// Run inside a client's network namespace by relay-delivery.test.ts: one chat client (home
// HOME_DIR, super-node SERVER, the contact PEER) driven by JSON lines on stdin, answering
// with JSON lines on stdout:
//   {"cmd":"send","prefix":"a","n":100}  -> {"sent":[states…],"route":"relay"}
//   {"cmd":"expect","prefix":"b","n":100} -> {"got":[texts…],"routes":[…]}
//   {"cmd":"route"} -> {"route":"…"}      {"cmd":"quit"}
// It prints {"ready":true} once it is registered at the super-node's relay.
import type { ChatMessage, ContactRoute } from '@passage/sdk'
import { createNodeClient } from '@passage/sdk/node'
import { createInterface } from 'node:readline'

const WAIT_MS = 60_000 // the longest this script waits for any one thing

const home = process.env.HOME_DIR!
const peer = process.env.PEER!
const client = await createNodeClient({
  home,
  servers: [process.env.SERVER!],
  lan: false,
  dhtBind: { host: '0.0.0.0' },
  fetchIntervalMs: 250,
})
const arrived: ChatMessage[] = []
client.on('message', (m) => arrived.push(m))

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + WAIT_MS
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
const route = async (): Promise<ContactRoute | undefined> =>
  (await client.conversations()).find((c) => c.contact.id === peer)?.contact.route
const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`)

try {
  const debug = setInterval(() => {
    if (process.env.RELAY_DEBUG) process.stderr.write(`${JSON.stringify(client.status())}\n`)
  }, 2000)
  await until('the relay registration', () => client.status().relays > 0)
  clearInterval(debug)
  say({ ready: true })
  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line) as { cmd: string; prefix?: string; n?: number }
    if (command.cmd === 'quit') break
    if (command.cmd === 'route') say({ route: await route() })
    if (command.cmd === 'send') {
      const states: string[] = []
      for (let i = 0; i < command.n!; i++) {
        states.push((await client.send(peer, `${command.prefix}${i}`)).state)
      }
      say({ sent: states, route: await route() })
    }
    if (command.cmd === 'expect') {
      const mine = () => arrived.filter((m) => m.text?.startsWith(command.prefix!))
      await until(`${command.n} texts ${command.prefix}…`, () => mine().length >= command.n!)
      say({ got: mine().map((m) => m.text), routes: mine().map((m) => m.route ?? null) })
    }
  }
} catch (error) {
  say({ error: String(error) })
} finally {
  await client.close()
}
