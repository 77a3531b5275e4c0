// GIFs in the chat screen (cli/src/ui/App.tsx) against real clients: a testnet on 127.0.0.1,
// tmp homes, real SQLite and libsignal, the attachment's chunks pulled over a direct link or
// the DHT. Alice's screen is under test; Bob sends and receives with the SDK. The animation
// runs on a timer the test fires by hand (no sleeps decide what frame shows).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { ChatMessage } from '@passage/sdk'
import { eventually, startClient, testnet, tmpHome } from '@passage/sdk/testing'
import { probeGif } from '../../src/media/gif-probe.js'
import type { Ticker } from '../../src/ui/hooks/use-gif-animation.js'
import { themeFor } from '../../src/ui/theme.js'
import { animation } from '../helpers/gifs.js'

process.env.FORCE_COLOR = '1'
t.setTimeout(300_000)
const { render } = await import('ink-testing-library')
const { App } = await import('../../src/ui/App.js')
const { createElement } = await import('react')

const ESC = '\u001b'
const net = await testnet(t, 4)
const alice = await startClient(t, net, tmpHome(t, 'alice'), { name: 'Alice', background: true })
const bob = await startClient(t, net, tmpHome(t, 'bob'), { name: 'Bob', background: true })
await alice.contacts.add(bob.contactUri, { name: 'Bob' })
await bob.contacts.add(alice.contactUri, { name: 'Alice' })

/** A timer fired by hand: what is pending. */
function manualTicker() {
  const pending = new Map<number, () => void>()
  let next = 0
  const ticker: Ticker = {
    setTimeout(fn) {
      pending.set(++next, fn)
      return next
    },
    clearTimeout(handle) {
      pending.delete(handle as number)
    },
  }
  const fire = () => {
    for (const [id, fn] of [...pending]) {
      pending.delete(id)
      fn()
    }
  }
  return { ticker, pending, fire }
}

const frameOf = (app: { lastFrame(): string | undefined }) => app.lastFrame() ?? ''
const settle = () => new Promise((resolve) => setTimeout(resolve, 30))

// Bob sends Alice a 16×16 GIF of 4 frames (a picture of 16 columns × 8 rows on her screen).
const gif = animation(16, 4, 10)
const probe = await probeGif(gif)
const arrived = new Promise<ChatMessage>((resolve) => {
  const off = alice.on('message', (m) => {
    if (m.attachment) {
      off()
      resolve(m)
    }
  })
})
const sent = await bob.sendAttachment(alice.textId, {
  bytes: gif,
  contentType: 'image/gif',
  fileName: 'cat.gif',
  caption: '見て 🐈',
  ...probe,
})
if (sent.state === 'stored') await alice.fetchInbox()
await arrived

function screen(t: { teardown(fn: () => unknown): void }, extra: Record<string, unknown>) {
  const app = render(
    createElement(App, {
      client: alice,
      theme: themeFor({}),
      initialContactId: bob.textId,
      size: { columns: 80, rows: 24 },
      ...extra,
    }),
  )
  t.teardown(() => app.unmount())
  return app
}

/** The picture's rows: the lines with truecolor half blocks. */
const pictureOf = (frame: string) =>
  frame.split('\n').filter((line) => line.includes(`${ESC}[38;2;`))

t.test('a GIF from a contact shows as half blocks and animates on the timer', async (t) => {
  const clock = manualTicker()
  const app = screen(t, { gifs: { depth: 'truecolor', ticker: clock.ticker } })
  t.ok(await eventually(() => pictureOf(frameOf(app)).length === 8, { ms: 30_000 }), frameOf(app))
  t.match(frameOf(app), /\[GIF 16×16 · 4 frames · 0\.4 s · \d+ B\] 見て/)
  // The sender's still preview may show first; the GIF itself animates once decoded.
  t.ok(await eventually(() => clock.pending.size === 1, { ms: 30_000 }), 'the animation started')
  const seen = new Set<string>()
  for (let i = 0; i < 4; i++) {
    seen.add(pictureOf(frameOf(app)).join('\n'))
    t.equal(clock.pending.size, 1, 'one timer: the one GIF that animates')
    clock.fire()
    const before = [...seen]
    await eventually(() => !before.includes(pictureOf(frameOf(app)).join('\n')) || i === 3)
  }
  t.equal(seen.size, 4, 'four different frames')
})

t.test('still mode: the first frame and no timer', async (t) => {
  const clock = manualTicker()
  const app = screen(t, { gifs: { depth: '256', still: true, ticker: clock.ticker } })
  t.ok(await eventually(() => frameOf(app).includes(`${ESC}[38;5;`), { ms: 30_000 }))
  await settle()
  t.equal(clock.pending.size, 0)
  t.notMatch(frameOf(app), `${ESC}[38;2;`, '256 colours only')
})

t.test('NO_COLOR: the GIF is a line of words, nothing is drawn', async (t) => {
  const clock = manualTicker()
  const app = screen(t, { theme: themeFor({ NO_COLOR: '1' }), gifs: { ticker: clock.ticker } })
  t.ok(
    await eventually(() =>
      /Bob: \[GIF 16×16 · 4 frames · 0\.4 s · \d+ B\] 見て/.test(frameOf(app)),
    ),
    frameOf(app),
  )
  t.notMatch(frameOf(app), ESC)
  t.notMatch(frameOf(app), /[▀▄]/)
  t.equal(clock.pending.size, 0)
})

t.test('/gif PATH sends a GIF; it shows in the conversation; Bob gets it', async (t) => {
  const dir = t.testdir({})
  const path = join(dir, 'ねこ.gif')
  writeFileSync(path, animation(24, 3, 20))
  let got: ChatMessage | undefined
  const off = bob.on('message', (m) => {
    if (m.attachment?.fileName === 'ねこ.gif') got = m
  })
  t.teardown(off)
  const app = screen(t, { gifs: { depth: 'truecolor', ticker: manualTicker().ticker } })
  t.ok(await eventually(() => frameOf(app).includes('Bob · p1')))
  await settle()
  app.stdin.write(`/gif '${path}'`) // quoted, as a shell path
  // A long path: the input line shows its end.
  t.ok(await eventually(() => frameOf(app).includes('ねこ.gif')), frameOf(app))
  await settle()
  app.stdin.write('\r')
  t.ok(
    // The send encrypts, stores and offers the file: on a loaded CI machine (load 14) it took
    // over 30 s, so the bounds here are a minute.
    await eventually(() => /\[GIF 24×24 · 3 frames · 0\.6 s · \d+ B\]/.test(frameOf(app)), {
      ms: 60_000,
    }),
    frameOf(app),
  )
  // Bob fetches his mailbox (his client here does not by itself).
  t.ok(
    await eventually(
      async () => {
        if (!got) await bob.fetchInbox().catch(() => [])
        return got !== undefined
      },
      { ms: 30_000, everyMs: 200 },
    ),
    'Bob got the GIF',
  )
  const message = got!
  t.match(message.attachment, { contentType: 'image/gif', fileName: 'ねこ.gif', width: 24 })
  const bytes = await bob.attachments.fetch(message.id)
  t.equal(bytes.byteLength, animation(24, 3, 20).byteLength)

  // A file that is not a GIF: refused in the status bar, nothing sent.
  const text = join(dir, 'note.gif')
  writeFileSync(text, 'not a gif at all, just words')
  await settle()
  app.stdin.write(`/gif ${text}`)
  t.ok(await eventually(() => frameOf(app).includes('note.gif')), frameOf(app))
  await settle()
  app.stdin.write('\r')
  t.ok(
    await eventually(() => /note\.gif: not a GIF/.test(frameOf(app)), { ms: 60_000 }),
    frameOf(app),
  )
})
