import t from 'tap'
import { BatchQueue, takeMatching, type Batched } from '../src/db/batch-queue.js'

interface Call extends Batched<string> {
  key: string
}

function call(queue: BatchQueue<Call>, key: string): Promise<string> {
  return new Promise((resolve, reject) => queue.push({ key, resolve, reject }))
}

t.test(
  'calls that queue while batches run go out together, at most maxInFlight at once',
  async (t) => {
    const batches: string[][] = []
    let running = 0
    let most = 0
    const releases: Array<() => void> = []
    const queue = new BatchQueue<Call>({
      maxInFlight: 2,
      take: (q) => q.splice(0, 10),
      run: async (batch) => {
        running++
        most = Math.max(most, running)
        batches.push(batch.map((c) => c.key))
        await new Promise<void>((resolve) => releases.push(resolve))
        running--
        for (const c of batch) c.resolve(`done ${c.key}`)
      },
    })
    const results = Array.from({ length: 25 }, (_, i) => call(queue, `k${i}`))
    t.same(batches, [['k0'], ['k1']], 'the first two calls start at once, each alone')
    for (let i = 0; i < 20 && releases.length > 0; i++) {
      releases.shift()!()
      await new Promise((resolve) => setImmediate(resolve))
    }
    t.same(
      await Promise.all(results),
      Array.from({ length: 25 }, (_, i) => `done k${i}`),
    )
    t.equal(most, 2, 'never more than maxInFlight batches')
    t.same(
      batches.map((b) => b.length),
      [1, 1, 10, 10, 3],
      'the 23 calls that waited went out in batches of at most 10',
    )
  },
)

t.test('a failing batch rejects its unsettled calls only; the queue goes on', async (t) => {
  const queue = new BatchQueue<Call>({
    maxInFlight: 1,
    take: (q) => q.splice(0, 2),
    run: async (batch) => {
      // Batches: [a], then [b, bad] (b settled before the failure), then [after].
      batch[0]!.resolve(`settled ${batch[0]!.key}`)
      if (batch.some((c) => c.key === 'bad')) throw new Error('statement failed')
    },
  })
  const a = call(queue, 'a')
  const b = call(queue, 'b')
  const bad = call(queue, 'bad')
  const after = call(queue, 'after')
  t.equal(await a, 'settled a')
  t.equal(await b, 'settled b', 'a call settled before the failure keeps its result')
  await t.rejects(bad, /statement failed/, 'the unsettled call sees the error')
  t.equal(await after, 'settled after', 'the batch after the failed one runs')
})

t.test('takeMatching keeps the order of what stays and always takes the first call', async (t) => {
  const queue = ['a1', 'b1', 'a2', 'a3', 'b2', 'a4']
  const seen = new Set<string>()
  const batch = takeMatching(queue, 3, (c, first) => {
    if (!first && seen.has(c[0]!)) return false
    seen.add(c[0]!)
    return true
  })
  t.same(batch, ['a1', 'b1'], 'one call per letter')
  t.same(queue, ['a2', 'a3', 'b2', 'a4'], 'the rest in order')
  t.same(
    takeMatching(queue, 2, () => false),
    ['a2'],
    'the first call goes even when nothing else fits',
  )
  t.same(
    takeMatching(queue, 2, () => true),
    ['a3', 'b2'],
    'at most max',
  )
  t.same(queue, ['a4'])
})
