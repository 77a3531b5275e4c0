// The chat screen (cli/src/ui/App.tsx) rendered by ink-testing-library against real clients:
// tmp homes, an in-process DHT testnet on 127.0.0.1, real SQLite and libsignal. Alice's
// screen is under test; Bob is a second real client that talks to her.
import { Identity, encodeContactUri, type PassageClient } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import stringWidth from 'string-width'
import t from 'tap'
import { themeFor } from '../../src/ui/theme.js'
import { eventually, startClient, testnet, tmpHome } from '@passage/sdk/testing'

// chalk (inside ink) decides on colour when it is loaded: force it on, so
// that the NO_COLOR test below proves the screen itself emits no escapes (not that chalk was
// off anyway because tap's output is a pipe).
process.env.FORCE_COLOR = '1'
// Many screens against real clients on a loaded machine: more than tap's default 30 s.
t.setTimeout(300_000)
const { render } = await import('ink-testing-library')
const { App } = await import('../../src/ui/App.js')
const { createElement } = await import('react')

const ESC = '\u001b'
const COLUMNS = 80
const ROWS = 24
const plain = themeFor({ NO_COLOR: '1' })
const colored = themeFor({})

const net = await testnet(t, 4)
const aliceHome = tmpHome(t, 'alice')
const alice = await startClient(t, net, aliceHome, { name: 'Alice', background: true })
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
  t.match(
    frame,
    /Bob · p1\w{6}…\w{4} · (LAN|direct|via relay|offline)/,
    'the header names the contact',
  )
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
    await eventually(() => /\d\d:\d\d me: hi bob, how are you\? (⧗|✓|↓|✓✓)/.test(frameOf(app))),
    frameOf(app),
  )
  // The mark moves on: the message left the outbox (sent, stored or further).
  t.ok(
    await eventually(() => /me: hi bob, how are you\? (✓|↓|✓✓) /.test(frameOf(app))),
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
      return /me: hi bob, how are you\? ✓✓( read)?/.test(frameOf(app))
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

// Text that is wider than its code points (CJK), one cluster of many code points (ZWJ
// emoji, a flag) or narrower than them (combining accents).
const WIDE_TEXT =
  'こんにちは世界、これは漢字のテストです。 👨\u200d👩\u200d👧\u200d👦 family 🏳️\u200d🌈 flag cafe\u0301 nai\u0308ve man\u0303ana 漢字かなカナ'

t.test('CJK, ZWJ emoji and combining marks wrap at 30 to 200 columns, nothing lost', async (t) => {
  await bobSays(WIDE_TEXT)
  const squeeze = (s: string) => s.replace(/\s+/g, '')
  for (const columns of [30, 47, 80, 123, 200]) {
    const app = render(
      createElement(App, {
        client: alice,
        theme: plain,
        size: { columns, rows: ROWS },
        initialContactId: bob.textId,
      }),
    )
    t.teardown(() => app.unmount())
    t.ok(await eventually(() => frameOf(app).includes('漢字かな')), `${columns}: ${frameOf(app)}`)
    const lines = frameOf(app).split('\n')
    t.ok(lines.length <= ROWS, `${columns} columns: ${lines.length} rows`)
    t.match(lines[0], /^┌/, `${columns} columns: the top border stays`)
    for (const line of lines) {
      t.ok(stringWidth(line) <= columns, `${columns} columns: ${JSON.stringify(line)}`)
    }
    t.notMatch(frameOf(app), /[^\n]…[^\n]*漢字かな/, `${columns} columns: not cut with …`)
    // The conversation pane is the fourth field between the box borders.
    const pane = lines.map((line) => line.split('│')[3] ?? '').join('')
    t.ok(squeeze(pane).includes(squeeze(WIDE_TEXT)), `${columns} columns: all of the text shows`)
    app.unmount()
  }
})

/** Once Alice's message containing `part` left her outbox, Bob fetches it if it was stored. */
async function deliverToBob(part: string): Promise<void> {
  const left = await eventually(async () =>
    (await alice.history(bob.textId)).some(
      (m) => m.direction === 'out' && m.text.includes(part) && m.state !== 'pending',
    ),
  )
  if (left) await bob.fetchInbox()
}

/** What Alice's history holds that was written to Bob and contains `part`. */
async function aliceWrote(part: string): Promise<string[]> {
  return (await alice.history(bob.textId))
    .filter((m) => m.direction === 'out' && m.text.includes(part))
    .map((m) => m.text)
}

t.test('a paste in several chunks is kept whole; up to 4,000 bytes it is sent whole', async (t) => {
  const app = await bobScreen(t)
  const bobGets = bobReceives()
  // 3,990 characters, as a terminal delivers a paste: chunks faster than the screen redraws.
  const paste = `${'0123456789 abcdefgh '.repeat(199)}0123456789`
  t.equal(paste.length, 3_990)
  app.stdin.write(paste.slice(0, 2_000))
  app.stdin.write(paste.slice(2_000))
  t.ok(await eventually(() => frameOf(app).includes('3,990/4,000 bytes')), frameOf(app))
  await settle()
  app.stdin.write('\r')
  await deliverToBob('0123456789 abcdefgh')
  t.equal(await bobGets, paste, 'Bob gets every character')
})

t.test(
  'a paste over 4,000 bytes shows its size, is not sent, and stays in the input',
  async (t) => {
    const app = await bobScreen(t)
    // 5,000 characters in the chunks a terminal gives (4,095 + 905): once stored as 905.
    const paste = `${'over-long '.repeat(499)}last-words`
    app.stdin.write(paste.slice(0, 4_095))
    app.stdin.write(paste.slice(4_095))
    t.ok(
      await eventually(() => frameOf(app).includes('5,000/4,000 bytes: too long')),
      `the counter shows: ${frameOf(app)}`,
    )
    t.match(frameOf(app), /last-words/, 'the end of the paste is in the input')
    await settle()
    app.stdin.write('\r')
    t.ok(
      await eventually(() => /not sent: 5,000 bytes, a message holds 4,000/.test(frameOf(app))),
      `Enter says why it is not sent: ${frameOf(app)}`,
    )
    t.match(frameOf(app), '5,000/4,000 bytes', 'the draft is kept')
    t.same(await aliceWrote('over-long'), [], 'nothing was sent, nothing was cut')
    app.stdin.write('\u0015')
    t.ok(await eventually(() => !frameOf(app).includes('bytes')), 'Ctrl+U clears the line')
    const lines = frameOf(app).split('\n')
    t.equal(lines.length, ROWS, 'the screen kept its 24 rows')
  },
)

t.test(
  'multi-line messages: Alt+Enter and pasted lines; both screens keep their layout',
  async (t) => {
    const app = await bobScreen(t)
    const bobGets = bobReceives()
    app.stdin.write('first line')
    t.ok(await eventually(() => frameOf(app).includes('› first line')))
    await settle()
    app.stdin.write(`${ESC}\r`) // Alt+Enter
    app.stdin.write('second line')
    // A bracketed paste (the screen turns the mode on) and a plain one, both with \r lines.
    app.stdin.write(`${ESC}[200~`)
    app.stdin.write('pasted one\rpasted two')
    app.stdin.write(`${ESC}[201~`)
    app.stdin.write('\rplain three')
    t.ok(await eventually(() => frameOf(app).includes('plain three')), frameOf(app))
    t.match(frameOf(app), /› first line *│\n│[^\n]*│ {2}second line/, 'the input shows its lines')
    await settle()
    app.stdin.write('\r')
    const sent = 'first line\nsecond linepasted one\npasted two\nplain three'
    await deliverToBob('plain three')
    t.equal(await bobGets, sent, 'Bob gets the lines, with \\n, no \\r')
    t.ok(await eventually(() => frameOf(app).includes('me: first line')), frameOf(app))
    const frame = frameOf(app)
    t.match(frame, /me: first line *│\n│[^\n]*│ {6}second linepasted one/, 'rendered as lines')
    t.notMatch(frame, /\r/, 'no carriage return reaches the terminal')
    const lines = frame.split('\n')
    t.equal(lines.length, ROWS, '24 rows')
    t.match(lines[0], /^┌/, 'the top border stays')
    t.ok(
      lines.every((line) => stringWidth(line) <= COLUMNS),
      'none wider than 80',
    )
    // Bob's own screen shows the message he received the same way.
    const bobApp = render(
      createElement(App, {
        client: bob,
        theme: plain,
        size: { columns: COLUMNS, rows: ROWS },
        initialContactId: alice.textId,
      }),
    )
    t.teardown(() => bobApp.unmount())
    t.ok(await eventually(() => frameOf(bobApp).includes('plain three')), frameOf(bobApp))
    const bobLines = frameOf(bobApp).split('\n')
    t.match(frameOf(bobApp), /Alice: first line *│\n│[^\n]*│ {6}second linepasted one/)
    t.equal(bobLines.length, ROWS, 'Bob’s screen: 24 rows')
    t.match(bobLines[0], /^┌/, 'Bob’s screen: the top border stays')
  },
)

t.test('one meaning per symbol: no delivery mark is also a contact mark', async (t) => {
  for (const theme of [colored, themeFor({ TERM: 'dumb' })]) {
    const marks = Object.values(theme.marks)
    const contactMarks = [theme.online, theme.offline, theme.flagged, '#']
    t.equal(new Set(marks).size, marks.length, 'delivery marks differ from each other')
    for (const mark of marks)
      t.notOk(contactMarks.includes(mark), `${mark} is only a delivery mark`)
  }
})

t.test('80x24: the status bar keeps "Esc quit", with and without a notice', async (t) => {
  const app = await bobScreen(t)
  const bottom = () => frameOf(app).split('\n').at(-1) ?? ''
  t.match(bottom(), /LAN \d.*Esc quit · \? help$/, bottom())
  await settle()
  app.stdin.write('/gif')
  t.ok(await eventually(() => frameOf(app).includes('› /gif')))
  await settle()
  app.stdin.write('\r')
  t.ok(await eventually(() => bottom().includes('/gif needs a file')), bottom())
  t.match(bottom(), /Esc quit · \? help$/, 'the quit hint stays beside a notice')
  t.ok(stringWidth(bottom()) <= COLUMNS)
})

t.test('/help and ? show the help; commands are never sent as text', async (t) => {
  const app = await bobScreen(t)
  app.stdin.write('/help')
  t.ok(await eventually(() => frameOf(app).includes('› /help')))
  await settle()
  app.stdin.write('\r')
  t.ok(await eventually(() => frameOf(app).includes('Alt+Enter')), frameOf(app))
  const frame = frameOf(app)
  t.match(frame, /↓ stored in their mailbox/, 'the delivery marks are explained')
  t.match(frame, /● online/, 'and the contact marks')
  t.match(frame, /\/add <uri>/, 'and the commands')
  t.match(frame, /Esc or any key closes this help/, 'all of it fits in 80x24')
  await settle()
  app.stdin.write(ESC)
  t.ok(await eventually(() => !frameOf(app).includes('Alt+Enter  new')), 'Esc closes the help')
  await settle()
  app.stdin.write('?')
  t.ok(await eventually(() => frameOf(app).includes('Alt+Enter')), '? on an empty line')
  await settle()
  app.stdin.write('x')
  t.ok(await eventually(() => !frameOf(app).includes('Alt+Enter  new')), 'any key closes it')
  t.notMatch(frameOf(app), '› x', 'the key that closed it is not typed')
  for (const [command, answer] of [
    ['/decline', /\/decline is for a contact request; \/block blocks a contact/],
    ['/gif', /\/gif needs a file: \/gif ~\/cat\.gif/],
    ['/nonsense', /\/nonsense is not a command: \/help lists them/],
  ] as const) {
    await settle()
    app.stdin.write(command)
    t.ok(await eventually(() => frameOf(app).includes(`› ${command}`)))
    await settle()
    app.stdin.write('\r')
    t.ok(await eventually(() => answer.test(frameOf(app))), `${command}: ${frameOf(app)}`)
    if (command === '/gif') {
      // Refused for want of a file: it stays in the input to fix; cleared here.
      t.match(frameOf(app), '› /gif')
      await settle()
      app.stdin.write('\u0015')
      t.ok(await eventually(() => !frameOf(app).includes('› /gif')))
    }
  }
  t.match(frameOf(app), '› /nonsense', 'an unknown command stays in the input to fix')
  app.stdin.write('\u0015')
  for (const command of ['/help', '/decline', '/gif', '/nonsense']) {
    t.same(await aliceWrote(command), [], `${command} was not sent`)
  }
})

t.test('/name renames the open contact', async (t) => {
  const app = await bobScreen(t)
  t.teardown(() => alice.contacts.rename(bob.textId, 'Bob'))
  app.stdin.write('/name Robert the Builder')
  t.ok(await eventually(() => frameOf(app).includes('› /name Robert')))
  await settle()
  app.stdin.write('\r')
  t.ok(await eventually(() => frameOf(app).includes('Robert the Builder · p1')), frameOf(app))
  t.equal((await alice.contacts.get(bob.textId))?.name, 'Robert the Builder')
})

t.test('Esc with a draft asks first', async (t) => {
  let exited = 0
  const app = screen(t, alice, plain, { initialContactId: bob.textId, onExit: () => exited++ })
  t.ok(await eventually(() => /Bob · p1/.test(frameOf(app))))
  await settle()
  app.stdin.write('half a thought')
  t.ok(await eventually(() => frameOf(app).includes('› half a thought')))
  await settle()
  app.stdin.write(ESC)
  t.ok(await eventually(() => frameOf(app).includes('Esc again: quit')), frameOf(app))
  t.equal(exited, 0, 'not yet')
  await settle()
  app.stdin.write(ESC)
  t.ok(await eventually(() => exited === 1), 'a second Esc quits')
})

t.test('Esc with a draft, then another key: the draft stays', async (t) => {
  let exited = 0
  const app = screen(t, alice, plain, { initialContactId: bob.textId, onExit: () => exited++ })
  t.ok(await eventually(() => /Bob · p1/.test(frameOf(app))))
  await settle()
  app.stdin.write('keep me')
  t.ok(await eventually(() => frameOf(app).includes('› keep me')))
  await settle()
  app.stdin.write(ESC)
  t.ok(await eventually(() => frameOf(app).includes('Esc again: quit')))
  await settle()
  app.stdin.write('!')
  t.ok(await eventually(() => frameOf(app).includes('› keep me!')), frameOf(app))
  t.notMatch(frameOf(app), 'Esc again', 'the question is gone')
  t.equal(exited, 0)
})

t.test('a bell rings for an incoming message', async (t) => {
  let rings = 0
  const app = screen(t, alice, plain, { initialContactId: bob.textId, bell: () => rings++ })
  t.ok(await eventually(() => /Bob · p1/.test(frameOf(app))))
  t.equal(rings, 0)
  await bobSays('ding?')
  t.ok(await eventually(() => rings === 1), `${rings} rings`)
})

t.test('a message sent by another process on this home shows without switching', async (t) => {
  const app = screen(t, alice, plain, { initialContactId: bob.textId, refreshMs: 200 })
  t.ok(await eventually(() => /Bob · p1/.test(frameOf(app))))
  // A second client on Alice's home, as `passage send` would be: no network, it only queues.
  const other = await startClient(t, undefined, aliceHome, { network: false })
  await other.send(bob.textId, 'from the other process', { wait: false })
  t.ok(await eventually(() => frameOf(app).includes('me: from the other process')), frameOf(app))
})

t.test('/add adds a contact from its URI, even with no contact yet', async (t) => {
  const erin = await startClient(t, net, tmpHome(t, 'erin'), { name: 'Erin' })
  const app = screen(t, erin)
  t.ok(await eventually(() => frameOf(app).includes('No contacts yet: /add')), frameOf(app))
  await settle()
  app.stdin.write('hello?')
  t.ok(await eventually(() => frameOf(app).includes('› hello?')))
  await settle()
  app.stdin.write('\r')
  t.ok(await eventually(() => frameOf(app).includes('no contact to write to: /add')), frameOf(app))
  app.stdin.write('\u0015')
  await settle()
  app.stdin.write(`/add ${bob.contactUri}`)
  t.ok(await eventually(() => frameOf(app).includes('› /add')), frameOf(app))
  await settle()
  app.stdin.write('\r')
  t.ok(await eventually(() => /Contacts \(1\)/.test(frameOf(app))), frameOf(app))
  t.ok(await eventually(() => /Bob · p1/.test(frameOf(app))), 'Bob is added and opened')
  t.equal((await erin.contacts.list()).length, 1, 'Bob is a contact')
})
