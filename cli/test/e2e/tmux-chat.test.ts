// End to end in a real terminal: the real `passage` program (from source, through tap's
// TypeScript loader) runs `passage chat` for Alice inside tmux (80x24); Bob's `passage send`
// runs as another process; both reach each other through one real super-node started by
// ./super-node.ts as a third process. The screen is read with `tmux capture-pane`, polled
// with a deadline. Alice then answers from the screen (send-keys) and Bob's inbox gets it.
// Everything runs on 127.0.0.1 (PASSAGE_LAN=off: no multicast); all processes and the
// private tmux server (its own -L socket) are stopped at teardown.
import stringWidth from 'string-width'
import t from 'tap'
import { tmpHome, until } from '@passage/sdk/testing'
import { inProcess, passage, startSuperNodeProcess, Terminals } from '../helpers/terminal.js'

// Three programs load TypeScript from source (about 10-20 s each on a loaded machine), and
// the super-node starts an embedded Postgres: more than the suite's default 120 s may pass.
t.setTimeout(480_000)

t.test('passage chat in tmux shows a message sent by passage send, and answers', async (t) => {
  const { url } = await startSuperNodeProcess(t)
  const terminals = new Terminals(t)
  const aliceHome = tmpHome(t, 'alice')
  const bobHome = tmpHome(t, 'bob')
  const alice = JSON.parse(
    await inProcess(['init', '--home', aliceHome, '--name', 'Alice', '--json']),
  ) as { id: string; uri: string }
  const bob = JSON.parse(
    await inProcess(['init', '--home', bobHome, '--name', 'Bob', '--json']),
  ) as { id: string; uri: string }
  await inProcess(['contacts', 'add', bob.uri, '--home', aliceHome])
  await inProcess(['contacts', 'add', alice.uri, '--home', bobHome])
  // Bob comes online once: joins the DHT and publishes his pre-key bundle.
  await inProcess(['inbox', '--server', url, '--home', bobHome])

  // Alice's chat screen, in a terminal of 80x24.
  terminals.open('chat', ['chat', 'Bob', '--home', aliceHome, '--server', url])
  let screen = await terminals.shows('chat', /Bob · p1\w+…\w+ · (online|offline)/)
  t.match(screen, /Contacts \(1\)/, 'the chat screen is up, on Bob')
  t.match(screen, /super-node ok/, 'and reaches the super-node')

  // Bob writes from another terminal (another process).
  const sent = await passage([
    'send',
    'Alice',
    'hello from the other terminal',
    '--home',
    bobHome,
    '--server',
    url,
  ])
  t.equal(sent.code, 0, sent.stderr)
  t.match(
    sent.stdout,
    // The screen's marks: ✓ sent, ↓ stored, ✓✓ delivered.
    /(✓ to Alice: sent over a direct link|↓ to Alice: stored in the contact's DHT mailbox|✓✓ to Alice: delivered to the contact)/,
  )
  screen = await terminals.shows('chat', /\d\d:\d\d Bob: hello from the other terminal/)
  t.pass('the message shows on Alice’s screen')
  const lines = screen.split('\n')
  t.ok(
    lines.every((line) => [...line].length <= 80),
    'no line wider than the terminal',
  )

  // Alice answers from the keyboard; Bob's inbox gets it.
  terminals.type('chat', 'hi Bob, got it')
  await terminals.shows('chat', /› hi Bob, got it/)
  terminals.tmux('send-keys', '-t', 'chat', 'Enter')
  screen = await terminals.shows('chat', /me: hi Bob, got it (✓|↓|✓✓)/)
  t.pass('the answer shows with its delivery mark')
  const inbox = JSON.parse(await inProcess(['inbox', '--json', '--home', bobHome])) as Array<{
    text: string
    contactName: string
  }>
  t.match(inbox, [{ text: 'hi Bob, got it', contactName: 'Alice' }], 'Bob received the answer')

  // A multi-line paste (tmux pastes it bracketed, as the screen asks) and Alt+Enter: the
  // lines stay lines, nothing is sent before Enter, and the frame keeps its top border.
  terminals.tmux('set-buffer', '-b', 'lines', 'pasted one\npasted two')
  terminals.tmux('paste-buffer', '-p', '-b', 'lines', '-t', 'chat')
  terminals.tmux('send-keys', '-t', 'chat', 'M-Enter')
  terminals.type('chat', '漢字と絵文字 👍 café')
  screen = await terminals.shows('chat', /^│.*│ {2}漢字と絵文字/m)
  t.match(screen, /› pasted one *│\n│.*│ {2}pasted two *│/, 'the input shows the pasted lines')
  terminals.tmux('send-keys', '-t', 'chat', 'Enter')
  screen = await terminals.shows('chat', /me: pasted one *│\n│.*│ {6}pasted two/)
  t.match(screen.split('\n')[0], /^┌/, 'the top border stays')
  t.ok(
    screen.split('\n').every((line) => stringWidth(line) <= 80),
    'no line wider than the terminal',
  )
  // The screen shows the text once it is in Alice's outbox; Bob's mailbox may take it a
  // moment later on a loaded machine: his inbox is asked until it comes (each run shows only
  // what is new, so the answers are gathered).
  const pasted: Array<{ text: string }> = []
  await until(
    async () => {
      const got = JSON.parse(await inProcess(['inbox', '--json', '--home', bobHome])) as Array<{
        text: string
      }>
      pasted.push(...got)
      return pasted.length > 0
    },
    'the pasted message in Bob’s inbox',
    { ms: 60_000, everyMs: 500 },
  )
  t.match(pasted, [{ text: 'pasted one\npasted two\n漢字と絵文字 👍 café' }], 'sent with \\n')

  // Esc with a draft asks first; a second Esc quits: the program exits.
  terminals.type('chat', 'unsent draft')
  await terminals.shows('chat', /› unsent draft/)
  terminals.tmux('send-keys', '-t', 'chat', 'Escape')
  await terminals.shows('chat', /Esc again: quit/)
  t.ok(terminals.isOpen('chat') && !(await terminals.exited('chat', 500)), 'still running')
  terminals.tmux('send-keys', '-t', 'chat', 'Escape')
  t.ok(await terminals.exited('chat'), 'the second Esc ends passage chat')
})
