// Run inside the super-node's network namespace by relay-delivery.test.ts and
// send-link-netns.test.ts: a super-node with its relay on (RELAY=off: none, as a super-node
// runs by default), on every interface (HTTP 8080, DHT 7401, relay 7402). Prints `ready`; the
// line `stop-relay` on stdin closes the relay only (the DHT and its mailboxes stay up) and
// prints `relay-stopped`; `quit` stops everything.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { defaultConfig, startServer } from '@passage/server'

const dataDir = mkdtempSync(join(tmpdir(), 'passage-relay-node-'))
const server = await startServer({
  config: defaultConfig({
    httpHost: '0.0.0.0',
    httpPort: 8080,
    dhtPort: 7401,
    dataDir,
    logLevel: 'silent',
    rateLimitPerMinute: 0,
    relay: process.env.RELAY !== 'off',
    relayPort: 7402,
  }),
})
process.stdout.write('ready\n')
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'stop-relay') {
    await server.relay?.close()
    process.stdout.write('relay-stopped\n')
  } else if (line === 'quit') break
}
await server.close()
rmSync(dataDir, { recursive: true, force: true })
// stdin stays open (the parent's pipe): leave now.
process.exit(0)
