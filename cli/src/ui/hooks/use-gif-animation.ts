import { useEffect, useState } from 'react'
import { MIN_FRAME_MS } from '../../media/gif-limits.js'

/** The timer an animation runs on: the global one, or a test's that it fires by hand. */
export interface Ticker {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const globalTicker: Ticker = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

/**
 * The frame to show of an animation with these delays: it moves on after each frame's delay
 * (never faster than 10 frames a second) while `animate` is true, and rests on the first frame
 * otherwise. One timer at a time, cleared when stopped or unmounted.
 */
export function useGifAnimation(
  delaysMs: readonly number[],
  animate: boolean,
  ticker: Ticker = globalTicker,
): number {
  const [frame, setFrame] = useState(0)
  const count = delaysMs.length
  useEffect(() => {
    if (!animate || count < 2) {
      setFrame(0)
      return
    }
    let handle: unknown
    let at = 0
    const step = () => {
      handle = ticker.setTimeout(
        () => {
          at = (at + 1) % count
          setFrame(at)
          step()
        },
        Math.max(MIN_FRAME_MS, delaysMs[at] ?? MIN_FRAME_MS),
      )
    }
    setFrame(0)
    step()
    return () => ticker.clearTimeout(handle)
  }, [delaysMs, count, animate, ticker])
  return frame
}
