// `npm run bench`: every benchmark, each printing ratios against ceilings measured in this run.
import { benchBootstrap } from './bootstrap.js'

const only = process.argv[2]
const suites = { bootstrap: benchBootstrap }
for (const [name, run] of Object.entries(suites)) {
  if (only && only !== name) continue
  await run()
}
