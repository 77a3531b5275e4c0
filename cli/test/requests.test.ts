// passage requests (list, accept, decline), block, unblock and contacts remove, run in-process
// (runCli) with tmp homes against one real super-node on 127.0.0.1 and real clients.
import t from 'tap'
import { startSuperNode } from './helpers/super-node.js'
import { newHome, passage } from './helpers/passage.js'

const node = await startSuperNode()
t.teardown(() => node.stop())

const bob = await newHome(t, 'Bob')
const alice = await newHome(t, 'Alice')

/** `home` sends `text` to Bob (added from his URI) through the super-node. */
async function writeToBob(home: string, text: string) {
  await passage(['contacts', 'add', bob.uri, '--home', home])
  const sent = await passage(['send', 'Bob', text, '--home', home, '--server', node.url])
  if (sent.code !== 0) throw new Error(sent.err)
}

t.before(async () => {
  // Bob comes online once (his keys are published) and knows Alice.
  const first = await passage(['inbox', '--server', node.url, '--home', bob.home])
  if (first.code !== 0) throw new Error(first.err)
  await passage(['contacts', 'add', alice.uri, '--home', bob.home])
})

t.test(
  'a stranger lands in requests under its claimed name; accept makes it a contact',
  async (t) => {
    const wang = await newHome(t, '王小明 🦊')
    await writeToBob(wang.home, 'ni hao 你好 👋')

    const inbox = await passage(['inbox', '--home', bob.home])
    t.equal(inbox.code, 0, inbox.err)
    t.match(inbox.out, '~王小明 🦊? (request): ni hao 你好 👋', 'shown as a claim')
    t.match(inbox.out, 'passage requests (accept, decline, block)', 'and what to do')

    const list = await passage(['requests', '--home', bob.home])
    t.equal(list.code, 0, list.err)
    t.match(list.out, /CLAIMS TO BE +ID +UNREAD +LAST MESSAGE/)
    t.match(list.out, new RegExp(`~王小明 🦊\\? +${wang.id} +1 +ni hao 你好 👋`))
    const json = await passage(['requests', 'list', '--json', '--home', bob.home])
    t.match(JSON.parse(json.out), [
      { id: wang.id, claimedName: '王小明 🦊', unread: 1, lastMessage: 'ni hao 你好 👋' },
    ])
    const contacts = await passage(['contacts', 'list', '--home', bob.home])
    t.notMatch(contacts.out, wang.id, 'not a contact')

    const accepted = await passage(['requests', 'accept', wang.id.slice(0, 12), '--home', bob.home])
    t.equal(accepted.code, 0, accepted.err)
    t.equal(accepted.out, `Accepted 王小明 🦊 ${wang.id}\n`, 'under the name it claimed (free)')
    const history = await passage(['history', '王小明', '--home', bob.home])
    t.equal(history.code, 0, history.err)
    t.match(history.out, 'ni hao 你好 👋', 'its history came along')
    t.equal((await passage(['requests', '--home', bob.home])).out, 'No contact requests.\n')

    const removed = await passage(['contacts', 'remove', '王小明', '--home', bob.home])
    t.equal(removed.code, 0, removed.err)
    t.match(removed.out, `Removed 王小明 🦊 (${wang.id}); your history with it stays`)
    t.notMatch((await passage(['contacts', 'list', '--home', bob.home])).out, wang.id)
  },
)

t.test('a stranger claiming a contact’s name is accepted unnamed', async (t) => {
  const fake = await newHome(t, 'Alice')
  await writeToBob(fake.home, 'it is me, Alice (honest)')
  await passage(['inbox', '--home', bob.home])
  const accepted = await passage(['requests', 'accept', 'Alice', '--home', bob.home])
  t.equal(accepted.code, 0, accepted.err)
  t.match(accepted.out, `Accepted ${fake.id}\n`, 'no name')
  t.match(accepted.out, 'claims a name one of your contacts already has')
  t.match(accepted.out, `passage contacts add ${fake.id} --name <name>`)
  const history = await passage(['history', 'Alice', '--home', bob.home])
  t.notMatch(history.out, 'honest', '"Alice" is still the real Alice')
})

t.test(
  'block: dropped and counted; unblock; decline; a long emoji name is cut whole',
  async (t) => {
    const long = await newHome(t, `L${'🐇'.repeat(30)}`)
    await writeToBob(long.home, 'first')
    await passage(['inbox', '--home', bob.home])
    const json = await passage(['requests', '--json', '--home', bob.home])
    const [request] = JSON.parse(json.out) as Array<{ claimedName: string }>
    t.equal(request?.claimedName, `L${'🐇'.repeat(15)}`, 'cut to 64 bytes between emoji')

    const blocked = await passage(['block', long.id.slice(0, 10), '--home', bob.home])
    t.equal(blocked.code, 0, blocked.err)
    t.match(blocked.out, `Blocked ~L${'🐇'.repeat(15)}? (${long.id})`)
    t.match(blocked.out, `passage unblock ${long.id}`)
    t.equal((await passage(['requests', '--home', bob.home])).out, 'No contact requests.\n')

    const sent = await passage(['send', 'Bob', 'second', '--home', long.home])
    t.equal(sent.code, 0, sent.err)
    const inbox = await passage(['inbox', '--home', bob.home])
    t.equal(inbox.out, 'No new messages.\n', 'dropped')
    const list = await passage(['block', '--home', bob.home])
    t.equal(list.code, 0, list.err)
    // The text and the intro before it (the sender never heard from Bob).
    t.match(list.out, new RegExp(`${long.id} +2`), 'counted')
    t.match(JSON.parse((await passage(['block', '--json', '--home', bob.home])).out), [
      { id: long.id, contact: false, dropped: 2 },
    ])

    const unblocked = await passage(['unblock', long.id, '--home', bob.home])
    t.equal(unblocked.code, 0, unblocked.err)
    t.match(unblocked.out, 'its next message is a contact request')
    t.equal((await passage(['block', '--home', bob.home])).out, 'Nobody is blocked.\n')
    const declined = await passage(['requests', 'decline', long.id, '--home', bob.home])
    t.equal(declined.code, 0, declined.err)
    t.match(declined.out, 'its messages are deleted')
    t.equal((await passage(['requests', '--home', bob.home])).out, 'No contact requests.\n')
  },
)

t.test('mistakes: exit 1 and what to do next, no stack trace', async (t) => {
  for (const [args, says] of [
    [['requests', 'accept', 'nobody'], /no contact request matches "nobody"; `passage requests`/],
    [['requests', 'decline', 'nobody'], /no contact request matches "nobody"/],
    [['unblock', 'nobody'], /no blocked account matches "nobody"; `passage block` lists them/],
    [['contacts', 'remove', 'nobody'], /no contact matches "nobody"; see `passage contacts list`/],
    [['block', 'nobody'], /no contact or request matches "nobody"; see `passage contacts list`/],
    [['block', bob.id], /this client’s own ID/],
  ] as const) {
    const run = await passage([...args, '--home', bob.home])
    t.equal(run.code, 1, args.join(' '))
    t.match(run.err, says)
    t.notMatch(run.err, /\n\s+at /)
    t.equal(run.out, '')
  }
})
