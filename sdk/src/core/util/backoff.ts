/** First reconnect delay. */
export const RECONNECT_INITIAL_MS = 1_000 // 1 s: a peer that just restarted is back quickly
/** Longest reconnect delay. */
export const RECONNECT_MAX_MS = 60_000 // 1 min: an offline peer costs one failed dial a minute
/** Fraction of each delay that is random, so peers that lost each other do not retry in step. */
export const RECONNECT_JITTER = 0.5

export interface BackoffOptions {
  initialMs?: number
  maxMs?: number
  /** 0 to 1: the delay is drawn from [base × (1 − jitter), base]. */
  jitter?: number
}

/**
 * Delay before attempt `attempt` (1 = the first retry): `initialMs × 2^(attempt−1)`, capped at
 * `maxMs`, then jittered down by up to `jitter` of itself. `random` returns [0, 1).
 * Pure: no timers.
 */
export function backoffDelay(
  attempt: number,
  random: () => number,
  options: BackoffOptions = {},
): number {
  const initial = options.initialMs ?? RECONNECT_INITIAL_MS
  const max = options.maxMs ?? RECONNECT_MAX_MS
  const jitter = Math.min(1, Math.max(0, options.jitter ?? RECONNECT_JITTER))
  const exponent = Math.min(Math.max(0, attempt - 1), 52)
  const base = Math.min(max, initial * 2 ** exponent)
  return Math.round(base * (1 - jitter) + base * jitter * random())
}
