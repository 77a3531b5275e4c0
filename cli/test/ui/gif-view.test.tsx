// The GIF in the conversation (GifView): frames change over time on an injected timer (no
// sleeps), at most 10 a second; still mode rests on the first frame; NO_COLOR shows words.
import t from 'tap'
import { decodeGif } from '../../src/media/gif-decode.js'
import type { Ticker } from '../../src/ui/hooks/use-gif-animation.js'
import { animation } from '../helpers/gifs.js'

process.env.FORCE_COLOR = '1'
const ESC = '\u001b'
const { render } = await import('ink-testing-library')
const { GifView } = await import('../../src/ui/components/GifView.js')
const { createElement } = await import('react')

/** A timer the test fires by hand: what is pending, and for how long it was asked. */
function manualTicker() {
  const pending = new Map<number, { fn: () => void; ms: number }>()
  let next = 0
  const ticker: Ticker = {
    setTimeout(fn, ms) {
      pending.set(++next, { fn, ms })
      return next
    },
    clearTimeout(handle) {
      pending.delete(handle as number)
    },
  }
  const fire = () => {
    const [id, timer] = [...pending][0]!
    pending.delete(id)
    timer.fn()
    return timer.ms
  }
  return { ticker, pending, fire }
}

/** Lets React and Ink finish rendering what a fired timer changed (a few turns, no clock). */
async function tick() {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}
// Frames of 30 ms (faster than 10 fps), 6 of them, 16×16: 8 columns × 4 rows in 8×8 cells.
const gif = decodeGif(animation(16, 6, 3))
const facts = { width: 16, height: 16, frames: 6, durationMs: 180 }

function view(props: Record<string, unknown>) {
  return createElement(GifView, {
    gif,
    facts,
    maxColumns: 8,
    maxRows: 4,
    depth: 'truecolor',
    animate: true,
    ...props,
  })
}

t.test(
  'the selected GIF animates: each tick shows the next frame, never under 100 ms',
  async (t) => {
    const clock = manualTicker()
    const app = render(view({ ticker: clock.ticker }))
    t.teardown(() => app.unmount())
    await tick()
    const seen = [app.lastFrame()]
    t.ok(seen[0]!.includes(`${ESC}[38;2;`), 'truecolor cells')
    t.equal(seen[0]!.split('\n').length, 4, 'four rows of half blocks')
    for (let i = 1; i < 6; i++) {
      t.equal(clock.fire(), 100, 'a 30 ms frame waits 100 ms (at most 10 fps)')
      await tick()
      seen.push(app.lastFrame())
    }
    t.equal(new Set(seen).size, 6, 'six different frames')
    clock.fire()
    await tick()
    t.equal(app.lastFrame(), seen[0], 'then from the start again')
    t.equal(clock.pending.size, 1, 'one timer at a time')
    app.unmount()
    t.equal(clock.pending.size, 0, 'unmounted: the timer is cleared')
  },
)

t.test('still mode (or a GIF not selected): the first frame, no timer', async (t) => {
  const clock = manualTicker()
  const moving = render(view({ ticker: manualTicker().ticker }))
  const app = render(view({ ticker: clock.ticker, animate: false }))
  t.teardown(() => {
    app.unmount()
    moving.unmount()
  })
  await tick()
  t.equal(clock.pending.size, 0, 'nothing scheduled')
  t.equal(app.lastFrame(), moving.lastFrame(), 'the first frame')
})

t.test('selected, then not: the timer stops and the first frame shows', async (t) => {
  const clock = manualTicker()
  const app = render(view({ ticker: clock.ticker }))
  t.teardown(() => app.unmount())
  await tick()
  const first = app.lastFrame()
  clock.fire()
  await tick()
  t.not(app.lastFrame(), first)
  app.rerender(view({ ticker: clock.ticker, animate: false }))
  await tick()
  t.equal(clock.pending.size, 0)
  t.equal(app.lastFrame(), first)
})

t.test('NO_COLOR / TERM=dumb: a line of words, no escapes, no timer', async (t) => {
  const clock = manualTicker()
  const app = render(view({ ticker: clock.ticker, depth: 'none', ascii: true }))
  t.teardown(() => app.unmount())
  await tick()
  t.equal(app.lastFrame(), '[GIF 16x16, 6 frames, 0.2 s]')
  t.equal(clock.pending.size, 0)
})

t.test('while it downloads: the facts and the progress, in words', async (t) => {
  const app = render(view({ gif: undefined, status: 'downloading 40% 🎞 小', depth: '256' }))
  t.teardown(() => app.unmount())
  await tick()
  t.equal(app.lastFrame(), '[GIF 16×16 · 6 frames · 0.2 s] downloading 40% 🎞 小')
})

t.test('256 colours: palette escapes only', async (t) => {
  const app = render(view({ depth: '256', animate: false }))
  t.teardown(() => app.unmount())
  await tick()
  t.ok(app.lastFrame()!.includes(`${ESC}[38;5;`))
  t.notMatch(app.lastFrame(), /38;2;/)
})

t.test('a GIF scrolled half out of view: only its visible rows', async (t) => {
  const app = render(view({ animate: false, fromRow: 1, toRow: 3 }))
  t.teardown(() => app.unmount())
  await tick()
  t.equal(app.lastFrame()!.split('\n').length, 2)
})
