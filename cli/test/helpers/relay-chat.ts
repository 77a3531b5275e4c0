// Run inside a client's network namespace by relay-delivery.test.ts and lan-delivery.test.ts:
// one chat client (home HOME_DIR, the contact PEER; super-node SERVER, or none and LAN
// discovery on the interface LAN_IP) listening on every interface, driven by JSON lines on
// stdin, answering with JSON lines on stdout:
//   {"cmd":"send","prefix":"a","n":100}  -> {"sent":[states…],"route":"relay"}
//   {"cmd":"expect","prefix":"b","n":100} -> {"got":[texts…],"routes":[…]}
//   {"cmd":"route","route":"relay"} -> {"route":"relay"} once the contact shows that route
//   {"cmd":"quit"}
// It prints {"ready":true} once it is registered at the super-node's relay (with SERVER) or
// hears PEER's beacons on the LAN (with LAN_IP).
import type { ChatMessage, ContactRoute } from '@passage/sdk'
import { createNodeClient } from '@passage/sdk/node'
import { createInterface } from 'node:readline'

const WAIT_MS = 60_000 // the longest this script waits for any one thing

const home = process.env.HOME_DIR!
const peer = process.env.PEER!
const server = process.env.SERVER
const lanIp = process.env.LAN_IP
const client = await createNodeClient({
  home,
  servers: server ? [server] : [],
  lan: lanIp ? { interface: lanIp, port: 7478, intervalMs: 300 } : false,
  listen: { host: '0.0.0.0' },
  fetchIntervalMs: 250,
})
const arrived: ChatMessage[] = []
const errors: string[] = []
client.on('error', (e) => errors.push(String(e)))
client.on('message', (m) => arrived.push(m))

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + WAIT_MS
  let next = Date.now() + 2_000
  while (!(await check())) {
    if (process.env.RELAY_DEBUG && Date.now() > next) {
      next = Date.now() + 2_000
      process.stderr.write(
        `${what}: ${JSON.stringify(client.status())} ${errors.slice(-3).join(' | ')}\n`,
      )
    }
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
  if (server) await until('the relay registration', () => client.status().relays > 0)
  else await until("the peer's beacons", async () => (await route()) === 'lan')
  clearInterval(debug)
  say({ ready: true })
  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line) as { cmd: string; prefix?: string; n?: number; route?: string }
    if (command.cmd === 'quit') break
    if (command.cmd === 'route') {
      await until(`the route ${command.route}`, async () => (await route()) === command.route)
      say({ route: await route() })
    }
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
  say({
    error: `${String(error)}; status ${JSON.stringify(client.status())}; errors ${errors.slice(-5).join(' | ')}`,
  })
} finally {
  await client.close()
}
// stdin stays open (the parent's pipe): leave now.
process.exit(0)
