import { MalformedError, RateLimitedError } from '../errors.js'
import type { Bytes } from '../wire/bytes.js'
import { FRAGMENT_BYTES } from './messages.js'

/** Envelopes being reassembled at once, over all senders. */
export const MAX_PENDING_ASSEMBLIES = 1024
/** Bytes held in partial envelopes at once: 16 MiB. */
export const MAX_PENDING_BYTES = 16 * 1024 * 1024
/** A partial envelope not completed within this time is discarded. */
export const ASSEMBLY_TIMEOUT_MS = 30_000 // a 64-fragment put takes well under a second

interface Assembly {
  buffer: Bytes
  have: Uint8Array
  received: number
  count: number
  startedAt: number
}

/**
 * Reassembles fragmented mailbox puts. Nothing is committed until every fragment is here,
 * so a replica never stores half an envelope. Pure: the caller passes the time.
 */
export class FragmentAssembler {
  private readonly pending = new Map<string, Assembly>()
  private bytes = 0

  /** Adds a fragment; returns the whole envelope once the last fragment arrived. */
  add(
    key: string,
    totalSize: number,
    index: number,
    count: number,
    data: Uint8Array,
    now: number,
  ): Bytes | undefined {
    let a = this.pending.get(key)
    if (!a) {
      this.expire(now)
      if (
        this.pending.size >= MAX_PENDING_ASSEMBLIES ||
        this.bytes + totalSize > MAX_PENDING_BYTES
      ) {
        throw new RateLimitedError('too many envelopes in flight; retry later')
      }
      a = {
        buffer: new Uint8Array(totalSize),
        have: new Uint8Array(count),
        received: 0,
        count,
        startedAt: now,
      }
      this.pending.set(key, a)
      this.bytes += totalSize
    } else if (a.buffer.byteLength !== totalSize || a.count !== count) {
      throw new MalformedError('fragment does not match the envelope being assembled')
    }
    if (a.have[index] === 0) {
      a.buffer.set(data, index * FRAGMENT_BYTES)
      a.have[index] = 1
      a.received++
    }
    if (a.received < a.count) return undefined
    this.drop(key)
    return a.buffer
  }

  /** Forgets an assembly (after commit or failure). */
  drop(key: string): void {
    const a = this.pending.get(key)
    if (!a) return
    this.pending.delete(key)
    this.bytes -= a.buffer.byteLength
  }

  /** Discards assemblies older than {@link ASSEMBLY_TIMEOUT_MS}. */
  expire(now: number): void {
    for (const [key, a] of this.pending)
      if (now - a.startedAt >= ASSEMBLY_TIMEOUT_MS) this.drop(key)
  }

  get size(): number {
    return this.pending.size
  }
}
