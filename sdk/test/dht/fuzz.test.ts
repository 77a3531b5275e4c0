import t from 'tap'
import { encodeMessage, type DhtNode, type DhtStats } from '@passage/sdk'
import { bindUdpSocket } from '@passage/sdk/node'
import { createTestnet, mulberry32 } from '@passage/sdk/testing'
import { samples } from './samples.js'

// Issue 3: 100,000 random and mutated datagrams at a node: no crash, no unhandled rejection,
// each counted as dropped, and the node still answers afterwards.
const DATAGRAMS = 100_000
const BATCH = 500

const dropped = (s: DhtStats) => Object.values(s.dropped).reduce((a, b) => a + b, 0)
const handled = (s: DhtStats) => Object.values(s.handled).reduce((a: number, b) => a + (b ?? 0), 0)

t.test('100,000 random and mutated datagrams: all counted, none crash the node', async (t) => {
  let unhandled = 0
  const onUnhandled = () => unhandled++
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => process.off('unhandledRejection', onUnhandled))

  const net = await createTestnet(3)
  t.teardown(() => net.destroy())
  const target: DhtNode = net.nodes[1]!
  const attacker = await bindUdpSocket('127.0.0.1', 0)
  t.teardown(() => attacker.close())
  attacker.onMessage(() => {}) // answers and verification pings go nowhere
  const { host, port } = target.address()

  const random = mulberry32(2026)
  const seeds = Object.values(samples()).map((m) => encodeMessage(m))
  const byte = () => Math.floor(random() * 256)
  const make = (i: number): Uint8Array => {
    switch (i % 4) {
      case 0: {
        // Pure noise, 0 to 1400 bytes (some over the 1280 limit).
        const out = new Uint8Array(Math.floor(random() * 1401))
        for (let j = 0; j < out.length; j++) out[j] = byte()
        return out
      }
      case 1: {
        // A valid message with 1 to 8 bytes flipped.
        const out = Uint8Array.from(seeds[i % seeds.length]!)
        const flips = 1 + Math.floor(random() * 8)
        for (let f = 0; f < flips; f++) out[Math.floor(random() * out.length)] = byte()
        return out
      }
      case 2: {
        // A valid message cut short or extended with noise.
        const seed = seeds[i % seeds.length]!
        const len = Math.floor(random() * (seed.length + 40))
        const out = new Uint8Array(len)
        out.set(seed.subarray(0, Math.min(len, seed.length)))
        for (let j = seed.length; j < len; j++) out[j] = byte()
        return out
      }
      default: {
        // The right magic and version, a random type and flags, then noise.
        const out = new Uint8Array(4 + Math.floor(random() * 200))
        for (let j = 0; j < out.length; j++) out[j] = byte()
        out[0] = 0x50
        out[1] = 0x01
        return out
      }
    }
  }

  const before = target.stats.received
  const started = Date.now()
  for (let sent = 0; sent < DATAGRAMS; sent += BATCH) {
    await Promise.all(
      Array.from({ length: BATCH }, (_, j) => attacker.send(make(sent + j), port, host)),
    )
    // Wait (bounded) until the node has read the batch, so the socket buffer never overflows.
    const until = Date.now() + 5_000
    while (target.stats.received - before < sent + BATCH && Date.now() < until) {
      await new Promise((r) => setImmediate(r))
    }
  }
  // Let in-flight handlers (async stores) settle.
  for (let i = 0; i < 100; i++) await new Promise((r) => setImmediate(r))

  const s = target.stats
  const received = s.received - before
  t.comment(
    `${DATAGRAMS} datagrams in ${Date.now() - started} ms; dropped ${JSON.stringify(s.dropped)}; answered ${JSON.stringify(s.handled)}`,
  )
  t.equal(received, DATAGRAMS, 'every datagram reached the node (none lost on loopback)')
  t.equal(
    dropped(s) + handled(s) + s.responses,
    s.received,
    'each datagram was dropped (by reason), or answered, or matched a request of ours',
  )
  t.ok(dropped(s) > DATAGRAMS * 0.9, 'nearly all were dropped')
  t.ok(s.dropped.oversized > 0 && s.dropped.malformed > 0 && s.dropped['unknown-type'] > 0)
  t.equal(unhandled, 0, 'no unhandled rejection')

  // Still alive: it answers a ping with a valid proof, and lookups through it work.
  const pong = await net.nodes[0]!.ping(target.address())
  t.same(pong.id, target.id)
  const r = await net.nodes[2]!.lookup(net.nodes[0]!.id)
  t.ok(r.closest.length >= 1)
})
