// passage outbox and passage history, and the outbox going out on the next online command:
// in-process (runCli) on tmp homes against one real super-node on 127.0.0.1; LAN off.
import t from 'tap'
import { startSuperNode } from './helpers/super-node.js'
import { newHome, passage } from './helpers/passage.js'

const node = await startSuperNode()
t.teardown(() => node.stop())

t.test('written offline: outbox lists it, one inbox run sends it, history shows it', async (t) => {
  const alice = await newHome(t, 'Alice')
  const bob = await newHome(t, 'Bob')
  t.equal((await passage(['inbox', '--server', node.url, '--home', bob.home])).code, 0)
  await passage(['contacts', 'add', bob.uri, '--home', alice.home])
  await passage(['contacts', 'add', alice.uri, '--home', bob.home])

  const empty = await passage(['outbox', '--home', alice.home])
  t.equal(empty.code, 0, empty.err)
  t.match(empty.out, /The outbox is empty/)

  // No super-node yet: nothing can take them.
  for (const text of ['one', 'two']) {
    const sent = await passage(['send', 'Bob', text, '--home', alice.home, '--timeout', '5000'])
    t.equal(sent.code, 3, sent.err)
  }
  const waiting = await passage(['outbox', '--home', alice.home])
  t.equal(waiting.code, 0, waiting.err)
  t.match(waiting.out, /to Bob: one\n.*to Bob: two\n2 waiting; they go out on the next command/s)
  const json = await passage(['outbox', '--json', '--home', alice.home])
  t.match(JSON.parse(json.out), [
    { contact: bob.id, contactName: 'Bob', text: 'one', state: 'pending', direction: 'out' },
    { contact: bob.id, text: 'two', state: 'pending' },
  ])

  // One online command is enough, though their retry delay has not passed.
  const online = await passage(['inbox', '--server', node.url, '--home', alice.home])
  t.equal(online.code, 0, online.err)
  t.match((await passage(['outbox', '--home', alice.home])).out, /The outbox is empty/)
  const got = await passage(['inbox', '--json', '--home', bob.home])
  t.same(
    (JSON.parse(got.out) as Array<{ text: string }>).map((m) => m.text),
    ['one', 'two'],
    'Bob gets both',
  )

  const history = await passage(['history', 'Bob', '--home', alice.home])
  t.equal(history.code, 0, history.err)
  t.match(history.out, /me: one {2}\((stored|delivered)\)\n.*me: two {2}\((stored|delivered)\)\n/s)
  const bobSide = await passage(['history', 'alice', '--json', '--home', bob.home])
  t.match(JSON.parse(bobSide.out), [
    { text: 'one', direction: 'in', contactName: 'Alice' },
    { text: 'two', direction: 'in' },
  ])
  const last = await passage(['history', 'Bob', '--limit', '1', '--json', '--home', alice.home])
  t.match(JSON.parse(last.out), [{ text: 'two' }], '--limit: the newest')
})

t.test('history refusals: unknown contact, bad --limit, nothing yet', async (t) => {
  const carol = await newHome(t, 'Carol')
  const dave = await newHome(t, 'Dave')
  const unknown = await passage(['history', 'nobody', '--home', carol.home])
  t.equal(unknown.code, 1)
  t.match(unknown.err, /no contact matches "nobody"/)
  const bad = await passage(['history', 'x', '--limit', 'lots', '--home', carol.home])
  t.equal(bad.code, 1)
  t.match(bad.err, /--limit is a number of messages, 1 to 1000, got lots/)
  await passage(['contacts', 'add', dave.uri, '--home', carol.home])
  const none = await passage(['history', 'Dave', '--home', carol.home])
  t.equal(none.out, 'No messages with Dave yet.\n')
})

t.test('send to a contact never online: their keys are not published yet; it waits', async (t) => {
  const erin = await newHome(t, 'Erin')
  const frank = await newHome(t, 'Frank') // never online: no keys in the DHT
  await passage(['contacts', 'add', frank.uri, '--home', erin.home])
  const sent = await passage(['send', 'Frank', 'early', '--server', node.url, '--home', erin.home])
  t.equal(sent.code, 3, sent.err)
  t.match(sent.err, /Frank's keys are not published yet \(Frank has not been online/)
  t.match(sent.err, /the message waits in the outbox/)
  t.notMatch(sent.err, /no DHT mailbox reachable/)
  t.equal(sent.out, '')

  t.equal((await passage(['inbox', '--server', node.url, '--home', frank.home])).code, 0)
  const later = await passage(['inbox', '--home', erin.home])
  t.equal(later.code, 0, later.err)
  const got = await passage(['inbox', '--json', '--home', frank.home])
  t.match(JSON.parse(got.out), [{ text: 'early' }], 'it went once Frank had been online')
})

t.test('send with no super-node at all: says so, and that it waits', async (t) => {
  const gina = await newHome(t, 'Gina')
  const hal = await newHome(t, 'Hal')
  await passage(['contacts', 'add', hal.uri, '--home', gina.home])
  const sent = await passage(['send', 'Hal', 'hi', '--home', gina.home, '--timeout', '5000'])
  t.equal(sent.code, 3, sent.err)
  t.match(sent.err, /nothing could take the message to Hal: no super-node is configured/)
  t.match(sent.err, /the message waits in the outbox/)
})
