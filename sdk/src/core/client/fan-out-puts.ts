import type { EnvelopeToPut, PutEnvelopeResult } from '../dht/mailbox-client.js'

interface Waiting {
  envelope: EnvelopeToPut
  resolve: (result: PutEnvelopeResult) => void
  reject: (error: unknown) => void
}

/**
 * The mailbox puts of one fan-out (a group text's copies, one per member device), sent
 * together once every copy either reached its put or finished without one (a direct link
 * took it, it waits for a session…): a replica of several of those mailboxes then gets them in
 * a few `mailbox-put-many` instead of one request per copy. Each copy still gets its own
 * result (how many replicas stored it), so each is acknowledged or retried on its own.
 *
 * @example
 * const puts = new FanOutPuts(entries.length, (envelopes) => dht.putEnvelopes(envelopes))
 * // per copy: `await puts.put(entry, { recipientKey, data })`, or `puts.done(entry)` when
 * // it finished without a put (calling done after put changes nothing).
 */
export class FanOutPuts {
  private readonly waiting: Waiting[] = []
  private readonly counted = new Set<unknown>()

  constructor(
    private open: number,
    private readonly putAll: (envelopes: EnvelopeToPut[]) => Promise<PutEnvelopeResult[]>,
  ) {}

  /** Puts `envelope` with the others; resolves with its own result. */
  put(copy: unknown, envelope: EnvelopeToPut): Promise<PutEnvelopeResult> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ envelope, resolve, reject })
      this.count(copy)
    })
  }

  /** `copy` is over without a put (or its put is counted already). */
  done(copy: unknown): void {
    this.count(copy)
  }

  private count(copy: unknown): void {
    if (this.counted.has(copy)) return
    this.counted.add(copy)
    if (--this.open > 0) return
    const batch = this.waiting.splice(0)
    if (batch.length === 0) return
    this.putAll(batch.map((w) => w.envelope)).then(
      (results) => batch.forEach((w, i) => w.resolve(results[i]!)),
      (error: unknown) => batch.forEach((w) => w.reject(error)),
    )
  }
}
