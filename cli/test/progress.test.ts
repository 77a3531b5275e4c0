// The transfer progress of `passage send --gif` and `passage attachments save`: nothing for a
// transfer under a second, then the percentage (rewritten in place on a terminal, a line a
// quarter elsewhere). Events come from a stand-in for the client's `attachment` events; the
// one-second timer is fired by hand.
import t from 'tap'
import type { AttachmentEvent } from '@passage/sdk'
import { PROGRESS_AFTER_MS, showProgress, type ProgressSource } from '../src/progress.js'

function setup(isTTY: boolean) {
  const listeners: Array<(e: AttachmentEvent) => void> = []
  const source: ProgressSource = {
    on: (_event, fn) => {
      listeners.push(fn)
      return () => listeners.splice(listeners.indexOf(fn), 1)
    },
  }
  let written = ''
  let due: { fn: () => void; ms: number } | undefined
  const stop = showProgress(
    source,
    { write: (text: string) => (written += text), isTTY },
    {
      direction: 'up',
      label: 'uploading 猫.gif',
      setTimer: (fn, ms) => {
        due = { fn, ms }
        return () => (due = undefined)
      },
    },
  )
  const emit = (done: number, direction: AttachmentEvent['direction'] = 'up') =>
    listeners.forEach((fn) =>
      fn({ messageId: 'm', direction, done, total: 2 * 1024 * 1024, state: 'uploading' }),
    )
  return { emit, stop, written: () => written, due: () => due, listeners }
}

t.test('under a second: nothing shown, the timer and the listener are gone after', async (t) => {
  const p = setup(true)
  t.equal(p.due()?.ms, PROGRESS_AFTER_MS)
  p.emit(1024 * 1024)
  p.stop()
  t.equal(p.written(), '')
  t.equal(p.due(), undefined)
  t.equal(p.listeners.length, 0)
})

t.test('on a terminal: one line rewritten in place, ended by a newline', async (t) => {
  const p = setup(true)
  p.emit(512 * 1024)
  p.due()!.fn() // a second has passed
  p.emit(1024 * 1024, 'down') // another direction: not ours
  p.emit(1536 * 1024)
  p.stop()
  t.equal(
    p.written(),
    '\r\x1b[2Kuploading 猫.gif: 25% of 2.0 MiB\r\x1b[2Kuploading 猫.gif: 75% of 2.0 MiB\n',
  )
})

t.test('not a terminal: a line at each quarter', async (t) => {
  const p = setup(false)
  p.due()!.fn()
  for (let kib = 0; kib <= 2048; kib += 128) p.emit(kib * 1024)
  p.stop()
  t.same(p.written().trim().split('\n'), [
    'uploading 猫.gif: 0% of 2.0 MiB',
    'uploading 猫.gif: 25% of 2.0 MiB',
    'uploading 猫.gif: 50% of 2.0 MiB',
    'uploading 猫.gif: 75% of 2.0 MiB',
    'uploading 猫.gif: 100% of 2.0 MiB',
  ])
})
