import t from 'tap'
import {
  BUCKET_COUNT,
  RoutingTable,
  compareDistance,
  fromHex,
  subnetOf,
  toHex,
  type NodeId,
} from '@passage/sdk'
import { mulberry32 } from '@passage/sdk/testing'

const local = new Uint8Array(20) as NodeId // all zero: bucket i holds IDs with i leading zero bits

/** An ID in bucket `index` of the all-zero local ID, varied by `n`. */
function idIn(index: number, n: number): NodeId {
  const id = new Uint8Array(20)
  id[index >>> 3] = 0x80 >>> (index & 7)
  id[19] = id[19]! | (n & 0xff)
  id[18] = id[18]! | ((n >>> 8) & 0xff)
  return id as NodeId
}

t.test('bucket index is the shared prefix length', async (t) => {
  const table = new RoutingTable(local)
  t.equal(table.bucketIndex(fromHex('80' + '00'.repeat(19))), 0)
  t.equal(table.bucketIndex(fromHex('40' + '00'.repeat(19))), 1)
  t.equal(table.bucketIndex(fromHex('00'.repeat(19) + '01')), 159)
  t.equal(table.bucketIndex(local), BUCKET_COUNT)
  t.match(table.add({ id: local, host: '127.0.0.1', port: 1 }, 0), {
    status: 'rejected',
    reason: 'self',
  })
  for (let i = 0; i < 160; i += 7) {
    const id = table.randomIdInBucket(i, new Uint8Array(20).fill(0xff))
    t.equal(table.bucketIndex(id), i, `random ID in bucket ${i}`)
  }
  const other = new RoutingTable(fromHex('5a'.repeat(20)))
  for (let i = 0; i < 160; i += 13)
    t.equal(other.bucketIndex(other.randomIdInBucket(i, new Uint8Array(20))), i)
})

t.test(
  'a full bucket keeps its long-lived nodes unless they fail (ping before evict)',
  async (t) => {
    const table = new RoutingTable(local)
    for (let n = 0; n < 20; n++)
      t.match(table.add({ id: idIn(0, n), host: '127.0.0.1', port: 1000 + n }, n), {
        status: 'added',
      })
    t.equal(table.size, 20)
    const newcomer = { id: idIn(0, 100), host: '127.0.0.1', port: 2000 }
    const r = table.add(newcomer, 50)
    t.equal(r.status, 'full')
    if (r.status !== 'full') return
    t.equal(toHex(r.oldest.id), toHex(idIn(0, 0)), 'the least recently seen is to be pinged')
    t.equal(table.replacements(0).length, 1, 'the newcomer waits as a replacement')
    // The oldest answers: it stays, moves to the tail; the newcomer does not get in.
    t.ok(table.touch(r.oldest.id, 60))
    t.equal(toHex(table.bucket(0)[19]!.id), toHex(idIn(0, 0)))
    t.notOk(table.has(newcomer.id))
    // Next oldest fails to answer: removed, the replacement is promoted.
    const r2 = table.add(newcomer, 70)
    t.equal(r2.status, 'full')
    if (r2.status !== 'full') return
    t.equal(toHex(r2.oldest.id), toHex(idIn(0, 1)))
    const promoted = table.remove(r2.oldest.id, 80)
    t.equal(promoted && toHex(promoted.id), toHex(newcomer.id))
    t.ok(table.has(newcomer.id))
    t.notOk(table.has(idIn(0, 1)))
    t.equal(table.size, 20)
    // Updating a known node refreshes it and does not duplicate it.
    t.match(table.add({ id: idIn(0, 5), host: '127.0.0.1', port: 1005 }, 90), { status: 'updated' })
    t.equal(table.size, 20)
    t.equal(table.get(idIn(0, 5))!.lastSeen, 90)
    t.equal(table.get(idIn(0, 5))!.addedAt, 5, 'first-seen time survives updates')
  },
)

t.test('closest returns the true closest by XOR', async (t) => {
  const table = new RoutingTable(local)
  const ids: NodeId[] = []
  for (let b = 0; b < 40; b++) {
    for (let n = 0; n < 5; n++) {
      const id = idIn(b, n * 37 + b)
      ids.push(id)
      table.add({ id, host: '10.0.0.1', port: 1 + ids.length }, 0)
    }
  }
  for (const target of [
    fromHex('ff'.repeat(20)),
    fromHex('01'.repeat(20)),
    idIn(3, 5),
    idIn(30, 1),
  ]) {
    const expected = [...ids]
      .sort((a, b) => compareDistance(target, a, b))
      .slice(0, 20)
      .map(toHex)
    t.same(
      table.closest(target, 20).map((c) => toHex(c.id)),
      expected,
    )
  }
})

t.test(
  'at most 2 per public /24 in a bucket and 10 in the table; private ranges exempt',
  async (t) => {
    t.equal(subnetOf('203.0.113.7'), '203.0.113')
    for (const host of [
      '127.0.0.1',
      '10.1.2.3',
      '192.168.1.1',
      '172.16.0.1',
      '172.31.9.9',
      '169.254.1.1',
      '100.64.0.1',
      '::1',
      '2001:db8::1',
    ]) {
      t.equal(subnetOf(host), undefined, `${host} exempt`)
    }
    t.equal(subnetOf('172.32.0.1'), '172.32.0')
    const table = new RoutingTable(local)
    t.match(table.add({ id: idIn(0, 1), host: '203.0.113.1', port: 1 }, 0), { status: 'added' })
    t.match(table.add({ id: idIn(0, 2), host: '203.0.113.2', port: 1 }, 0), { status: 'added' })
    t.match(table.add({ id: idIn(0, 3), host: '203.0.113.3', port: 1 }, 0), {
      status: 'rejected',
      reason: 'subnet',
    })
    t.match(table.add({ id: idIn(0, 4), host: '203.0.114.3', port: 1 }, 0), { status: 'added' })
    for (let b = 1; b <= 4; b++) {
      t.match(table.add({ id: idIn(b, 1), host: '203.0.113.10', port: b }, 0), { status: 'added' })
      t.match(table.add({ id: idIn(b, 2), host: '203.0.113.11', port: b }, 0), { status: 'added' })
    }
    t.match(
      table.add({ id: idIn(5, 1), host: '203.0.113.12', port: 9 }, 0),
      { status: 'rejected', reason: 'subnet' },
      '11th of the /24 in the table',
    )
    table.remove(idIn(1, 1))
    t.match(
      table.add({ id: idIn(5, 1), host: '203.0.113.12', port: 9 }, 0),
      { status: 'added' },
      'room again after a removal',
    )
    // Loopback: 20 in a bucket is fine.
    const lo = new RoutingTable(local)
    for (let n = 0; n < 20; n++)
      t.match(lo.add({ id: idIn(0, n), host: '127.0.0.1', port: 1 + n }, 0), { status: 'added' })
  },
)

t.test('stale buckets are due for refresh on the clock', async (t) => {
  const table = new RoutingTable(local)
  const start = 10_000_000
  table.add({ id: idIn(2, 1), host: '127.0.0.1', port: 1 }, start)
  t.same(
    table.staleBuckets(start + 10, 900_000),
    [0, 1, 3],
    'buckets 0..3 considered; bucket 2 just changed',
  )
  t.same(table.staleBuckets(start + 900_000, 900_000), [0, 1, 2, 3])
  table.markRefreshed(idIn(0, 9), start + 900_000)
  t.same(table.staleBuckets(start + 900_000, 900_000), [1, 2, 3])
})

t.test('closest matches a brute-force sort for random tables and targets', async (t) => {
  const random = mulberry32(5)
  const rid = () => Uint8Array.from({ length: 20 }, () => Math.floor(random() * 256)) as NodeId
  for (let round = 0; round < 20; round++) {
    const me = rid()
    const table = new RoutingTable(me)
    const ids: NodeId[] = []
    for (let i = 0; i < 300; i++) {
      const id = rid()
      if (table.add({ id, host: '127.0.0.1', port: 1 + i }, 0).status === 'added') ids.push(id)
    }
    // Also IDs near me, so deep buckets are populated.
    for (let i = 0; i < 30; i++) {
      const id = table.randomIdInBucket(8 + i, rid())
      if (table.add({ id, host: '127.0.0.1', port: 1000 + i }, 0).status === 'added') ids.push(id)
    }
    for (const target of [
      rid(),
      me,
      table.randomIdInBucket(3, rid()),
      table.randomIdInBucket(20, rid()),
    ]) {
      for (const n of [1, 20, 50]) {
        const expected = [...ids]
          .sort((a, b) => compareDistance(target, a, b))
          .slice(0, n)
          .map(toHex)
        const got = table.closest(target, n).map((c) => toHex(c.id))
        if (JSON.stringify(got) !== JSON.stringify(expected)) t.fail(`round ${round} n ${n}`)
      }
    }
  }
  t.pass('320 comparisons agree')
})
