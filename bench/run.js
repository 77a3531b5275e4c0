// `npm run bench`: every benchmark, each printing ratios against ceilings measured in this run.
import { benchBootstrap } from './bootstrap.js'
import { benchSignal } from './signal.js'
import { benchDht } from './dht.js'
import { benchDhtRpc } from './dht-rpc.js'
import { benchMailbox } from './mailbox.js'
import { benchChat } from './chat.js'
import { benchDevices } from './devices.js'
import { benchGroup } from './group.js'
import { benchCli } from './cli.js'
import { benchMedia } from './media.js'
import { benchRelay } from './relay.js'
import { benchScale } from './scale.js'

const only = process.argv[2]
const suites = {
  bootstrap: benchBootstrap,
  signal: benchSignal,
  dht: benchDht,
  'dht-rpc': benchDhtRpc,
  mailbox: benchMailbox,
  chat: benchChat,
  devices: benchDevices,
  group: benchGroup,
  cli: benchCli,
  media: benchMedia,
  relay: benchRelay,
  scale: benchScale,
}
if (only && !(only in suites)) {
  console.error(`unknown suite ${only}; one of: ${Object.keys(suites).join(', ')}`)
  process.exit(2)
}
for (const [name, run] of Object.entries(suites)) {
  if (only && only !== name) continue
  await run()
}
