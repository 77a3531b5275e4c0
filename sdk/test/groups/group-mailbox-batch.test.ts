// A group text for offline members is one envelope in its chain's group mailbox
// (docs/PROTOCOL.md, "Group mailboxes"), whatever their number. Members of a version before
// group mailboxes get their own copies, which go to their mailboxes together: each replica of
// several of those mailboxes gets them in a few `mailbox-put-many` ("Mailboxes"), not one
// request per copy. Every member finds the text once, and a copy no replica took waits in the
// outbox until one does.
import tap, { type Test } from 'tap'
import {
  DeviceFeature,
  ManualClock,
  mailboxKeyFor,
  parseContactUri,
  type ClientInternals,
  type DhtNode,
} from '@passage/sdk'
import {
  startClient,
  testnet,
  tmpHome,
  until,
  type Teardown,
  type Testnet,
} from '@passage/sdk/testing'

const t = tap
t.setTimeout(120_000)

const MEMBERS = 4

/** Requests of `kind` the testnet's nodes answered. */
function handled(nodes: DhtNode[], kind: 'mailbox-put' | 'mailbox-put-many'): number {
  return nodes.reduce((n, node) => n + (node.stats.handled[kind] ?? 0), 0)
}

/** Members running a version before group mailboxes (their lists do not announce them). */
const olderVersion: ClientInternals = {
  faults: { features: DeviceFeature.multiDevice | DeviceFeature.groups },
}

/** Envelopes the testnet holds in the mailboxes of `keys`. */
async function held(net: Testnet, keys: Uint8Array[]): Promise<number> {
  let n = 0
  for (const node of net.nodes) {
    for (const key of keys)
      n += (await node.mailboxStore.list(mailboxKeyFor(key), Date.now(), 1000)).length
  }
  return n
}

/** A member back on its home: it holds exactly `texts` in the group, each once. */
async function readsOnce(
  t: Test,
  net: Pick<Testnet, 'bootstrap'>,
  home: string,
  groupId: string,
  texts: string[],
): Promise<void> {
  const back = await startClient(t, net, home)
  await until(
    async () => {
      await back.fetchInbox()
      return (await back.history(groupId, { limit: 10 })).length >= texts.length
    },
    `the ${texts.length} texts`,
    { ms: 20_000 },
  )
  await back.fetchInbox()
  const have = (await back.history(groupId, { limit: 10 })).map((m) => m.text)
  t.same(have.sort(), [...texts].sort(), 'each once')
  await back.close()
}

/** A sender and `n` members who said hello and went offline (their homes kept). */
async function offlineGroup(
  t: Teardown,
  net: Pick<Testnet, 'bootstrap'>,
  n: number,
  internals: ClientInternals = {},
) {
  // The sender takes no links (no address in any announce or address record): the hellos wait
  // in its mailbox, as the members' copies will in theirs.
  const sender = await startClient(t, net, tmpHome(t, 'sender'), { listen: false })
  const members: { home: string; textId: string; key: Uint8Array }[] = []
  for (let i = 0; i < n; i++) {
    const home = tmpHome(t, `member${i}`)
    const member = await startClient(t, net, home, {}, internals)
    await member.contacts.add(sender.contactUri)
    await sender.contacts.add(member.contactUri)
    await member.send(sender.textId, 'hello')
    await member.close()
    members.push({ home, textId: member.textId, key: parseContactUri(member.contactUri).publicKey })
  }
  let hellos = 0
  await until(async () => (hellos += (await sender.fetchInbox()).length) >= n, 'the hellos', {
    ms: 20_000,
    everyMs: 50,
  })
  const group = await sender.groups.create(
    '夜の会 🌙',
    members.map((m) => m.textId),
  )
  await sender.flushOutbox()
  return { sender, members, group }
}

t.test(
  'one group text to 4 offline members: one put per replica, in the group mailbox',
  async (t) => {
    const net = await testnet(t)
    const { sender, members, group } = await offlineGroup(t, net, MEMBERS)
    const first = await sender.groups.send(group.id, 'first')
    t.equal(first.state, 'stored')
    const keys = members.map((m) => m.key)
    const own = await held(net, keys)
    const requests = () =>
      handled(net.nodes, 'mailbox-put') + handled(net.nodes, 'mailbox-put-many')
    const start = requests()
    const text = await sender.groups.send(group.id, 'short text, 两 members 👍')
    t.equal(text.state, 'stored', 'taken by the group mailbox')
    t.equal(requests() - start, net.nodes.length, 'one put request per replica, not one per member')
    t.equal(await held(net, keys), own, "nothing more in the members' own mailboxes")
    for (const m of members) {
      await readsOnce(t, net, m.home, group.id, ['first', 'short text, 两 members 👍'])
    }
  },
)

t.test('4 members before group mailboxes: put-many to each replica, once each', async (t) => {
  const net = await testnet(t)
  const { sender, members, group } = await offlineGroup(t, net, MEMBERS, olderVersion)
  const homes = members.map((m) => m.home)
  // The first text also hands the sender's chain to every member (pre-key messages, large).
  const first = await sender.groups.send(group.id, 'first')
  t.equal(first.state, 'stored')
  const before = {
    one: handled(net.nodes, 'mailbox-put'),
    many: handled(net.nodes, 'mailbox-put-many'),
  }
  const text = await sender.groups.send(group.id, 'short text, 两 copies per datagram 👍')
  t.equal(text.state, 'stored', 'every copy taken by a mailbox')
  const many = handled(net.nodes, 'mailbox-put-many') - before.many
  const one = handled(net.nodes, 'mailbox-put') - before.one
  const replicas = net.nodes.length
  // Single puts would be 4 per replica; a short copy (about 300 bytes) goes 3 to a datagram.
  t.ok(many >= replicas, `${many} put-many: at least one per replica`)
  t.ok(
    many + one <= 2 * replicas,
    `${many + one} requests for ${MEMBERS} copies on ${replicas} replicas`,
  )

  for (const home of homes) {
    await readsOnce(t, net, home, group.id, ['first', 'short text, 两 copies per datagram 👍'])
  }
})

t.test(
  'a member before group mailboxes: a copy refused in a put-many stays in the outbox and arrives later, once',
  async (t) => {
    const net = await testnet(t, 6, {
      quota: { maxCount: 40, maxBytes: 1 << 24, maxSourceBytes: 1 << 28 },
    })
    const { sender, members, group } = await offlineGroup(t, net, 3, olderVersion)
    t.equal((await sender.groups.send(group.id, 'first')).state, 'stored')
    // Member 0's mailbox fills up (its 40 envelopes: the state, the key, the first text, and
    // others' mail) on every replica.
    const full = members[0]!
    for (let i = 0; ; i++) {
      const r = await net.nodes[0]!.putEnvelope(full.key, new TextEncoder().encode(`filler ${i}`))
      if (r.stored === 0) break
      if (i > 100) throw new Error('the mailbox never filled')
    }
    const text = await sender.groups.send(group.id, 'second')
    t.equal(text.state, 'stored', 'the other members took theirs')
    t.equal(sender.status().outbox, 1, "member 0's copy waits in the outbox")

    const back = await startClient(t, net, full.home)
    await until(
      async () => {
        await back.fetchInbox()
        return (await back.history(group.id, { limit: 10 })).length >= 1
      },
      'the first text',
      { ms: 20_000 },
    )
    t.equal(await sender.flushOutbox({ all: true }), 1, 'the waiting copy is put now')
    t.equal(sender.status().outbox, 0)
    await until(
      async () => {
        await back.fetchInbox()
        return (await back.history(group.id, { limit: 10 })).length >= 2
      },
      'the second text',
      { ms: 20_000 },
    )
    const texts = (await back.history(group.id, { limit: 10 })).map((m) => m.text)
    t.same(texts.sort(), ['first', 'second'], 'each once')
  },
)

t.test(
  'a group mailbox copy no replica took stays in the outbox and arrives later, once',
  async (t) => {
    // The quota object every node of the testnet reads: set to 0 envelopes a mailbox, every
    // replica refuses (fault injection), as when the DHT is full or unreachable.
    const quota = { maxCount: 1000, maxBytes: 1 << 24, maxSourceBytes: 1 << 28 }
    const net = await testnet(t, 6, { quota })
    const { sender, members, group } = await offlineGroup(t, net, 3)
    t.equal((await sender.groups.send(group.id, 'first')).state, 'stored')
    quota.maxCount = 0
    const text = await sender.groups.send(group.id, 'second 🌧️')
    t.not(text.state, 'stored', 'no replica took it')
    t.equal(sender.status().outbox, 1, 'the group mailbox copy waits in the outbox')
    quota.maxCount = 1000
    t.equal(await sender.flushOutbox({ all: true }), 1, 'the waiting copy is put now')
    t.equal(sender.status().outbox, 0)
    for (const m of members) await readsOnce(t, net, m.home, group.id, ['first', 'second 🌧️'])
  },
)

t.test('a text put days after it was written lands where its readers still look', async (t) => {
  const DAY = 86_400_000
  // Midday, so that no step below crosses a midnight by its hour of skew.
  const clock = new ManualClock(Math.floor(Date.now() / DAY) * DAY + DAY / 2)
  const quota = { maxCount: 1000, maxBytes: 1 << 24, maxSourceBytes: 1 << 28 }
  const net = await testnet(t, 6, { clock, quota })
  const quiet = { clock, listen: false as const }
  const sender = await startClient(t, net, tmpHome(t, 'sender'), quiet)
  const member = await startClient(t, net, tmpHome(t, 'member'), quiet)
  await sender.contacts.add(member.contactUri)
  const group = await sender.groups.create('days', [member.textId])
  t.equal((await sender.groups.send(group.id, 'day 0')).state, 'stored')
  await until(
    async () => {
      await member.fetchInbox()
      return (await member.history(group.id)).length === 1
    },
    'the member reads day 0',
    { ms: 20_000 },
  )
  // Written on day 0 while no replica takes anything; the member reads through day 2.
  quota.maxCount = 0
  const late = await sender.groups.send(group.id, 'written on day 0, put on day 3 ⏳')
  t.equal(sender.status().outbox, 1, 'it waits in the outbox')
  clock.advance(2 * DAY)
  t.same(await member.fetchInbox(), [], 'nothing new on day 2')
  clock.advance(DAY)
  quota.maxCount = 1000
  t.equal(await sender.flushOutbox({ all: true }), 1, 'put on day 3')
  const got = await member.fetchInbox()
  t.same(
    got.map((m) => [m.id, m.text]),
    [[late.id, 'written on day 0, put on day 3 ⏳']],
    'read from day 3’s mailbox',
  )
  t.same(await member.fetchInbox(), [], 'once')
})

t.test('a blocked member’s texts in its group mailbox are dropped and counted once', async (t) => {
  const net = await testnet(t)
  const quiet = { listen: false as const }
  const [alice, bob, carol] = [
    await startClient(t, net, tmpHome(t, 'alice'), quiet),
    await startClient(t, net, tmpHome(t, 'bob'), quiet),
    await startClient(t, net, tmpHome(t, 'carol'), quiet),
  ]
  for (const c of [bob, carol]) await alice.contacts.add(c.contactUri)
  const group = await alice.groups.create('блок 🚫', [bob.textId, carol.textId])
  await until(
    async () => {
      await Promise.all([bob, carol].map((c) => c.fetchInbox()))
      return (await Promise.all([bob, carol].map((c) => c.groups.list()))).every((l) => l.length)
    },
    'both hold the group',
    { ms: 20_000 },
  )
  // Bob's chain (and its seed) reaches Carol with his first text; then she blocks him.
  const first = await bob.groups.send(group.id, 'before the block')
  await until(
    async () => {
      await carol.fetchInbox()
      return (await carol.history(group.id)).length === 1
    },
    'Bob’s first text',
    { ms: 20_000 },
  )
  await carol.contacts.block(bob.textId)
  await bob.groups.send(group.id, 'from bob')
  await bob.groups.send(group.id, 'from bob again')
  const fromAlice = await alice.groups.send(group.id, 'from alice')
  await until(
    async () => {
      await carol.fetchInbox()
      return (await carol.history(group.id)).length >= 2
    },
    'Alice’s text',
    { ms: 20_000 },
  )
  await carol.fetchInbox()
  t.same(
    (await carol.history(group.id)).map((m) => m.id).sort(),
    [first.id, fromAlice.id].sort(),
    'Bob’s texts after the block are not shown',
  )
  t.equal((await carol.contacts.blocked())[0]?.dropped, 2, 'Bob’s two texts, counted')
  await carol.fetchInbox()
  t.equal((await carol.contacts.blocked())[0]?.dropped, 2, 'each counted once')
})

t.test('a chain its device replaced is read for 3 more days, then no more', async (t) => {
  const DAY = 86_400_000
  const clock = new ManualClock(Math.floor(Date.now() / DAY) * DAY + DAY / 2)
  const net = await testnet(t, 6, { clock })
  const quiet = { clock, listen: false as const }
  const alice = await startClient(t, net, tmpHome(t, 'alice'), quiet)
  const carol = await startClient(t, net, tmpHome(t, 'carol'), quiet)
  const dave = await startClient(t, net, tmpHome(t, 'dave'), quiet)
  for (const c of [carol, dave]) await alice.contacts.add(c.contactUri)
  const group = await alice.groups.create('rotation 🔁', [carol.textId, dave.textId])
  const texts = async (n: number) =>
    until(
      async () => {
        await carol.fetchInbox()
        return (await carol.history(group.id)).length === n
      },
      `Carol has ${n}`,
      { ms: 20_000 },
    )
  await alice.groups.send(group.id, 'on the first chain')
  await texts(1)
  // Dave leaves the group a minute later: Alice's next text starts a new chain (and group
  // mailbox).
  clock.advance(60_000)
  await alice.groups.remove(group.id, [dave.textId])
  await alice.groups.send(group.id, 'on the second chain')
  await texts(2)
  const lists = () => net.nodes.reduce((n, node) => n + (node.stats.handled['mailbox-get'] ?? 0), 0)
  const cost = async () => {
    const before = lists()
    await carol.fetchInbox()
    return lists() - before
  }
  const withBoth = await cost()
  clock.advance(2 * DAY)
  await carol.fetchInbox() // the days between
  t.equal(await cost(), withBoth, 'the first chain is still read 2 days after the second came')
  clock.advance(2 * DAY)
  await carol.fetchInbox() // read through 4 days after: the first chain retires
  const withOne = await cost()
  t.ok(withOne < withBoth, `${withOne} mailbox requests a fetch, not ${withBoth}`)
  await alice.groups.send(group.id, 'still on the second chain')
  await texts(3)
})
