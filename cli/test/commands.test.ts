// passage contacts add/list, send, inbox and peers, run in-process (runCli) with tmp homes
// against one real super-node on 127.0.0.1 (PGlite storage) and real clients. LAN multicast
// is off (PASSAGE_LAN=off): everything stays on loopback.
import { parseContactUri } from '@passage/sdk'
import { createNodeClient } from '@passage/sdk/node'
import t from 'tap'
import { tmpHome } from '@passage/sdk/testing'
import { startSuperNode } from './helpers/super-node.js'
import { newHome, passage } from './helpers/passage.js'

const node = await startSuperNode()
t.teardown(() => node.stop())

/** Runs `passage …args` in-process; returns the exit code and the output. */

const alice = await newHome(t, 'Alice')
const bob = await newHome(t, 'Bob')

t.test('contacts add from a passage: URI needs no network; list shows it', async (t) => {
  const added = await passage(['contacts', 'add', bob.uri, '--home', alice.home])
  t.equal(added.code, 0, added.err)
  t.equal(added.out, `Added Bob ${bob.id}\n`, 'the name comes from the URI')

  const renamed = await passage([
    'contacts',
    'add',
    bob.uri,
    '--name',
    'Bobby',
    '--home',
    alice.home,
  ])
  t.equal(renamed.code, 0, renamed.err)
  t.match(renamed.out, `Added Bobby ${bob.id}`, 'adding again renames')

  const list = await passage(['contacts', 'list', '--home', alice.home])
  t.equal(list.code, 0, list.err)
  t.match(list.out, /NAME +ID +UNREAD +SEEN/)
  t.match(list.out, new RegExp(`Bobby +${bob.id} +0 +never`))

  const json = await passage(['contacts', 'list', '--json'], { PASSAGE_HOME: alice.home })
  t.equal(json.code, 0, json.err)
  const contacts = JSON.parse(json.out) as Array<Record<string, unknown>>
  t.equal(contacts.length, 1)
  t.match(contacts[0], { id: bob.id, name: 'Bobby', online: false, unread: 0, flagged: null })
  t.equal(
    contacts[0]!.publicKey,
    Buffer.from(parseContactUri(bob.uri).publicKey).toString('base64url'),
  )
})

t.test('contacts add with a typo in the ID is refused with a clear message', async (t) => {
  // Change one character of a valid ID (bech32m: the checksum catches it).
  const last = bob.id.at(-1) === 'q' ? 'p' : 'q'
  const typo = `${bob.id.slice(0, -1)}${last}`
  const bad = await passage(['contacts', 'add', typo, '--home', alice.home])
  t.equal(bad.code, 1)
  t.match(bad.err, /has a typo: its checksum does not match/)
  t.notMatch(bad.err, /\n\s+at /, 'no stack trace')
  t.equal(bad.out, '')
  const uri = bob.uri.replace(bob.id, typo)
  const badUri = await passage(['contacts', 'add', uri, '--home', alice.home])
  t.equal(badUri.code, 1)
  t.match(badUri.err, /typo/)
  const garbage = await passage(['contacts', 'add', 'hello', '--home', alice.home])
  t.equal(garbage.code, 1)
  t.match(garbage.err, /not a Passage ID/)
})

t.test('contacts add with a bare text ID looks the key up through the super-node', async (t) => {
  // Carol runs a client that joined the super-node's DHT and published her pre-key bundle.
  const carol = await createNodeClient({
    home: tmpHome(t, 'Carol'),
    createIdentity: true,
    name: 'Carol',
    servers: [node.url],
    lan: false,
    background: false,
  })
  t.teardown(() => carol.close())
  const added = await passage([
    'contacts',
    'add',
    carol.textId,
    '--name',
    'Carol',
    '--server',
    node.url,
    '--home',
    alice.home,
    '--json',
  ])
  t.equal(added.code, 0, added.err)
  const json = JSON.parse(added.out) as { id: string; name: string; publicKey: string }
  t.equal(json.id, carol.textId)
  t.equal(json.name, 'Carol')
  t.equal(json.publicKey, Buffer.from(carol.identity.publicKey).toString('base64url'))

  const peers = await passage(['peers', '--json', '--lan-wait', '0', '--home', alice.home])
  t.equal(peers.code, 0, peers.err)
  const listed = JSON.parse(peers.out) as {
    lan: unknown[]
    superNodes: Array<{ server: string; peers: Array<{ id: string }>; error?: string }>
  }
  t.same(listed.lan, [], 'LAN off: nobody')
  t.equal(listed.superNodes.length, 1, 'the super-node remembered from --server')
  t.equal(listed.superNodes[0]!.error, undefined)
  t.ok(
    listed.superNodes[0]!.peers.some((p) => p.id === carol.textId),
    'Carol is among its live peers',
  )
  const text = await passage(['peers', '--lan-wait', '0', '--home', alice.home])
  t.match(text.out, /^LAN \(0\)\n {2}none heard\n/)
  t.match(text.out, carol.textId)
})

t.test('send to an unknown contact: exit 1 and a message that says what to do', async (t) => {
  const sent = await passage(['send', 'nobody', 'hello', '--home', alice.home])
  t.equal(sent.code, 1)
  t.match(sent.err, /no contact matches "nobody"/)
  t.match(sent.err, /passage contacts add/)
  t.notMatch(sent.err, /\n\s+at /, 'no stack trace')
  t.equal(sent.out, '')
})

t.test('send to an offline contact goes to its mailbox; inbox fetches it', async (t) => {
  // Bob comes online once (publishes his pre-key bundle), with nothing waiting.
  const first = await passage(['inbox', '--server', node.url, '--home', bob.home])
  t.equal(first.code, 0, first.err)
  t.equal(first.out, 'No new messages.\n')
  await passage(['contacts', 'add', alice.uri, '--home', bob.home])

  // Alice's home remembers the super-node from an earlier --server: no flag needed.
  const sent = await passage(['send', 'bob', 'hello', 'there', '--home', alice.home])
  t.equal(sent.code, 0, sent.err)
  t.equal(sent.out, "↓ to Bobby: stored in the contact's DHT mailbox\n", 'the state reached')

  const byPrefix = await passage([
    'send',
    bob.id.slice(0, 12),
    'second',
    '--home',
    alice.home,
    '--json',
  ])
  t.equal(byPrefix.code, 0, byPrefix.err)
  t.match(JSON.parse(byPrefix.out), {
    contact: bob.id,
    direction: 'out',
    text: 'second',
    state: 'stored',
  })

  const inbox = await passage(['inbox', '--json', '--home', bob.home])
  t.equal(inbox.code, 0, inbox.err)
  const messages = JSON.parse(inbox.out) as Array<Record<string, unknown>>
  t.same(
    messages.map((m) => [m.text, m.contact, m.contactName, m.direction]),
    [
      ['hello there', alice.id, 'Alice', 'in'],
      ['second', alice.id, 'Alice', 'in'],
    ],
  )
  const again = await passage(['inbox', '--home', bob.home])
  t.equal(again.out, 'No new messages.\n', 'shown once')
})

t.test('send when nothing can take the message: exit 3, it stays in the outbox', async (t) => {
  const lonely = await newHome(t, 'Lonely')
  await passage(['contacts', 'add', bob.uri, '--home', lonely.home])
  // No super-node configured or remembered: no DHT, no address for Bob.
  const sent = await passage(['send', 'Bob', 'anyone?', '--home', lonely.home, '--timeout', '5000'])
  t.equal(sent.code, 3, sent.err)
  t.match(sent.err, /nothing could take the message to Bob/)
  t.match(sent.err, /waits in the outbox/)
  t.notMatch(sent.err, /\n\s+at /)
  const client = await createNodeClient({ home: lonely.home, network: false })
  t.equal(client.status().outbox, 1, 'the message waits in the outbox')
  t.match(await client.history(bob.id), [{ text: 'anyone?', state: 'pending' }])
  await client.close()
})

t.test('send of a text over 4,000 bytes is refused whole, with its size', async (t) => {
  const long = 'x'.repeat(5_000)
  const sent = await passage(['send', 'Bob', long, '--home', alice.home, '--timeout', '5000'])
  t.not(sent.code, 0, 'a failure exit code')
  t.match(sent.err, /5,000 UTF-8 bytes; a message holds at most 4,000: shorten it/)
  t.notMatch(sent.err, /\n\s+at /, 'no stack trace')
  const client = await createNodeClient({ home: alice.home, network: false })
  t.teardown(() => client.close())
  t.notOk(
    (await client.history(bob.id)).some((m) => m.text.startsWith('xxxx')),
    'nothing of it was stored or sent',
  )
})

t.test('commands need an identity: exit 1 and how to make one', async (t) => {
  const empty = tmpHome(t, 'empty')
  for (const args of [['contacts', 'list'], ['send', 'x', 'y'], ['inbox'], ['peers']]) {
    const run = await passage([...args, '--home', empty])
    t.equal(run.code, 1, args.join(' '))
    t.match(run.err, /passage init/)
  }
})

t.test('chat without a terminal says to use send and inbox', async (t) => {
  const run = await passage(['chat', '--home', alice.home])
  t.equal(run.code, 1)
  t.match(
    run.err,
    /passage chat needs a terminal; in scripts use `passage send` and `passage inbox`/,
  )
})
