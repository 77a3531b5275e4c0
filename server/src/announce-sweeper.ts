import { systemTimers, type Clock, type Timers } from '@passage/sdk'
import type { AnnounceStore } from './db/announce-store.js'

/** The timers the sweeper uses; tests pass their own to tick by hand. */
export type IntervalTimers = Pick<Timers, 'setInterval' | 'clearInterval'>

/** Options of {@link AnnounceSweeper}. */
export interface AnnounceSweeperOptions {
  store: AnnounceStore
  clock: Clock
  intervalMs: number
  timers?: IntervalTimers
  logger?: { debug(obj: object, msg: string): void; warn(obj: object, msg: string): void }
}

/**
 * Deletes expired announces every `intervalMs` (on the injected clock's notion of "now").
 * Expired announces are already invisible to reads; sweeping only reclaims their rows.
 */
export class AnnounceSweeper {
  private handle: unknown
  private running: Promise<number> | undefined

  constructor(private readonly options: AnnounceSweeperOptions) {}

  /** Starts the timer (idempotent). */
  start(): void {
    if (this.handle !== undefined) return
    const timers = this.options.timers ?? systemTimers
    this.handle = timers.setInterval(() => {
      void this.sweepOnce().catch((error: unknown) =>
        this.options.logger?.warn({ err: error }, 'sweeping expired announces failed'),
      )
    }, this.options.intervalMs)
  }

  /** Deletes expired announces now; returns how many. One sweep at a time. */
  async sweepOnce(): Promise<number> {
    this.running ??= this.options.store
      .sweep(this.options.clock.now())
      .then((deleted) => {
        if (deleted > 0) this.options.logger?.debug({ deleted }, 'swept expired announces')
        return deleted
      })
      .finally(() => {
        this.running = undefined
      })
    return this.running
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    if (this.handle !== undefined) {
      ;(this.options.timers ?? systemTimers).clearInterval(this.handle)
      this.handle = undefined
    }
    await this.running?.catch(() => undefined)
  }
}
