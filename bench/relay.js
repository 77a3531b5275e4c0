// `npm run bench relay`: a link through a super-node's relay against a direct loopback link in
// the same run. The relay runs in a process of its own (bench/relay-server.js), as on a
// super-node; both ends share this one. Throughput: 16 KiB payloads one way until all
// arrived; latency: 64 B ping-pong round trips (the relay adds two socket hops each way).
// Goals (issue 16): relayed throughput >= 0.5 of direct, added median round-trip latency
// <= 1 ms.
import { fileURLToPath } from 'node:url'
import {
  Identity,
  LinkListener,
  RelayRegistration,
  dialLink,
  fromHex,
  relayConnector,
} from '@passage/sdk'
import { connectTcp, libsignalKeys, listenTcp } from '@passage/sdk/node'
import { startChild } from './child.js'
import { fmt, median, percentile, report } from './lib.js'

const PAYLOAD_BYTES = 16 * 1024
const PAYLOADS = 4_000 // 64 MiB a round
const PINGS = 2_000
const ROUNDS = 4
const THROUGHPUT_GOAL = 0.5
const ADDED_LATENCY_GOAL_MS = 1

/** A direct link and a relayed link between the same two identities. */
async function setup() {
  const alice = Identity.generate(libsignalKeys)
  const bob = Identity.generate(libsignalKeys)
  const server = await startChild([fileURLToPath(new URL('./relay-server.js', import.meta.url))])
  const relay = {
    id: fromHex(server.info.id),
    address: () => ({ host: '127.0.0.1', port: server.info.port }),
  }
  const listener = await LinkListener.listen({ identity: bob, listen: listenTcp })
  const accepted = []
  listener.on('link', (link) => accepted.push(link))
  const relayed = []
  const registration = new RelayRegistration({
    identity: bob,
    connect: connectTcp,
    ...relay.address(),
    relayId: relay.id,
    onLink: (link) => relayed.push(link),
  })
  registration.start()
  while (!registration.registered) await new Promise((resolve) => setTimeout(resolve, 5))
  const { port } = listener.address()
  const direct = await dialLink({
    host: '127.0.0.1',
    port,
    identity: alice,
    expectedId: bob.id,
    connect: connectTcp,
  })
  const viaRelay = await dialLink({
    ...relay.address(),
    identity: alice,
    expectedId: bob.id,
    connect: relayConnector(alice, bob.id, { connect: connectTcp, relayId: relay.id }),
    route: 'relay',
  })
  while (accepted.length === 0 || relayed.length === 0) {
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return {
    pairs: { direct: [direct, accepted[0]], relay: [viaRelay, relayed[0]] },
    close: async () => {
      for (const link of [direct, viaRelay, ...accepted, ...relayed]) link.close()
      registration.close()
      await listener.close()
      await server.stop()
    },
  }
}

/** Bytes per second from `a` to `b`. */
async function throughput([a, b]) {
  const payload = new Uint8Array(PAYLOAD_BYTES).fill(7)
  let received = 0
  const done = new Promise((resolve) => {
    const onFrame = (frame) => {
      received += frame.byteLength
      if (received >= PAYLOADS * PAYLOAD_BYTES) {
        b.off('frame', onFrame)
        resolve()
      }
    }
    b.on('frame', onFrame)
  })
  const t0 = performance.now()
  for (let i = 0; i < PAYLOADS; i++) await a.send(payload)
  await done
  return (PAYLOADS * PAYLOAD_BYTES) / ((performance.now() - t0) / 1000)
}

/** Round-trip times (ms) of 64 B pings `a` → `b` → `a`. */
async function pings([a, b]) {
  const echo = (frame) => void b.send(frame)
  b.on('frame', echo)
  const ping = new Uint8Array(64).fill(1)
  const times = []
  for (let i = 0; i < PINGS; i++) {
    const back = new Promise((resolve) => {
      const onFrame = () => {
        a.off('frame', onFrame)
        resolve()
      }
      a.on('frame', onFrame)
    })
    const t0 = performance.now()
    await a.send(ping)
    await back
    if (i >= 100) times.push(performance.now() - t0) // the first ones warm up
  }
  b.off('frame', echo)
  return times
}

export async function benchRelay() {
  console.log(
    `\n# Relay: a link through a super-node's relay vs a direct loopback link, ${ROUNDS} rounds (medians)`,
  )
  const rates = { direct: [], relay: [] }
  const rtts = { direct: [], relay: [] }
  for (let round = 0; round < ROUNDS; round++) {
    const { pairs, close } = await setup()
    try {
      // Alternate which goes first, so warm-up favours neither.
      for (const route of round % 2 === 0 ? ['direct', 'relay'] : ['relay', 'direct']) {
        rates[route].push(await throughput(pairs[route]))
        rtts[route].push(...(await pings(pairs[route])))
      }
    } finally {
      await close()
    }
  }
  const mib = (list) => median(list) / (1024 * 1024)
  report(
    'direct link, 16 KiB payloads (ceiling)',
    mib(rates.direct),
    mib(rates.direct),
    undefined,
    ' MiB/s',
  )
  report(
    'relayed link, 16 KiB payloads',
    mib(rates.relay),
    mib(rates.direct),
    THROUGHPUT_GOAL,
    ' MiB/s',
  )
  const line = (name, list) =>
    console.log(
      `${name.padEnd(48)} median ${fmt(median(list), 3).padStart(8)} ms  p95 ${fmt(percentile(list, 95), 3).padStart(8)} ms`,
    )
  line('direct link, 64 B round trip', rtts.direct)
  line('relayed link, 64 B round trip', rtts.relay)
  const added = median(rtts.relay) - median(rtts.direct)
  console.log(
    `${'added median round-trip latency of the relay'.padEnd(48)} ${fmt(added, 3).padStart(8)} ms  ${added <= ADDED_LATENCY_GOAL_MS ? 'meets' : 'ABOVE'} goal <= ${ADDED_LATENCY_GOAL_MS} ms`,
  )
  return { rates, added }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchRelay()
