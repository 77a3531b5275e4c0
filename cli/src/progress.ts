import type { AttachmentEvent } from '@passage/sdk'
import type { TextSink } from './cli-io.js'
import { byteSize } from './attachment-text.js'

/** A transfer shorter than this shows no progress at all. */
export const PROGRESS_AFTER_MS = 1_000 // the "uploads and downloads over a second"

/** Where the progress events come from: a client (`client.on('attachment', …)`). */
export interface ProgressSource {
  on(event: 'attachment', listener: (e: AttachmentEvent) => void): () => void
}

export interface ProgressOptions {
  direction: AttachmentEvent['direction']
  /** What is moving, for the line: `uploading cat.gif`. */
  label: string
  /** A timer (tests hand in their own). */
  setTimer?: (fn: () => void, ms: number) => () => void
}

/**
 * Shows an attachment's transfer on `sink` (stderr) once it has taken over a second: on a
 * terminal one line rewritten in place (`uploading cat.gif: 45% of 2.1 MiB`), elsewhere a
 * line at each quarter. Returns the function that ends it (and the line).
 */
export function showProgress(
  source: ProgressSource,
  sink: TextSink,
  options: ProgressOptions,
): () => void {
  const setTimer =
    options.setTimer ??
    ((fn, ms) => {
      const timer = setTimeout(fn, ms)
      return () => clearTimeout(timer)
    })
  let last: AttachmentEvent | undefined
  let shown = false
  let lastQuarter = -1
  let printed = false
  const draw = () => {
    if (!shown || !last || last.total <= 0) return
    const percent = Math.min(100, Math.floor((last.done / last.total) * 100))
    const text = `${options.label}: ${percent}% of ${byteSize(last.total)}`
    if (sink.isTTY) {
      sink.write(`\r\x1b[2K${text}`)
      printed = true
    } else if (Math.floor(percent / 25) > lastQuarter) {
      lastQuarter = Math.floor(percent / 25)
      sink.write(`${text}\n`)
    }
  }
  const off = source.on('attachment', (e) => {
    if (e.direction !== options.direction) return
    last = e
    draw()
  })
  const cancel = setTimer(() => {
    shown = true
    draw()
  }, PROGRESS_AFTER_MS)
  return () => {
    off()
    cancel()
    if (printed) sink.write('\n')
  }
}
