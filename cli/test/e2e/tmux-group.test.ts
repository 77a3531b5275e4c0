// End to end with the real binaries in real terminals: three homes, one group, through one
// super-node started as a process. Alice makes the group and writes with `passage group send`;
// Bob and Carol each have `passage chat <group>` open in a tmux terminal: the group is marked
// `#`, each text carries its sender, and Bob answers from the keyboard. Loopback only; every
// process and the tmux server are stopped at teardown.
import t from 'tap'
import { tmpHome } from '@passage/sdk/testing'
import { inProcess, passage, startSuperNodeProcess, Terminals } from '../helpers/terminal.js'

t.setTimeout(480_000)

t.test('three homes, one group, texts both ways in the chat screens', async (t) => {
  const { url } = await startSuperNodeProcess(t)
  const terminals = new Terminals(t)
  const homes = { alice: tmpHome(t, 'alice'), bob: tmpHome(t, 'bob'), carol: tmpHome(t, 'carol') }
  const ids: Record<string, { id: string; uri: string }> = {}
  for (const [name, home] of Object.entries(homes)) {
    const title = name[0]!.toUpperCase() + name.slice(1)
    ids[name] = JSON.parse(await inProcess(['init', '--home', home, '--name', title, '--json']))
  }
  for (const name of ['bob', 'carol'] as const) {
    await inProcess(['inbox', '--home', homes[name], '--server', url])
    await inProcess(['contacts', 'add', ids[name]!.uri, '--home', homes.alice, '--server', url])
  }
  // Bob knows Alice by name (Carol does not: she sees Alice's ID).
  await inProcess(['contacts', 'add', ids.alice!.uri, '--home', homes.bob, '--server', url])
  const made = await passage([
    'group',
    'create',
    'Hikers 🥾',
    'Bob',
    'Carol',
    '--home',
    homes.alice,
    '--server',
    url,
  ])
  t.equal(made.code, 0, made.stderr)
  const group = /\((g1[a-z0-9]{32})\)/.exec(made.stdout)![1]!
  for (const name of ['bob', 'carol'] as const) {
    await inProcess(['inbox', '--home', homes[name], '--server', url])
  }

  for (const name of ['bob', 'carol'] as const) {
    terminals.open(name, ['chat', group, '--home', homes[name], '--server', url])
  }
  t.match(await terminals.shows('bob', /# Hikers 🥾 · 3 members/), /#/, "Bob's header")
  t.match(await terminals.shows('carol', /# Hikers 🥾 · 3 members/), /#/, "Carol's header")

  const sent = await passage([
    'group',
    'send',
    'Hikers',
    'hello hikers 🏔',
    '--home',
    homes.alice,
    '--server',
    url,
  ])
  t.equal(sent.code, 0, sent.stderr)
  t.match(
    await terminals.shows('bob', /\d\d:\d\d Alice: hello hikers 🏔/),
    /Alice/,
    'Bob sees who wrote',
  )
  t.match(
    await terminals.shows('carol', /\d\d:\d\d p1\w+…\w+: hello hikers 🏔/),
    /p1/,
    'Carol, who has no Alice contact, sees her ID',
  )

  terminals.type('bob', 'on my way')
  await terminals.shows('bob', /› on my way/)
  terminals.tmux('send-keys', '-t', 'bob', 'Enter')
  await terminals.shows('bob', /me: on my way (✓|↓|✓✓)/)
  await terminals.shows('carol', /\d\d:\d\d p1\w+…\w+: on my way/)
  const inbox = JSON.parse(
    (await passage(['inbox', '--json', '--home', homes.alice, '--server', url])).stdout,
  ) as Array<{ contact: string; text: string }>
  t.match(inbox, [{ contact: group, text: 'on my way' }], "Alice's inbox has Bob's answer")

  for (const name of ['bob', 'carol'] as const) {
    terminals.tmux('send-keys', '-t', name, 'Escape')
    t.ok(await terminals.exited(name), `Esc ends ${name}'s chat`)
  }
})
