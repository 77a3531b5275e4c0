// Clients of the SDK as it was before multi-device accounts (commit 23f218d, packed in
// sdk/test/fixtures/passage-sdk-before-devices.tgz) run for real, with plain `node`, in a child
// process driven by JSON lines. A home they made opens with this SDK as device 1 of its account,
// and this SDK talks with them both ways (docs/PROTOCOL.md "Devices": device 1 keeps version 1
// of every format towards an account that published no device list).
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import {
  UnsupportedError,
  type ChatMessage,
  type DeliveryEvent,
  type PassageClient,
  type RefusedEvent,
} from '@passage/sdk'
import {
  freeUdpPort,
  startClient,
  testnet,
  tmpHome,
  until,
  within,
  type Teardown,
} from '@passage/sdk/testing'
import t from 'tap'
import { installTarball, plainEnv } from '../helpers/install-tarball.js'

const OLD_SDK = fileURLToPath(
  new URL('../fixtures/passage-sdk-before-devices.tgz', import.meta.url),
)
/** One call to the old client: node has started; a call is a few DHT round trips on loopback. */
const CALL_MS = 10_000
/** The old client's process: node, SQLite and libsignal load. */
const OLD_START_MS = 15_000
/** Beacons every 250 ms: each side sees the other's within a few. */
const LAN_MS = 5_000

/**
 * The old SDK's clients, by name, in one process: `open` (createNodeClient's options), then
 * `add`, `send`, `fetch` (and send the receipts owed), `markRead`, `lanPeers`, `history` and
 * `close`, one JSON line each way. `refused` and `error` events are printed as they come.
 */
const OLD_CLIENT = `import { createInterface } from 'node:readline'
import { createNodeClient } from '@passage/sdk/node'

const clients = new Map()
const print = (line) => process.stdout.write(JSON.stringify(line) + '\\n')
const message = (m) => ({
  id: m.id,
  contactId: m.contactId,
  direction: m.direction,
  text: m.text,
  state: m.state,
  read: m.read,
  route: m.route ?? null,
})
const ops = {
  async open(name, { options }) {
    const client = await createNodeClient(options)
    clients.set(name, client)
    client.on('refused', (r) => print({ event: 'refused', client: name, reason: r.reason }))
    client.on('error', (e) => print({ event: 'error', client: name, error: String(e) }))
    return { textId: client.textId, contactUri: client.contactUri }
  },
  add: async (name, { uri }) => {
    const contact = await clients.get(name).contacts.add(uri)
    return { id: contact.id, name: contact.name ?? null }
  },
  send: async (name, { to, text }) => message(await clients.get(name).send(to, text)),
  // The mailbox, then the receipts it owed (they go out in the background otherwise).
  async fetch(name) {
    const messages = await clients.get(name).fetchInbox()
    await clients.get(name).flushOutbox()
    return messages.map(message)
  },
  markRead: (name, { contactId }) => clients.get(name).markRead(contactId),
  lanPeers: (name) => clients.get(name).lanPeers().map((p) => p.textId),
  history: async (name, { contactId }) => (await clients.get(name).history(contactId)).map(message),
  async close(name) {
    await clients.get(name).close()
    clients.delete(name)
    return null
  },
}
for await (const line of createInterface({ input: process.stdin })) {
  const { id, op, client, ...args } = JSON.parse(line)
  try {
    print({ id, result: await ops[op](client, args) })
  } catch (error) {
    print({ id, error: String(error?.stack ?? error) })
  }
}
for (const client of clients.values()) await client.close()
`

/** A message as the old client reports it. */
interface OldMessage {
  id: string
  contactId: string
  direction: 'in' | 'out'
  text: string
  state: string
  read: boolean
  route: 'direct' | 'mailbox' | null
}

/** The old client's answer to a call. */
interface Answer {
  result?: unknown
  error?: string
}

/** Something the old client reported by itself. */
interface OldEvent {
  event: 'refused' | 'error'
  client: string
  reason?: string
  error?: string
}

/** The child process running the old SDK, and a typed call per operation. */
class OldSdk {
  readonly events: OldEvent[] = []
  private stderr = ''
  private nextId = 1
  private readonly calls = new Map<number, (answer: Answer) => void>()
  private readonly exited: Promise<number | null>

  constructor(
    t: Teardown,
    app: string,
    private readonly child = spawn(process.execPath, ['old-client.mjs'], {
      cwd: app,
      env: plainEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  ) {
    child.stderr.on('data', (chunk) => (this.stderr += chunk))
    child.stdin.on('error', () => {}) // it died: the call reports that
    this.exited = new Promise((resolve) => child.once('exit', resolve))
    createInterface({ input: child.stdout }).on('line', (text) => {
      let line: Answer & OldEvent & { id?: number }
      try {
        line = JSON.parse(text) as typeof line
      } catch {
        this.stderr += `(stdout) ${text}\n`
        return
      }
      if (line.id === undefined) this.events.push(line)
      else this.calls.get(line.id)?.(line)
    })
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
  }

  /** Sends one operation to the old client `client`; rejects with its error or on a timeout. */
  async call<R>(client: string, op: string, args: object = {}, ms = CALL_MS): Promise<R> {
    const id = this.nextId++
    const answer = new Promise<Answer>((resolve) => this.calls.set(id, resolve))
    this.child.stdin.write(JSON.stringify({ id, op, client, ...args }) + '\n')
    const died = this.exited.then((code): Answer => ({ error: `exited (${code}): ${this.stderr}` }))
    const line = await within(Promise.race([answer, died]), `old ${client}: ${op}`, ms).finally(
      () => this.calls.delete(id),
    )
    if (line.error !== undefined) throw new Error(`old ${client}: ${op}: ${line.error}`)
    return line.result as R
  }

  open(client: string, options: object, ms = OLD_START_MS) {
    return this.call<{ textId: string; contactUri: string }>(client, 'open', { options }, ms)
  }

  add(client: string, uri: string) {
    return this.call<{ id: string; name: string | null }>(client, 'add', { uri })
  }

  send(client: string, to: string, text: string) {
    return this.call<OldMessage>(client, 'send', { to, text })
  }

  fetch(client: string) {
    return this.call<OldMessage[]>(client, 'fetch')
  }

  markRead(client: string, contactId: string) {
    return this.call<number>(client, 'markRead', { contactId })
  }

  lanPeers(client: string) {
    return this.call<string[]>(client, 'lanPeers')
  }

  history(client: string, contactId: string) {
    return this.call<OldMessage[]>(client, 'history', { contactId })
  }

  close(client: string) {
    return this.call<null>(client, 'close')
  }

  /** Ends the process (its clients close); resolves with its exit code. */
  async stop(): Promise<number | null> {
    this.child.stdin.end()
    return within(this.exited, 'the old SDK to exit', CALL_MS)
  }

  /** What it printed on stderr, and any stdout line that was not JSON (nothing, normally). */
  get errors(): string {
    return this.stderr
  }
}

/** What a new client reported: its refusals and its delivery events. */
function watch(client: PassageClient) {
  const refused: RefusedEvent[] = []
  const deliveries: DeliveryEvent[] = []
  client.on('refused', (e) => refused.push(e))
  client.on('delivery', (e) => deliveries.push(e))
  return { refused, deliveries }
}

/** Each text of `messages`, with how many times it is there. */
function counts(messages: Array<{ text: string }>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const m of messages) out[m.text] = (out[m.text] ?? 0) + 1
  return out
}

/** Fetches the mailbox, then waits for the receipts owed to go out (they flush in the background). */
async function fetchInbox(client: PassageClient): Promise<ChatMessage[]> {
  const messages = await client.fetchInbox()
  await client.flushOutbox()
  return messages
}

const stateOf = (messages: Array<{ text: string; state: string }>, text: string) =>
  messages.find((m) => m.text === text)?.state

// Install the old SDK once: both tests run its clients from the same folder.
const app = installTarball(OLD_SDK, tmpHome(t, 'old-sdk'), 'old-sdk')
writeFileSync(join(app, 'old-client.mjs'), OLD_CLIENT)

t.test('A home from before this change opens as device 1', async (t) => {
  const net = await testnet(t)
  const old = new OldSdk(t, app)
  const aliceHome = tmpHome(t, 'old-alice')
  const options = (home: string, extra: object = {}) => ({
    home,
    createIdentity: true,
    dhtBootstrap: net.bootstrap,
    listen: false,
    lan: false,
    background: false,
    fetchIntervalMs: 3_600_000,
    ...extra,
  })

  // The old SDK: Alice and Bob, through the DHT's mailboxes.
  const alice = await old.open('alice', options(aliceHome, { name: 'Alice' }))
  const bob = await old.open('bob', options(tmpHome(t, 'old-bob'), { name: 'Bob' }))
  t.same(
    await old.add('alice', bob.contactUri),
    { id: bob.textId, name: 'Bob' },
    'old Alice adds old Bob',
  )
  await old.add('bob', alice.contactUri)
  const hello = '你好，Bob 👋 (from the old SDK)'
  const reply = 'こんにちは Alice 🌸'
  const second = '두 번째 메시지 ✅'
  const meanwhile = 'while you upgrade 🔧🇯🇵'
  const queued = 'queued offline 📦 — 離線'
  t.equal((await old.send('alice', bob.textId, hello)).state, 'stored', 'in Bob’s mailbox')
  t.same(
    (await old.fetch('bob')).map((m) => m.text),
    [hello],
    'Bob reads it',
  )
  await old.send('bob', alice.textId, reply)
  t.same(
    (await old.fetch('alice')).map((m) => m.text),
    [reply],
    'Alice reads his reply',
  )
  await old.send('alice', bob.textId, second)
  t.same(
    (await old.fetch('bob')).map((m) => m.text),
    [second],
    'Bob reads her second one',
  )
  await old.send('bob', alice.textId, meanwhile)
  const before = await old.history('alice', bob.textId)
  await old.close('alice')
  // With the network off: Bob's message read and one more written; both wait in the outbox.
  await old.open('alice', options(aliceHome, { network: false }))
  t.equal(await old.markRead('alice', bob.textId), 1, 'offline, Alice reads Bob’s reply')
  t.equal((await old.send('alice', bob.textId, queued)).state, 'pending', 'and writes to him')
  await old.close('alice')
  t.same(
    before.map((m) => [m.text, m.state]),
    [
      [hello, 'delivered'],
      [reply, 'delivered'],
      [second, 'stored'],
    ],
    'the old client saw its first message delivered',
  )

  // This SDK opens the same home.
  const upgraded = await startClient(t, net, aliceHome, { listen: false })
  const seen = watch(upgraded)
  t.equal(upgraded.deviceId, 1, 'device 1')
  t.equal(upgraded.textId, alice.textId, 'the same account')
  t.equal(upgraded.contactUri, alice.contactUri, 'the same passage: URI')
  const devices = await upgraded.devices.list()
  t.same(
    devices.map((d) => [d.deviceId, d.state, d.current, d.textId]),
    [[1, 'active', true, alice.textId]],
    'its account lists one device: this one, under the account key',
  )
  const contacts = await upgraded.contacts.list()
  t.same(
    contacts.map((c) => [c.id, c.name]),
    [[bob.textId, 'Bob']],
    'its contacts are intact',
  )
  const aliceDevice = { account: alice.textId, deviceId: 1 }
  const bobDevice = { account: bob.textId, deviceId: 1 }
  const history = await upgraded.history(bob.textId)
  t.same(
    history.map((m) => [m.text, m.direction, m.state, m.read, m.sender]),
    [
      [hello, 'out', 'delivered', false, aliceDevice],
      [reply, 'in', 'read', true, bobDevice],
      [second, 'out', 'stored', false, aliceDevice],
      [queued, 'out', 'pending', false, aliceDevice],
    ],
    'its history is intact, every message from device 1 of its account',
  )
  t.same(
    history.map((m) => m.id),
    [...before.map((m) => m.id), history[3]!.id],
    'with the same message IDs',
  )

  // What arrived while it was closed: Bob's message and his receipt, under the old sessions.
  const arrived = await fetchInbox(upgraded)
  t.same(
    arrived.map((m) => [m.text, m.sender]),
    [[meanwhile, bobDevice]],
    'a message the old Bob sent while it upgraded',
  )
  t.equal(stateOf(await upgraded.history(bob.textId), second), 'delivered', 'and his receipt')
  // What the old SDK queued went out from the upgraded home: the message and the read receipt.
  t.equal(upgraded.status().outbox, 0, 'the outbox is empty')
  t.equal(stateOf(await upgraded.history(bob.textId), queued), 'stored', 'the old entry went out')
  t.same(
    (await old.fetch('bob')).map((m) => m.text),
    [queued],
    'the old Bob reads it',
  )

  // Both ways after the upgrade.
  const after = 'sent by device 1 after the upgrade 🎉'
  const welcome = 'welcome back, 歡迎 👩‍💻'
  t.equal((await upgraded.send(bob.textId, after)).state, 'stored', 'the upgraded Alice writes')
  t.same(
    (await old.fetch('bob')).map((m) => m.text),
    [after],
    'the old Bob reads it',
  )
  await old.send('bob', alice.textId, welcome)
  const got = await fetchInbox(upgraded)
  t.same(
    got.map((m) => [m.text, m.sender, m.route]),
    [[welcome, bobDevice, 'mailbox']],
    'and reads his answer',
  )
  const final = await upgraded.history(bob.textId)
  t.same(
    final.map((m) => [m.text, m.state]),
    [
      [hello, 'delivered'],
      [reply, 'read'],
      [second, 'delivered'],
      [meanwhile, 'delivered'],
      [queued, 'delivered'],
      [after, 'delivered'],
      [welcome, 'delivered'],
    ],
    'every message once, delivered (Bob’s first one read)',
  )
  t.same(await old.fetch('bob'), [], 'Bob gets the receipts, no message twice')
  const bobs = await old.history('bob', alice.textId)
  t.same(counts(bobs), counts(final), 'the old Bob has the same messages, each once')
  t.same(
    bobs.filter((m) => m.direction === 'out').map((m) => [m.text, m.state]),
    [
      [reply, 'read'],
      [meanwhile, 'delivered'],
      [welcome, 'delivered'],
    ],
    'his: read (the receipt the old SDK queued) or delivered (receipts from the upgraded home)',
  )
  t.same(seen.refused, [], 'the upgraded client refused nothing')
  t.same(old.events, [], 'the old clients refused nothing and reported no error')
  t.equal(await old.stop(), 0, 'the old SDK exits cleanly')
  t.equal(old.errors, '', 'nothing on its stderr')
})

t.test('talks both ways with old clients', async (t) => {
  const net = await testnet(t)
  const old = new OldSdk(t, app)
  const oscarHome = tmpHome(t, 'old-oscar')
  const newHome = tmpHome(t, 'new-client')
  // Beacons on loopback, on a group of this file's own (other tests use 239.255.77.77 to .82).
  const lan = {
    interface: '127.0.0.1',
    port: await freeUdpPort(),
    group: '239.255.77.90',
    intervalMs: 250,
  }
  const oldOptions = (home: string, extra: object) => ({
    home,
    createIdentity: true,
    dhtBootstrap: net.bootstrap,
    background: false,
    fetchIntervalMs: 3_600_000,
    ...extra,
  })
  const texts = {
    toOscar: '給舊客戶端的信 ✉️ 🐉',
    fromOscar: '新しいクライアントへ 🚀 (한국어도)',
    fromOlga: 'Olga writes first: Привет 👋🏽',
    toOlga: '收到了 ✅',
    direct: 'over the link: 直接 🔗',
    directBack: 'and back: 回覆 ↩️ 👨‍👩‍👧',
  }

  // Through the DHT mailbox (no one listens for links). The new client starts the Signal session
  // with Oscar (with his old pre-key bundle); Olga starts hers with the new client's bundle.
  const mailboxOnly = { listen: false, lan: false }
  const oscar = await old.open('oscar', oldOptions(oscarHome, { name: 'Oscar', ...mailboxOnly }))
  const olga = await old.open('olga', oldOptions(tmpHome(t, 'old-olga'), mailboxOnly))
  let client = await startClient(t, net, newHome, { name: 'New', listen: false })
  const mailboxPhase = watch(client)
  const oscarDevice = { account: oscar.textId, deviceId: 1 }
  const olgaDevice = { account: olga.textId, deviceId: 1 }
  await client.contacts.add(oscar.contactUri)
  await client.contacts.add(olga.contactUri)
  await old.add('oscar', client.contactUri)
  await old.add('olga', client.contactUri)
  await t.rejects(
    client.groups.create('with an old client', [oscar.textId]),
    UnsupportedError,
    'an old client cannot be made a group member (it publishes no list with the groups feature)',
  )

  const toOscar = await client.send(oscar.textId, texts.toOscar)
  t.equal(toOscar.state, 'stored', 'the new client stores it in the old one’s mailbox')
  t.same(
    (await old.fetch('oscar')).map((m) => [m.text, m.contactId, m.route]),
    [[texts.toOscar, client.textId, 'mailbox']],
    'the old client reads it',
  )
  t.equal((await old.send('oscar', client.textId, texts.fromOscar)).state, 'stored', 'it answers')
  t.equal(
    (await old.send('olga', client.textId, texts.fromOlga)).state,
    'stored',
    'another old client writes first (with the new client’s pre-key bundle)',
  )
  t.same(
    (await fetchInbox(client)).map((m) => [m.text, m.contactId, m.sender, m.route]),
    [
      [texts.fromOscar, oscar.textId, oscarDevice, 'mailbox'],
      [texts.fromOlga, olga.textId, olgaDevice, 'mailbox'],
    ],
    'the new client reads theirs, each from device 1 of its account',
  )
  t.equal((await client.send(olga.textId, texts.toOlga)).state, 'stored', 'the new one answers')
  t.same(
    (await old.fetch('olga')).map((m) => [m.text, m.contactId]),
    [[texts.toOlga, client.textId]],
    'the old client that started the session reads the answer',
  )
  t.same(await fetchInbox(client), [], 'only receipts were left')
  t.equal(
    stateOf(await client.history(oscar.textId), texts.toOscar),
    'delivered',
    'the old client’s receipt came',
  )
  t.same(
    mailboxPhase.deliveries.filter((d) => d.messageId === toOscar.id).map((d) => d.state),
    ['stored', 'delivered'],
    'its delivery events: stored, then delivered',
  )
  t.same(await old.fetch('oscar'), [], 'the old client fetches its receipt')
  t.equal(
    stateOf(await old.history('oscar', client.textId), texts.fromOscar),
    'delivered',
    'the new client’s receipts reached the old ones',
  )
  t.equal(
    stateOf(await old.history('olga', client.textId), texts.fromOlga),
    'delivered',
    'both of them',
  )

  // Over a direct link: both listen and find each other by LAN beacons (version 1 both ways).
  await old.close('oscar')
  await client.close()
  await old.open('oscar', oldOptions(oscarHome, { lan }))
  client = await startClient(t, net, newHome, { lan })
  const directPhase = watch(client)
  await until(
    () => client.lanPeers().some((p) => p.textId === oscar.textId),
    'the new client to see the old one’s beacon',
    { ms: LAN_MS, everyMs: 50 },
  )
  t.same(
    client.lanPeers().map((p) => [p.textId, p.account, p.contactId]),
    [[oscar.textId, { textId: oscar.textId, deviceId: 1 }, oscar.textId]],
    'its beacon: device 1 of its own account, a contact',
  )
  await until(
    async () => (await old.lanPeers('oscar')).includes(client.textId),
    'the old client to see the new one’s beacon',
    { ms: LAN_MS, everyMs: 50 },
  )
  const direct = await client.send(oscar.textId, texts.direct)
  t.same(
    [direct.route, direct.state],
    ['direct', 'delivered'],
    'the new client dials the old one; the link answers',
  )
  const back = await old.send('oscar', client.textId, texts.directBack)
  t.same([back.route, back.state], ['direct', 'delivered'], 'the old one answers over a link')
  const received = (await client.history(oscar.textId)).find((m) => m.text === texts.directBack)
  t.same([received?.sender, received?.route], [oscarDevice, 'direct'], 'the new one has it')
  t.same(
    (await old.history('oscar', client.textId))
      .filter((m) => m.text === texts.direct)
      .map((m) => m.route),
    ['direct'],
    'the old one has the new one’s, from the link',
  )

  // Nothing refused, nothing twice, nothing left over.
  t.same(await fetchInbox(client), [], 'no copy waits in the new client’s mailbox')
  t.same(await old.fetch('oscar'), [], 'nor in the old ones’')
  t.same(await old.fetch('olga'), [], 'in neither')
  const withOscar = [texts.toOscar, texts.fromOscar, texts.direct, texts.directBack]
  const withOlga = [texts.fromOlga, texts.toOlga]
  const once = (list: string[]) => Object.fromEntries(list.map((text) => [text, 1]))
  const histories = {
    newWithOscar: await client.history(oscar.textId),
    newWithOlga: await client.history(olga.textId),
    oscar: await old.history('oscar', client.textId),
    olga: await old.history('olga', client.textId),
  }
  t.same(
    [
      counts(histories.newWithOscar),
      counts(histories.newWithOlga),
      counts(histories.oscar),
      counts(histories.olga),
    ],
    [once(withOscar), once(withOlga), once(withOscar), once(withOlga)],
    'each side has each message once',
  )
  t.same(
    Object.values(histories)
      .flat()
      .filter((m) => m.state !== 'delivered')
      .map((m) => m.text),
    [],
    'everything delivered, on both sides',
  )
  t.same([...mailboxPhase.refused, ...directPhase.refused], [], 'the new client refused nothing')
  t.same(old.events, [], 'the old clients refused nothing and reported no error')
  t.equal(await old.stop(), 0, 'the old SDK exits cleanly')
  t.equal(old.errors, '', 'nothing on its stderr')
})
