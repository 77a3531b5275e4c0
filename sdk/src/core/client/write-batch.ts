import type { ClientRepository, ClientWriter } from './ports.js'

interface Pending<T, R> {
  item: T
  resolve: (result: R) => void
  reject: (error: unknown) => void
}

/**
 * Writes that come while one waits for the store join it: one transaction for all of them,
 * each caller settled after that commit. The copies of a fan-out are sealed and answered
 * together; this keeps each from costing a transaction of its own.
 *
 * @example
 * const sealed = new WriteBatch(() => repository, async (w, items: Sealed[]) => {
 *   for (const s of items) await w.setOutboxSealed(s.id, s.bytes)
 *   return items.map(() => undefined)
 * })
 * await sealed.add({ id, bytes }) // committed, with whatever joined it
 */
export class WriteBatch<T, R> {
  private pending: Pending<T, R>[] | undefined

  constructor(
    /** The store's transactions (looked up when a batch starts: the store may come later). */
    private readonly repository: () => Pick<ClientRepository, 'transaction'>,
    /** Writes the items in one transaction; resolves with one result per item, in order. */
    private readonly write: (w: ClientWriter, items: T[]) => Promise<R[]>,
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let batch = this.pending
      if (!batch) {
        const taken: Pending<T, R>[] = []
        this.pending = batch = taken
        this.repository()
          .transaction(async (w) => {
            // Items added from here on start the next batch.
            if (this.pending === taken) this.pending = undefined
            return this.write(
              w,
              taken.map((p) => p.item),
            )
          })
          .then(
            (results) => taken.forEach((p, i) => p.resolve(results[i] as R)),
            (error: unknown) => taken.forEach((p) => p.reject(error)),
          )
      }
      batch.push({ item, resolve, reject })
    })
  }
}
