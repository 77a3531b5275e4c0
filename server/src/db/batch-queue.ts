/** A queued call: settled by its batch. */
export interface Batched<R> {
  resolve: (result: R) => void
  reject: (error: unknown) => void
}

export interface BatchQueueOptions<T> {
  /** Batches running at once; while that many run, new calls queue. */
  maxInFlight: number
  /**
   * Removes the next batch from the queue (never empty when called) and returns it, keeping
   * the order of what stays. {@link takeMatching} covers the usual rules.
   */
  take: (queue: T[]) => T[]
  /** Runs one batch and settles each of its calls; a throw rejects those still unsettled. */
  run: (batch: T[]) => Promise<void>
}

/**
 * Coalesces concurrent calls into batches: one statement and one round trip for many, each
 * call settled by its own batch (so, for writes, only after that batch's commit). While
 * `maxInFlight` batches run, new calls queue and go out together in the next.
 *
 * @example
 * const puts = new BatchQueue<QueuedPut>({ maxInFlight: 4, take: (q) => q.splice(0, 64), run })
 * const result = await new Promise<PutResult>((resolve, reject) => puts.push({ entry, resolve, reject }))
 */
export class BatchQueue<T extends Batched<never>> {
  private readonly queue: T[] = []
  private inFlight = 0

  constructor(private readonly options: BatchQueueOptions<T>) {}

  push(call: T): void {
    this.queue.push(call)
    this.flush()
  }

  private flush(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.options.take(this.queue)
      this.inFlight++
      this.options
        .run(batch)
        .catch((error: unknown) => {
          // Settled calls ignore a second settlement: only the unsettled ones see the error.
          for (const call of batch) call.reject(error)
        })
        .finally(() => {
          this.inFlight--
          this.flush()
        })
    }
  }
}

/**
 * A `take` for {@link BatchQueue}: from the front of the queue, up to `max` calls that `join`
 * the batch; the others keep their places. `join(call, first)` is asked in queue order and
 * records what it accepts (keys seen, sizes); the first call of a batch is taken in any case.
 */
export function takeMatching<T>(
  queue: T[],
  max: number,
  join: (call: T, first: boolean) => boolean,
): T[] {
  const batch: T[] = []
  const rest: T[] = []
  for (const call of queue) {
    const first = batch.length === 0
    // The first call goes whatever `join` says: a call too big alone still has to run.
    if (batch.length < max && (join(call, first) || first)) batch.push(call)
    else rest.push(call)
  }
  queue.length = 0
  queue.push(...rest)
  return batch
}
