import type { ManualClock } from './clock.js'

/** An opaque handle returned by {@link Timers.setTimeout}. */
export type TimerHandle = unknown

/**
 * One-shot timers, injected so tests drive backoff, handshake timeouts and beacon intervals
 * with a {@link ManualTimers} instead of sleeping.
 */
export interface Timers {
  setTimeout(callback: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

/** The process's timers; they do not keep the process alive (`unref`). */
export const systemTimers: Timers = {
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms)
    timer.unref()
    return timer
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>)
  },
}

interface Pending {
  id: number
  due: number
  callback: () => void
}

/**
 * Timers that fire only when {@link ManualTimers.advance} moves its {@link ManualClock}
 * past their due time, in due order (ties in creation order).
 *
 * @example
 * const clock = new ManualClock()
 * const timers = new ManualTimers(clock)
 * timers.setTimeout(() => console.log('fired'), 1_000)
 * timers.advance(1_000) // prints "fired"
 */
export class ManualTimers implements Timers {
  private next = 1
  private pending: Pending[] = []

  constructor(readonly clock: ManualClock) {}

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.next++
    this.pending.push({ id, due: this.clock.now() + Math.max(0, ms), callback })
    return id
  }

  clearTimeout(handle: TimerHandle): void {
    this.pending = this.pending.filter((p) => p.id !== handle)
  }

  /** How many timers are waiting. */
  get size(): number {
    return this.pending.length
  }

  /** Due time of the earliest timer, or undefined when none waits. */
  nextDue(): number | undefined {
    let best: number | undefined
    for (const p of this.pending) if (best === undefined || p.due < best) best = p.due
    return best
  }

  /**
   * Moves the clock forward by `ms`, firing every timer that falls due on the way (timers
   * set by callbacks fire too when due within the window). Returns how many fired.
   */
  advance(ms: number): number {
    const end = this.clock.now() + ms
    let fired = 0
    for (;;) {
      const due = this.pending
        .filter((p) => p.due <= end)
        .sort((a, b) => a.due - b.due || a.id - b.id)
      const first = due[0]
      if (!first) break
      this.pending = this.pending.filter((p) => p.id !== first.id)
      if (first.due > this.clock.now()) this.clock.set(first.due)
      fired++
      first.callback()
    }
    this.clock.set(end)
    return fired
  }
}
