// Starts what two `passage` clients need to reach each other on this machine: one super-node
// (bootstrap service + DHT node with mailboxes) on 127.0.0.1, storage in a tmp folder.
// Prints one line of JSON, {"url": "http://127.0.0.1:PORT"}, then runs until SIGTERM or
// SIGINT, when it stops and removes its data. Run from the repository root:
//   node --conditions=@passage/source --import=@tapjs/typescript/import cli/test/e2e/super-node.ts
// (with TS_NODE_PROJECT=tsconfig.test.json), or let cli/test/e2e/tmux-chat.test.ts start it.
import { startSuperNode } from '../helpers/super-node.js'

const node = await startSuperNode()
process.stdout.write(`${JSON.stringify({ url: node.url })}\n`)
const stop = () => {
  node.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  )
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
