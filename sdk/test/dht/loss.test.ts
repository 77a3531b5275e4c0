import t from 'tap'
import { Identity, compareDistance, toHex } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { createTestnet, mulberry32 } from '@passage/sdk/testing'

// Issue 3: with 10% of datagrams dropped at random, at least 99% of lookups succeed.
const LOOKUPS = 200

t.test('10% datagram loss: ≥ 99% of lookups succeed', async (t) => {
  const net = await createTestnet(100, {
    lossRate: 0.1,
    seed: 7,
    // Resends do the work under loss: 6 attempts, 50 ms then doubling (loopback answers in
    // < 1 ms; the long tail covers a busy CI machine).
    requestTimeoutMs: 50,
    retries: 5,
  })
  t.teardown(() => net.destroy())
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
