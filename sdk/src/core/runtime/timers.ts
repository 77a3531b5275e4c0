import type { ManualClock } from './clock.js'
import { host } from './host.js'

/** An opaque handle returned by {@link Timers.setTimeout} and {@link Timers.setInterval}. */
export type TimerHandle = unknown

/**
 * Timers and the monotonic time they run on, injected so tests drive backoff, handshake
 * timeouts, request resends and beacon intervals with {@link ManualTimers} instead of sleeping.
 */
export interface Timers {
  setTimeout(callback: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
  setInterval(callback: () => void, ms: number): TimerHandle
  clearInterval(handle: TimerHandle): void
  /**
   * Milliseconds on a monotonic clock (request deadlines, round-trip times): only differences
   * mean anything. Not the wall clock ({@link Clock}), which TTLs and signatures use.
   */
  now(): number
}

/** Lets the process exit while the timer waits, where the host knows the notion (Node's `unref`). */
function unref(handle: unknown): unknown {
  ;(handle as { unref?: () => void } | undefined)?.unref?.()
  return handle
}

/** The host's monotonic clock (`performance.now`), or the wall clock where it has none. */
function monotonicNow(): () => number {
  const performance = host.performance
  return performance ? () => performance.now() : () => Date.now()
}

/**
 * The host's timers. Where the host can (Node.js), they do not keep the process alive: sockets
 * and pending work do.
 */
export const systemTimers: Timers = {
  setTimeout: (callback, ms) => unref(host.setTimeout(callback, ms)),
  clearTimeout: (handle) => host.clearTimeout(handle),
  setInterval: (callback, ms) => unref(host.setInterval(callback, ms)),
  clearInterval: (handle) => host.clearInterval(handle),
  now: monotonicNow(),
}

interface Pending {
  id: number
  due: number
  callback: () => void
  /** Set for an interval: its period. */
  every: number | undefined
}

/**
 * Timers that fire only when {@link ManualTimers.advance} moves its {@link ManualClock}
 * past their due time, in due order (ties in creation order). `now()` is the clock's time.
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
    return this.add(callback, ms, undefined)
  }

  clearTimeout(handle: TimerHandle): void {
    this.pending = this.pending.filter((p) => p.id !== handle)
  }

  setInterval(callback: () => void, ms: number): TimerHandle {
    return this.add(callback, ms, Math.max(1, ms))
  }

  clearInterval(handle: TimerHandle): void {
    this.clearTimeout(handle)
  }

  now(): number {
    return this.clock.now()
  }

  private add(callback: () => void, ms: number, every: number | undefined): number {
    const id = this.next++
    this.pending.push({ id, due: this.clock.now() + Math.max(0, ms), callback, every })
    return id
  }

  /** How many timers are waiting. */
  get size(): number {
    return this.pending.length
  }

  /** Due times of every waiting timer, earliest first. */
  dueTimes(): number[] {
    return this.pending.map((p) => p.due).sort((x, y) => x - y)
  }

  /** Due time of the earliest timer, or undefined when none waits. */
  nextDue(): number | undefined {
    let best: number | undefined
    for (const p of this.pending) if (best === undefined || p.due < best) best = p.due
    return best
  }

  /**
   * Moves the clock forward by `ms`, firing every timer that falls due on the way (timers
   * set by callbacks fire too when due within the window; an interval fires once per period
   * passed). Returns how many fired.
   */
  advance(ms: number): number {
    const end = this.clock.now() + ms
    let fired = 0
    for (;;) {
      let first: Pending | undefined
      for (const p of this.pending) {
        if (p.due > end) continue
        if (!first || p.due < first.due || (p.due === first.due && p.id < first.id)) first = p
      }
      if (!first) break
      if (first.due > this.clock.now()) this.clock.set(first.due)
      if (first.every === undefined) this.pending = this.pending.filter((p) => p !== first)
      else first.due += first.every
      fired++
      first.callback()
    }
    this.clock.set(end)
    return fired
  }
}
