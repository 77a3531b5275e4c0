// A super-node that does not answer (a closed port on 127.0.0.1): `passage inbox` says so and
// exits 3 instead of "No new messages."; `passage send` warns about it. In-process (runCli)
// against one real super-node for the live half; LAN off.
import { createServer } from 'node:net'
import t from 'tap'
import { startSuperNode } from './helpers/super-node.js'
import { newHome, passage } from './helpers/passage.js'

const node = await startSuperNode()
t.teardown(() => node.stop())

/** A URL on 127.0.0.1 where nothing listens: a port bound, then closed. */
async function deadUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}

t.test(
  'inbox with a super-node that does not answer: exit 3, says it could not reach it',
  async (t) => {
    const dead = await deadUrl()
    const me = await newHome(t, 'Dana')
    const run = await passage(['inbox', '--server', dead, '--home', me.home, '--timeout', '5000'])
    t.equal(run.code, 3, run.err)
    t.notMatch(run.out, /No new messages/)
    t.match(run.err, 'the mailbox was not fetched: could not reach the super-node')
    t.match(run.err, dead)
    t.match(run.err, /check the URL/)
    t.notMatch(run.err, /\n\s+at /, 'no stack trace')

    const json = await passage(['inbox', '--json', '--server', dead, '--home', me.home])
    t.equal(json.code, 3, 'the same with --json')
    t.same(JSON.parse(json.out), [])
  },
)

t.test('inbox with no super-node at all: exit 3, says how to give one', async (t) => {
  const me = await newHome(t, 'Eve')
  const run = await passage(['inbox', '--home', me.home])
  t.equal(run.code, 3, run.err)
  t.notMatch(run.out, /No new messages/)
  t.match(run.err, /no super-node is configured; pass --server URL/)
})

t.test('send with one dead super-node and one live: delivered, with a warning', async (t) => {
  const dead = await deadUrl()
  const alice = await newHome(t, 'Alice')
  const bob = await newHome(t, 'Bob')
  const online = await passage(['inbox', '--server', node.url, '--home', bob.home])
  t.equal(online.code, 0, online.err)
  await passage(['contacts', 'add', bob.uri, '--home', alice.home])
  const sent = await passage([
    'send',
    'Bob',
    'hi',
    '--server',
    node.url,
    '--server',
    dead,
    '--home',
    alice.home,
  ])
  t.equal(sent.code, 0, sent.err)
  t.match(sent.out, "to Bob: stored in the contact's DHT mailbox")
  t.match(sent.err, `warning: could not reach the super-node at ${dead}`)
  t.match(sent.err, `passage servers remove ${dead}`)
  const inbox = await passage(['inbox', '--server', dead, '--server', node.url, '--home', bob.home])
  t.equal(inbox.code, 0, 'one live super-node is enough')
  t.match(inbox.out, /: hi\n/)
  t.match(inbox.err, `warning: could not reach the super-node at ${dead}`)
})
