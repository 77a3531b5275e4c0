/** Time, injected so tests can move it forward instead of sleeping. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** A clock that moves only when told: for tests of TTLs, skew windows and refresh. */
export class ManualClock implements Clock {
  constructor(private current = 1_764_000_000_000) {}

  now(): number {
    return this.current
  }

  set(ms: number): void {
    this.current = ms
  }

  advance(ms: number): void {
    this.current += ms
  }
}
