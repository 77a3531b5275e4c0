import t from 'tap'
import { WriteBatch } from '../../src/core/client/write-batch.js'
import type { ClientWriter } from '../../src/core/client/ports.js'

/** A store whose transactions wait until released, counting commits and what each wrote. */
function store() {
  const commits: string[][] = []
  let fail: Error | undefined
  let gate = Promise.resolve()
  let open: () => void = () => {}
  return {
    commits,
    failNext: (error: Error) => (fail = error),
    hold: () => (gate = new Promise<void>((resolve) => (open = resolve))),
    release: () => open(),
    repository: {
      async transaction<T>(fn: (w: ClientWriter) => Promise<T>): Promise<T> {
        await gate
        const result = await fn({} as ClientWriter)
        if (fail) {
          const error = fail
          fail = undefined
          throw error
        }
        return result
      },
    },
  }
}

t.test('writes that come while one waits share its transaction', async (t) => {
  const s = store()
  const batch = new WriteBatch(
    () => s.repository,
    async (_w, items: string[]) => {
      s.commits.push(items)
      return items.map((i) => i.toUpperCase())
    },
  )
  s.hold()
  const first = ['a', 'b', 'c'].map((i) => batch.add(i))
  s.release()
  t.same(await Promise.all(first), ['A', 'B', 'C'], 'each caller gets its own result')
  t.same(s.commits, [['a', 'b', 'c']], 'one transaction for three')
  t.equal(await batch.add('d'), 'D')
  t.same(s.commits, [['a', 'b', 'c'], ['d']], 'a later write starts the next')
})

t.test('a failed transaction rejects every write in it, and only those', async (t) => {
  const s = store()
  const batch = new WriteBatch(
    () => s.repository,
    async (_w, items: number[]) => items.map((n) => n * 2),
  )
  s.failNext(new Error('disk full'))
  const failed = [1, 2].map((n) => batch.add(n))
  for (const p of failed) await t.rejects(p, /disk full/)
  t.equal(await batch.add(3), 6, 'the next batch commits')
})
