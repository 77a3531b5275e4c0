// Issue 13, item 8: datagrams the kernel drops for the DHT socket (a full receive buffer: the
// node is overloaded) show in /metrics as passage_dht_udp_receive_drops_total.
import { ManualClock, ManualTimers } from '@passage/sdk'
import t from 'tap'
import { defaultConfig } from '../src/config.js'
import { startServer } from '../src/start-server.js'
import { backends } from './helpers/databases.js'
import { floodWhileBlocked } from './helpers/udp-flood.js'

/** Well over the DHT socket's 4 MiB receive buffer (~2.3 KiB of kernel memory each). */
const BURST = 6000
const DATAGRAM_BYTES = 1200

const drops = (text: string) =>
  /^passage_dht_udp_receive_drops_total (\d+)$/m.exec(text)?.[1] ?? 'absent'

t.test('a flood the DHT socket cannot hold shows in /metrics', async (t) => {
  const pglite = backends.find((b) => b.name === 'pglite')!
  const storage = await pglite.prepare(t)
  const server = await startServer({
    config: defaultConfig({ httpHost: '127.0.0.1', httpPort: 0, dhtPort: 0, ...storage.options }),
    dht: { timers: new ManualTimers(new ManualClock()) },
  })
  t.teardown(() => server.close())
  const metrics = async () => (await fetch(`${server.url}/metrics`)).text()
  t.equal(drops(await metrics()), '0', 'exported, at 0')
  const port = server.dht!.node.address().port
  await floodWhileBlocked(port, BURST, DATAGRAM_BYTES)
  const after = Number(drops(await metrics()))
  t.ok(after > 0, `${after} of ${BURST} datagrams dropped in the kernel`)
  // Loopback loses nothing else: the node gets (and drops as malformed) every other one.
  const stats = server.dht!.node.stats
  const deadline = Date.now() + 5_000
  while (stats.received + after < BURST && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10))
  }
  t.equal(
    stats.received + after,
    BURST,
    `the node read ${stats.received}, the kernel dropped the rest`,
  )
  t.equal(Number(drops(await metrics())), after, 'nothing is counted twice')
  t.match(await metrics(), /^# TYPE passage_dht_udp_receive_drops_total counter$/m)
})
