// Issue 13, item 8: the kernel's drops for a UDP socket, read from /proc/net/udp(6).
import { createSocket } from 'node:dgram'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import t from 'tap'
import { DhtPrometheusMetrics } from '../src/dht/dht-metrics.js'
import { readUdpSocketCounters } from '../src/dht/udp-socket-counters.js'
import { floodWhileBlocked } from './helpers/udp-flood.js'

/** A burst far larger than the receive buffer below (about 8 KiB: a handful of datagrams). */
const BURST = 400
const DATAGRAM_BYTES = 1000

t.test('drops of an overflowing receive buffer are read, for our socket only', async (t) => {
  let received = 0
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4096 })
  socket.on('message', () => received++)
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())))
  const { port } = socket.address()
  t.same(await readUdpSocketCounters(port), { drops: 0, receiveQueueBytes: 0 }, 'a fresh socket')
  await floodWhileBlocked(port, BURST, DATAGRAM_BYTES)
  // Loopback loses nothing else: every datagram was read or dropped by the kernel.
  const deadline = Date.now() + 5_000
  let counters = await readUdpSocketCounters(port)
  while (received + (counters?.drops ?? 0) < BURST && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10))
    counters = await readUdpSocketCounters(port)
  }
  t.ok(counters && counters.drops > 0, `dropped ${counters?.drops}, read ${received}`)
  t.equal(received + counters!.drops, BURST, 'read + dropped = sent')
  t.equal(await readUdpSocketCounters(port === 65535 ? 1 : port + 1), undefined, 'another port')
})

t.test('where /proc has no UDP tables, nothing is read (not a zero)', async (t) => {
  const empty = await mkdtemp(join(tmpdir(), 'no-proc-'))
  t.teardown(() => rm(empty, { recursive: true, force: true }))
  t.equal(await readUdpSocketCounters(49737, empty), undefined)
})

t.test('the socket metrics are exported only with a source for them', async (t) => {
  const base = {
    routingTableNodes: () => 0,
    mailboxStats: async () => ({ envelopes: 0, bytes: 0 }),
  }
  const without = new Registry()
  DhtPrometheusMetrics.on(without).track(base)
  t.notMatch(await without.metrics(), /udp_receive/, 'absent without /proc')
  const withProc = new Registry()
  let drops = 3
  DhtPrometheusMetrics.on(withProc).track({
    ...base,
    udpSocket: async () => ({ drops, receiveQueueBytes: 512 }),
  })
  t.match(await withProc.metrics(), /^passage_dht_udp_receive_drops_total 3$/m)
  t.match(await withProc.metrics(), /^passage_dht_udp_receive_queue_bytes 512$/m)
  drops = 10
  t.match(await withProc.metrics(), /^passage_dht_udp_receive_drops_total 10$/m, 'rises with it')
})
