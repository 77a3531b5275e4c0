// Contact requests in the chat screen (cli/src/ui/App.tsx) rendered by ink-testing-library
// against real clients on an in-process DHT testnet (127.0.0.1): strangers are listed apart
// under the names they claim, and are accepted (Ctrl+Y, /accept), named (/name) and blocked
// (/block) in the screen.
import type { PassageClient } from '@passage/sdk'
import stringWidth from 'string-width'
import t from 'tap'
import { themeFor } from '../../src/ui/theme.js'
import { eventually, startClient, testnet, tmpHome } from '@passage/sdk/testing'

t.setTimeout(300_000)
const { render } = await import('ink-testing-library')
const { App } = await import('../../src/ui/App.js')
const { createElement } = await import('react')

const COLUMNS = 80
const ROWS = 24
const plain = themeFor({ NO_COLOR: '1' })

const net = await testnet(t, 4)
const alice = await startClient(t, net, tmpHome(t, 'alice'), { name: 'Alice' })
const bob = await startClient(t, net, tmpHome(t, 'bob'), { name: 'Bob' })
await alice.contacts.add(bob.contactUri, { name: 'Bob' })

/** A stranger named `name` writes `text` to Alice; resolves once her client stored it. */
async function strangerSays(name: string, text: string): Promise<PassageClient> {
  const stranger = await startClient(t, net, tmpHome(t, 'stranger'), { name })
  await stranger.contacts.add(alice.contactUri)
  await stranger.send(alice.textId, text)
  await alice.fetchInbox()
  return stranger
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 30))
const frameOf = (app: { lastFrame(): string | undefined }) => app.lastFrame() ?? ''

function screen(t: { teardown(fn: () => unknown): void }, initialContactId: string) {
  const app = render(
    createElement(App, {
      client: alice,
      theme: plain,
      size: { columns: COLUMNS, rows: ROWS },
      initialContactId,
      refreshMs: 200,
    }),
  )
  t.teardown(() => app.unmount())
  return app
}

/** Types a command, then Enter (each once the screen showed the one before). */
async function command(app: ReturnType<typeof screen>, text: string) {
  await settle()
  app.stdin.write(text)
  await eventually(() => frameOf(app).includes(`› ${text}`))
  await settle()
  app.stdin.write('\r')
}

t.test(
  'a stranger claiming a contact’s name is a request, shown as a claim; Ctrl+Y accepts',
  async (t) => {
    const mallory = await strangerSays('Bob', 'hi, it is Bob (really)')
    const app = screen(t, mallory.textId)
    t.ok(await eventually(() => frameOf(app).includes('Requests (1)')), frameOf(app))
    const frame = frameOf(app)
    t.match(frame, />\? ~Bob\? +1│/, 'listed apart, selected, marked ? and as a claim')
    t.match(frame, /Contacts \(1\)/)
    t.match(frame, /~Bob\? · p1\w{6}…\w{4} · contact request/, 'the header says so')
    t.match(frame, /~Bob\?: hi, it is Bob \(really\)/, 'its messages under the claim')
    t.match(frame, /not a contact: Ctrl\+Y or \/accept \[name\]/, 'and what to do')
    t.notMatch(frame, /\d\d:\d\d Bob: hi, it is Bob/, 'never under the contact’s name')
    for (const line of frame.split('\n')) t.ok(stringWidth(line) <= COLUMNS, line)

    await settle()
    app.stdin.write('\u0019') // Ctrl+Y
    t.ok(await eventually(async () => (await alice.requests.list()).length === 0), 'accepted')
    t.ok(
      await eventually(() => frameOf(app).includes('it claims a contact')),
      'unnamed: its claim is a contact’s name',
    )
    t.equal((await alice.contacts.get(mallory.textId))?.name, undefined)
    t.ok(await eventually(() => !frameOf(app).includes('Requests (')), frameOf(app))
    await command(app, '/name Mallory 🦊')
    t.ok(await eventually(() => frameOf(app).includes('Mallory 🦊 · p1')), frameOf(app))
    t.equal((await alice.contacts.get(mallory.textId))?.name, 'Mallory 🦊')
    t.equal((await alice.contacts.get('Bob'))?.id, bob.textId, 'Bob is still Bob')
  },
)

t.test('/accept with a name, /block and /decline work on the open request', async (t) => {
  const wang = await strangerSays('王小明 🦊', '你好 👋')
  const long = await strangerSays('長'.repeat(30), 'a long name')
  const spam = await strangerSays('Spam 💸', 'buy now')
  const app = screen(t, wang.textId)
  t.ok(await eventually(() => frameOf(app).includes('Requests (3)')), frameOf(app))
  t.match(frameOf(app), />\? ~王小明 🦊\? +1│/, 'a CJK and emoji claim, its count in place')
  t.match(frameOf(app), / \? ~長+… +1│/, 'a long one cut to fit')
  for (const line of frameOf(app).split('\n')) t.ok(stringWidth(line) <= COLUMNS, line)

  await command(app, '/accept 小明')
  t.ok(await eventually(() => frameOf(app).includes('accepted 小明')), frameOf(app))
  t.equal((await alice.contacts.get(wang.textId))?.name, '小明')
  t.same(
    (await alice.history(wang.textId)).map((m) => m.text),
    ['你好 👋'],
  )

  app.unmount()
  const second = screen(t, spam.textId)
  t.ok(await eventually(() => frameOf(second).includes('Requests (2)')), frameOf(second))
  await command(second, '/block')
  t.ok(await eventually(() => frameOf(second).includes('blocked ~Spam 💸?')), frameOf(second))
  t.match(await alice.contacts.blocked(), [{ id: spam.textId, contact: false }])
  await spam.send(alice.textId, 'buy now!!')
  t.same(await alice.fetchInbox(), [], 'dropped')

  second.unmount()
  const third = screen(t, long.textId)
  t.ok(await eventually(() => frameOf(third).includes('Requests (1)')), frameOf(third))
  await command(third, '/decline')
  t.ok(await eventually(() => frameOf(third).includes('declined')), frameOf(third))
  t.same(await alice.requests.list(), [])
  t.same(await alice.history(long.textId), [], 'its messages are gone')
})
