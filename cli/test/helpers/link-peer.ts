// Run inside Bob's network namespace by send-link-netns.test.ts: Bob's chat client (home
// HOME_DIR, the contact PEER, the super-node SERVER) with the options the chat screen passes
// (`passage chat` with PASSAGE_LAN=off: LAN discovery off, nothing else set: the listener and
// the DHT node bind where the SDK's defaults say). Driven by JSON lines on stdin, answering with
// JSON lines on stdout:
//   (at start, once the client is open)  -> {"ready":true,"status":{…}}
//   {"cmd":"expect","n":1} -> {"got":[texts…],"routes":[…],"relayedLinks":n,"mailbox":n}
//   {"cmd":"close"} -> {"closed":true}       (the client stops: no listener, no announces)
//   {"cmd":"open"}  -> {"ready":true,"status":{…}}
//   {"cmd":"quit"}
// `expect` waits for texts from PEER; `mailbox` is how many more a fetch of the mailbox found
// after they arrived.
import type { ChatMessage, PassageClient } from '@passage/sdk'
import { createNodeClient } from '@passage/sdk/node'
import { createInterface } from 'node:readline'

const WAIT_MS = 60_000 // the longest this script waits for any one thing
const CHAT_FETCH_INTERVAL_MS = 5_000 // as cli/src/commands/chat.ts

const home = process.env.HOME_DIR!
const peer = process.env.PEER!
const server = process.env.SERVER!
const arrived: ChatMessage[] = []
const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`)

async function open(): Promise<PassageClient> {
  const c = await createNodeClient({
    home,
    servers: [server],
    lan: false,
    fetchIntervalMs: CHAT_FETCH_INTERVAL_MS,
  })
  c.on('message', (m) => {
    if (m.contactId === peer) arrived.push(m)
  })
  say({ ready: true, status: c.status() })
  return c
}

async function until(what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + WAIT_MS
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

let client: PassageClient | undefined = await open()
try {
  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line) as { cmd: string; n?: number }
    if (command.cmd === 'quit') break
    if (command.cmd === 'close') {
      await client?.close()
      client = undefined
      say({ closed: true })
    }
    if (command.cmd === 'open') client ??= await open()
    if (command.cmd === 'expect') {
      await until(`${command.n} texts`, () => arrived.length >= command.n!)
      // Read at once: the links open now are the ones the texts came over.
      const relayedLinks = client!.status().relayedLinks
      say({
        got: arrived.map((m) => m.text),
        routes: arrived.map((m) => m.route ?? null),
        relayedLinks,
        mailbox: (await client!.fetchInbox()).length,
      })
      arrived.length = 0
    }
  }
} catch (error) {
  say({ error: String(error) })
} finally {
  await client?.close()
}
// stdin stays open (the parent's pipe): leave now.
process.exit(0)
