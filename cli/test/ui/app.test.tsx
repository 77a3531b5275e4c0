// The chat screen (cli/src/ui/App.tsx) rendered by ink-testing-library against real clients:
// tmp homes, an in-process DHT testnet on 127.0.0.1, real SQLite and libsignal. Alice's
// screen is under test; Bob is a second real client that talks to her.
import { Identity, encodeContactUri, type PassageClient } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import t from 'tap'
import { themeFor } from '../../src/ui/theme.js'
import { eventually, startClient, testnet, tmpHome } from '@passage/sdk/testing'

// chalk (inside ink and ink-text-input) decides on colour when it is loaded: force it on, so
// that the NO_COLOR test below proves the screen itself emits no escapes (not that chalk was
// off anyway because tap's output is a pipe).
process.env.FORCE_COLOR = '1'
const { render } = await import('ink-testing-library')
const { App } = await import('../../src/ui/App.js')
const { createElement } = await import('react')

const ESC = '\u001b'
const COLUMNS = 80
const ROWS = 24
const plain = themeFor({ NO_COLOR: '1' })
const colored = themeFor({})

const net = await testnet(t, 4)
const alice = await startClient(t, net, tmpHome(t, 'alice'), { name: 'Alice', background: true })
const bob = await startClient(t, net, tmpHome(t, 'bob'), { name: 'Bob', background: true })
await alice.contacts.add(bob.contactUri, { name: 'Bob' })
await bob.contacts.add(alice.contactUri, { name: 'Alice' })
// A third contact who never writes, with a name too long for the contact pane.
const carol = Identity.generate(libsignalKeys)
await alice.contacts.add(encodeContactUri({ publicKey: carol.publicKey }), {
  name: 'Carol Christina Longname-Featherstonehaugh',
})

/** Bob writes to Alice; resolves once Alice's client has the message (direct or mailbox). */
async function bobSays(text: string): Promise<void> {
  const received = new Promise<void>((resolve) => {
    const off = alice.on('message', (m) => {
      if (m.text === text) {
        off()
        resolve()
      }
    })
  })
  const sent = await bob.send(alice.textId, text)
  if (sent.state === 'stored') await alice.fetchInbox()
  await received
}

type T = { teardown(fn: () => unknown): void }

function screen(t: T, client: PassageClient, theme = plain, extra: Record<string, unknown> = {}) {
  const app = render(
    createElement(App, { client, theme, size: { columns: COLUMNS, rows: ROWS }, ...extra }),
  )
  t.teardown(() => app.unmount())
  return app
}

/** Renders Alice's screen on Bob's conversation and waits until it is all loaded. */
async function bobScreen(t: T, theme = plain) {
  const app = screen(t, alice, theme, { initialContactId: bob.textId })
  await eventually(() => /Contacts \(2\)/.test(frameOf(app)) && /Bob · p1/.test(frameOf(app)))
  // Keys are read once the input's effects have run: a key written before is lost here (a
  // real terminal would buffer it).
  await settle()
  return app
}

/** The next message Bob receives, or undefined after `ms`. */
function bobReceives(ms = 15_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      off()
      resolve(undefined)
    }, ms)
    const off = bob.on('message', (m) => {
      clearTimeout(timer)
      off()
      resolve(m.text)
    })
  })
}

/** Lets React run the effects of the last render (ink re-subscribes key handlers there). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 30))

const frameOf = (app: { lastFrame(): string | undefined }) => app.lastFrame() ?? ''

await bobSays('hello from bob')

t.test('renders the contacts and the history from the home', async (t) => {
  const app = await bobScreen(t)
  t.ok(await eventually(() => frameOf(app).includes('hello from bob')), frameOf(app))
  const frame = frameOf(app)
  t.match(frame, /Contacts \(2\)/)
  t.match(frame, /> ?. Bob/, 'Bob is selected')
  t.match(frame, /Carol Christina Lo/, 'Carol is listed, her name cut to fit')
  t.match(frame, /\d\d:\d\d Bob: hello from bob/, 'history: time, author, text')
  t.match(frame, /Bob · p1\w{6}…\w{4} · (online|offline)/, 'the header names the contact')
  t.match(frame, /LAN 0 │ super-node none │ DHT \d+ │ links \d+ │ outbox \d+/, 'the status bar')
})

t.test('typing and Enter send the message; it shows with its delivery mark', async (t) => {
  const app = await bobScreen(t)
  const bobGets = bobReceives()
  // Chunk by chunk, as a person types: ink-text-input takes its key handler's value from the
  // last render, so each chunk waits until the screen shows the previous one.
  app.stdin.write('hi bob, ')
  t.ok(await eventually(() => frameOf(app).includes('› hi bob,')), 'the input line echoes')
  await settle()
  app.stdin.write('how are you?')
  t.ok(await eventually(() => frameOf(app).includes('› hi bob, how are you?')), 'and goes on')
  await settle()
  app.stdin.write('\r')
  t.ok(
    await eventually(() => /\d\d:\d\d me: hi bob, how are you\? (⧗|✓|↓|✓✓|●)/.test(frameOf(app))),
    frameOf(app),
  )
  // The mark moves on: the message left the outbox (sent, stored or further).
  t.ok(
    await eventually(() => /me: hi bob, how are you\? (✓|↓|✓✓|●) /.test(frameOf(app))),
    frameOf(app),
  )
  // Bob gets it (directly, or from his mailbox when it went there).
  const history = await alice.history(bob.textId)
  const sent = history.find((m) => m.text === 'hi bob, how are you?')
  t.ok(sent, 'the message is in Alice’s history')
  if (sent?.state === 'stored') await bob.fetchInbox()
  t.equal(await bobGets, 'hi bob, how are you?')
  // Bob's client sends a delivery receipt; when it reaches Alice, the mark turns to ✓✓.
  t.ok(
    await eventually(async () => {
      await bob.flushOutbox()
      await alice.fetchInbox()
      return /me: hi bob, how are you\? (✓✓|●) /.test(frameOf(app))
    }),
    frameOf(app),
  )
  t.notMatch(frameOf(app), /› hi bob/, 'the input line is cleared')
})

t.test('an incoming message appears live, and is marked read on screen', async (t) => {
  const app = await bobScreen(t)
  await bobSays('are you there?')
  t.ok(await eventually(() => frameOf(app).includes('Bob: are you there?')), frameOf(app))
  t.ok(
    await eventually(async () =>
      (await alice.history(bob.textId)).every((m) => m.direction === 'out' || m.read),
    ),
    'what is on screen is marked read',
  )
})

t.test('an unread count shows for a contact that is not open; Tab switches', async (t) => {
  const app = screen(t, alice, plain, { initialContactId: carol.textId })
  t.ok(await eventually(() => frameOf(app).includes('No messages yet')), frameOf(app))
  await bobSays('psst, over here')
  t.ok(await eventually(() => /Bob +1/.test(frameOf(app))), `unread count: ${frameOf(app)}`)
  t.notMatch(frameOf(app), 'psst', 'not shown in Carol’s conversation')
  await settle()
  app.stdin.write('\t')
  t.ok(await eventually(() => frameOf(app).includes('Bob: psst, over here')), frameOf(app))
  t.ok(await eventually(() => !/Bob +1/.test(frameOf(app))), 'read once shown')
})

t.test('80x24: nothing wider than 80 columns or taller than 24 rows', async (t) => {
  await bobSays(`${'a very long message that must wrap '.repeat(6)}end`)
  await bobSays('x'.repeat(200))
  const app = await bobScreen(t)
  t.ok(await eventually(() => frameOf(app).includes('xxxxxxxxxx')), frameOf(app))
  const lines = frameOf(app).split('\n')
  t.ok(lines.length <= ROWS, `${lines.length} rows`)
  for (const line of lines) {
    t.ok([...line].length <= COLUMNS, `line within 80 columns: ${JSON.stringify(line)}`)
  }
  t.match(frameOf(app), /LAN \d/, 'the status bar is still there')
  t.match(frameOf(app), /› /, 'and the input line')
})

t.test('a long input grows the input area, not the screen', async (t) => {
  const app = await bobScreen(t)
  const long = `${'word '.repeat(30)}the end`
  app.stdin.write(long)
  // The input area: the rows between the rule and the bottom border, borders removed.
  const typed = () =>
    (frameOf(app).split(/─{20,}│/)[1] ?? '')
      .split('└')[0]!
      .replace(/[│\s]+/g, ' ')
      .trim()
  t.ok(await eventually(() => typed().endsWith('word the end')), typed())
  t.equal(typed().replace(/^› ?/, ''), long, 'all of it shows')
  const lines = frameOf(app).split('\n')
  t.equal(lines.length, ROWS, 'still 24 rows')
  t.ok(
    lines.every((line) => [...line].length <= COLUMNS),
    'none wider than 80',
  )
  t.match(frameOf(app), /LAN \d/, 'the status bar stays')
})

t.test('PgUp scrolls back, PgDn forward', async (t) => {
  await bobSays(Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\n'))
  const app = await bobScreen(t)
  t.ok(await eventually(() => frameOf(app).includes('line 20')), frameOf(app))
  t.notMatch(frameOf(app), 'hello from bob', 'the oldest message is off screen')
  app.stdin.write(`${ESC}[5~`)
  t.ok(await eventually(() => frameOf(app).includes('hello from bob')), frameOf(app))
  t.match(frameOf(app), /lines up, PgDn/)
  app.stdin.write(`${ESC}[6~`)
  t.ok(await eventually(() => !frameOf(app).includes('lines up')), frameOf(app))
})

t.test('NO_COLOR: no escape sequences at all; with colour there are some', async (t) => {
  const withColor = await bobScreen(t, colored)
  t.ok(await eventually(() => frameOf(withColor).includes('line 20')))
  t.match(frameOf(withColor), ESC, 'colour is on (the test can fail)')
  const noColor = await bobScreen(t, themeFor({ NO_COLOR: '1' }))
  t.ok(await eventually(() => frameOf(noColor).includes('line 20')))
  await settle()
  noColor.stdin.write('typed')
  t.ok(await eventually(() => frameOf(noColor).includes('typed')))
  t.notMatch(frameOf(noColor), ESC)
})

t.test('a dumb terminal gets ASCII marks and borders', async (t) => {
  const app = screen(t, alice, themeFor({ TERM: 'dumb' }), { initialContactId: bob.textId })
  t.ok(await eventually(() => frameOf(app).includes('line 20')), frameOf(app))
  t.notMatch(frameOf(app), /[^\x20-\x7e\n]/, 'only printable ASCII')
})

t.test('Esc quits', async (t) => {
  let exited = 0
  const app = screen(t, alice, plain, { onExit: () => exited++ })
  t.ok(await eventually(() => frameOf(app).includes('Contacts (2)')))
  await settle()
  app.stdin.write(ESC)
  t.ok(await eventually(() => exited === 1))
})
