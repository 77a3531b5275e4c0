import t from 'tap'
import {
  Identity,
  ManualClock,
  ManualTimers,
  compareDistance,
  toHex,
  type Timers,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { createTestnet, mulberry32 } from '@passage/sdk/testing'

// Issue 3: with 10% of datagrams dropped at random, at least 99% of lookups succeed.
const LOOKUPS = 200

/** Nodes refreshing at once before the lookups (as the testnet joins them). */
const REFRESH_WIDTH = 16

/** The nodes' time is moved every 5 ms of real time… */
const PACE_MS = 5
/** …by the real time elapsed, but by no more than this at one turn of the event loop. */
const MAX_STEP_MS = 10

/**
 * The nodes' timers (request deadlines and resends) on a time that moves with the event loop:
 * each turn of a driver interval advances it by the real time elapsed, but by at most
 * {@link MAX_STEP_MS}, and the loop reads the sockets between two turns. On a quiet machine
 * this is real time. On a loaded one, where the loop falls behind (100 nodes share one
 * thread), the deadlines fall behind with it: an answer that waits in a socket for the loop
 * to read it is not taken for a lost one (a 150 ms verification ping gave up on late answers,
 * and its node then entered no neighbour's table), while a dropped datagram still times out.
 */
function loopPacedTimers(t: { teardown(fn: () => void): void }): Timers {
  const timers = new ManualTimers(new ManualClock(0))
  let last = performance.now()
  const driver = setInterval(() => {
    const now = performance.now()
    timers.advance(Math.min(now - last, MAX_STEP_MS))
    last = now
  }, PACE_MS)
  t.teardown(() => clearInterval(driver))
  return timers
}

t.test('10% datagram loss: ≥ 99% of lookups succeed', async (t) => {
  const net = await createTestnet(100, {
    lossRate: 0.1,
    seed: 7,
    // Resends do the work under loss: 6 attempts, 50 ms then doubling (loopback answers in
    // < 1 ms), on the loop's time: only a lost datagram, not a busy machine, times out.
    requestTimeoutMs: 50,
    retries: 5,
    node: { timers: loopPacedTimers(t) },
  })
  t.teardown(() => net.destroy())
  // One more lookup of its own ID per node, as a bucket refresh would do. An early joiner whose
  // only contact (the bootstrap node) lost both tries of its verification ping is in no table
  // yet: its lookups so far asked most nodes once, with no token (unproven requests teach no
  // one). This one carries their tokens, so its neighbours verify it and take it in.
  for (let i = 0; i < net.nodes.length; i += REFRESH_WIDTH) {
    await Promise.all(net.nodes.slice(i, i + REFRESH_WIDTH).map((node) => node.lookup(node.id)))
  }
  const random = mulberry32(99)
  let exact = 0
  let succeeded = 0
  let closestFound = 0
  let overlapSum = 0
  const started = Date.now()
  for (let i = 0; i < LOOKUPS; i += 20) {
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const from = net.nodes[Math.floor(random() * net.nodes.length)]!
        const target = Identity.generate(libsignalKeys).id
        const truth = net.nodes
          .filter((n) => n !== from)
          .map((n) => n.id)
          .sort((a, b) => compareDistance(target, a, b))
          .slice(0, 20)
          .map(toHex)
        const r = await from.lookup(target)
        const got = r.closest.map((c) => toHex(c.id))
        const overlap = got.filter((id) => truth.includes(id)).length
        overlapSum += overlap
        if (got[0] === truth[0]) closestFound++
        if (overlap === 20 && got.length === 20) exact++
        // Success: the closest node is found and at most 2 of the 20 replicas are missed.
        if (got[0] === truth[0] && overlap >= 18) succeeded++
      }),
    )
  }
  t.comment(
    `${LOOKUPS} lookups in ${Date.now() - started} ms: ${exact} exact, ${closestFound} found the closest node, mean overlap ${(overlapSum / LOOKUPS).toFixed(2)}/20`,
  )
  t.ok(
    succeeded >= LOOKUPS * 0.99,
    `${succeeded}/${LOOKUPS} lookups found the closest node and ≥ 18 of the true 20 closest`,
  )
  t.ok(exact >= LOOKUPS * 0.97, `${exact}/${LOOKUPS} returned exactly the true 20 closest`)
  const dropped = net.nodes.reduce((a, n) => a + n.stats.resent, 0)
  t.ok(dropped > 0, `${dropped} requests were resent: loss was injected`)
})
