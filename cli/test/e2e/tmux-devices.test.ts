// End to end with the real binaries in real terminals: `passage init --link` runs in one
// tmux terminal (the new device: QR code, URI, confirmation code, waiting), `passage devices
// link <uri>` in another (device 1: the same code, the question, "y"), through one super-node
// started as a process. Then Bob's message reaches both devices, and device 1's list shows
// the phone. Loopback only; every process and the tmux server are stopped at teardown.
import t from 'tap'
import { tmpHome } from '@passage/sdk/testing'
import { inProcess, passage, startSuperNodeProcess, Terminals } from '../helpers/terminal.js'

t.setTimeout(480_000)

t.test('the real binaries link two homes in tmux through a local super-node', async (t) => {
  const { url } = await startSuperNodeProcess(t)
  const terminals = new Terminals(t)
  const laptop = tmpHome(t, 'laptop')
  const phone = tmpHome(t, 'phone')
  const bobHome = tmpHome(t, 'bob')
  const alice = JSON.parse(
    await inProcess(['init', '--home', laptop, '--name', 'Alice', '--json']),
  ) as { id: string; uri: string; recoveryCode: string }
  t.match(alice.recoveryCode, /^pr1 /, 'init shows the recovery code')
  const bob = JSON.parse(
    await inProcess(['init', '--home', bobHome, '--name', 'Bob', '--json']),
  ) as {
    id: string
    uri: string
  }
  // Device 1 comes online once: its device list and bundle are in the DHT.
  await inProcess(['inbox', '--server', url, '--home', laptop])

  // The new device: a QR code, the URI and the code; it waits.
  terminals.open(
    'phone',
    ['init', '--link', '--name', 'phone 📱', '--home', phone, '--server', url],
    {
      columns: 100,
      rows: 60,
    },
  )
  const shown = await terminals.shows('phone', /Waiting for your first device/, { joined: true })
  const uri = /passage-link:\S+/.exec(shown)?.[0]
  const code = /Code\s+(\d{3} \d{3})/.exec(shown)?.[1]
  t.ok(uri, 'the new device shows its passage-link: URI')
  t.ok(code, `and a confirmation code (${code})`)
  t.match(shown, /[▀▄█]/, 'and a QR code')

  // Device 1, in another terminal: the same code, a question; the user checks and says yes.
  terminals.open('laptop', ['devices', 'link', uri!, '--home', laptop, '--server', url], {
    columns: 100,
    rows: 30,
  })
  const asked = await terminals.shows('laptop', /Link it to this account \[y\/N\]/)
  t.match(asked, new RegExp(`must show the code ${code!}`), 'device 1 shows the same code')
  terminals.type('laptop', 'y', true)
  t.match(await terminals.shows('laptop', /Linked device 2 \(phone 📱\)/), /code \d{3} \d{3}/)
  t.match(
    await terminals.shows(
      'phone',
      new RegExp(`Linked: this is device 2 \\(phone 📱\\) of ${alice.id}`),
    ),
    /Linked/,
    'the new device says it is linked',
  )
  t.ok(await terminals.exited('phone'), 'init --link exits once linked')
  t.ok(await terminals.exited('laptop'), 'devices link exits')

  // The homes agree: the real binaries read them.
  const list = await passage(['devices', 'list', '--json', '--home', laptop])
  t.equal(list.code, 0, list.stderr)
  t.match(JSON.parse(list.stdout), [
    { device: 1, state: 'active', current: true },
    { device: 2, state: 'active', name: 'phone 📱', current: false },
  ])
  const id = JSON.parse((await passage(['id', '--json', '--home', phone])).stdout) as {
    id: string
    device: number
  }
  t.same([id.id, id.device], [alice.id, 2], 'the phone is device 2 of the same account')

  // Bob writes once: both of Alice's devices have it.
  await inProcess(['contacts', 'add', alice.uri, '--home', bobHome])
  const sent = await passage([
    'send',
    'Alice',
    'hi both of you 👋',
    '--home',
    bobHome,
    '--server',
    url,
  ])
  t.equal(sent.code, 0, sent.stderr)
  for (const [name, home] of [
    ['laptop', laptop],
    ['phone', phone],
  ] as const) {
    const inbox = JSON.parse(
      await inProcess(['inbox', '--json', '--home', home, '--server', url]),
    ) as Array<{ text: string; contact: string }>
    t.match(inbox, [{ text: 'hi both of you 👋', contact: bob.id }], `the ${name} has it`)
  }
})
