// End to end in a real terminal: Bob's real `passage send --gif` (another process) sends a GIF
// to Alice, whose real `passage chat` runs in tmux (80x24, TERM=xterm-256color: the 256
// colour palette); the GIF shows in her conversation as half blocks, fetched from the DHT and
// decoded in the chat's worker thread. Alice then sends one back with `/gif PATH` and Bob's
// inbox gets it. One real super-node as a third process; everything on 127.0.0.1; all
// processes and the private tmux server are stopped at teardown.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { tmpHome } from '@passage/sdk/testing'
import { animation } from '../helpers/gifs.js'
import { inProcess, passage, startSuperNodeProcess, Terminals } from '../helpers/terminal.js'

// Three programs load TypeScript from source, and the super-node starts an embedded Postgres.
t.setTimeout(480_000)

t.test('passage send --gif shows the GIF in passage chat in tmux; /gif answers', async (t) => {
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
  await inProcess(['inbox', '--server', url, '--home', bobHome])

  const dir = t.testdir({})
  const toAlice = join(dir, 'cat.gif')
  writeFileSync(toAlice, animation(32, 5, 10))
  const toBob = join(dir, 'dog.gif')
  writeFileSync(toBob, animation(20, 3, 20))

  terminals.open('chat', ['chat', 'Bob', '--home', aliceHome, '--server', url])
  await terminals.shows('chat', /Bob · p1\w+…\w+ · (online|offline)/)

  const sent = await passage([
    'send',
    'Alice',
    '--gif',
    toAlice,
    '--caption',
    'look 🐈',
    '--home',
    bobHome,
    '--server',
    url,
  ])
  t.equal(sent.code, 0, sent.stderr)
  t.match(sent.stdout, /\[GIF 32×32 · 5 frames · 0\.5 s · \d+ B\] to Alice/)

  // The label and caption, then the picture: at most 8 rows (16 pixels tall, 2 a row), so
  // 16 columns of half blocks for a square GIF.
  const screen = await terminals.shows('chat', /( {6}▀{16} [^\n]*\n[^\n]*){7} {6}▀{16} /)
  t.match(screen, /Bob: \[GIF 32×32 · 5 frames · 0\.5 s · \d+ B\] look/)
  t.ok(
    screen.split('\n').every((line) => [...line].length <= 80),
    'no line wider than the terminal',
  )

  terminals.type('chat', `/gif ${toBob}`)
  await terminals.shows('chat', /dog\.gif/)
  terminals.tmux('send-keys', '-t', 'chat', 'Enter')
  await terminals.shows('chat', /me: \[GIF 20×20 · 3 frames · 0\.6 s · \d+ B\]/)
  const inbox = JSON.parse(await inProcess(['inbox', '--json', '--home', bobHome])) as Array<{
    attachment?: { fileName: string; width: number }
  }>
  t.match(inbox, [{ attachment: { fileName: 'dog.gif', width: 20 } }], 'Bob got the GIF')

  terminals.tmux('send-keys', '-t', 'chat', 'Escape')
  t.ok(await terminals.exited('chat'), 'Esc ends passage chat')
})
