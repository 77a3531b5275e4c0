// Groups end to end (docs/PROTOCOL.md "Groups"): real clients on a UDP testnet, SQLite homes,
// libsignal sender keys; states, keys and texts through direct links and mailboxes.
import fc from 'fast-check'
import tap from 'tap'
import {
  DeviceFeature,
  ManualClock,
  SignalMessageType,
  mailboxKeyFor,
  openSealedMessage,
  sealMessage,
  toHex,
  type Bytes,
  type ChatMessage,
  type ClientInternals,
  type GroupInfo,
  type PassageClient,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import {
  introduce,
  linkDevice,
  startClient,
  testnet,
  tmpHome,
  until,
  type Teardown,
} from '@passage/sdk/testing'

const t = tap
t.setTimeout(300_000)

const N = Number(process.env.GROUP_N ?? 100)

/** Every pair of clients knows where the other listens (as LAN discovery would tell them). */
function introduceAll(clients: PassageClient[]): void {
  for (let i = 0; i < clients.length; i++) {
    for (let j = i + 1; j < clients.length; j++) introduce(clients[i]!, clients[j]!)
  }
}

/** Group texts each device stored, by the devices' order. */
async function groupTexts(devices: PassageClient[], groupId: string): Promise<ChatMessage[][]> {
  return Promise.all(devices.map((d) => d.history(groupId, { limit: 1000 })))
}

t.test(
  '5 members (one with 2 devices), 3 senders × 100: every device 300/300 once, in each sender’s order',
  async (t) => {
    const net = await testnet(t)
    const names = ['alice', 'bob', 'carol', 'dave', 'erin']
    const members: PassageClient[] = []
    for (const name of names) members.push(await startClient(t, net, tmpHome(t, name)))
    const [alice, bob, carol, dave, erin] = members as [
      PassageClient,
      PassageClient,
      PassageClient,
      PassageClient,
      PassageClient,
    ]
    const bob2 = await linkDevice(t, net, bob)
    const devices = [...members, bob2]
    introduceAll(devices)
    for (const m of [bob, carol, dave, erin]) await alice.contacts.add(m.contactUri)

    const group = await alice.groups.create(
      '山の会 🏔',
      [bob, carol, dave, erin].map((m) => m.textId),
    )
    t.equal(group.members.length, 5)
    await until(
      async () => {
        await Promise.all(devices.map((d) => d.fetchInbox()))
        for (const d of devices.slice(1)) {
          const known = await d.groups.list()
          if (known.length !== 1 || known[0]!.members.length !== 5) return false
        }
        return true
      },
      'every device holds the group',
      { ms: 20_000 },
    )
    t.match(await bob2.groups.info(group.id), { name: '山の会 🏔', member: true, role: 'member' })

    const senders = [alice, bob2, carol]
    const sent = new Map<PassageClient, string[]>(senders.map((s) => [s, []]))
    for (let i = 0; i < N; i++) {
      await Promise.all(
        senders.map(async (s, k) => {
          const m = await s.groups.send(group.id, `${names[k]} #${i} 🌸`)
          sent.get(s)!.push(m.id)
        }),
      )
    }
    let last = Date.now()
    await until(
      async () => {
        // As running clients do: a copy no replica took in time (a loaded machine) is retried
        // from its sender's outbox when due; these test clients run no background work.
        await Promise.all(devices.map((d) => d.flushOutbox()))
        await Promise.all(devices.map((d) => d.fetchInbox()))
        const all = await groupTexts(devices, group.id)
        if (process.env.GROUP_DEBUG && Date.now() - last > 5000) {
          last = Date.now()
          const { default: Database } = await import('better-sqlite3')
          const waiting = devices.map((d) => {
            const db = new Database(`${d.home}/passage.sqlite`, { readonly: true })
            const n = (db.prepare('select count(*) as n from group_pending').get() as { n: number })
              .n
            db.close()
            return n
          })
          t.comment(
            `DEBUG have ${all.map((x) => x.length).join(' ')} waiting ${waiting.join(' ')} outbox ${devices.map((d) => d.status().outbox).join(' ')}`,
          )
        }
        return all.every((texts) => texts.length >= 3 * N)
      },
      'every device has the 300',
      { ms: 150_000 },
    )
    const all = await groupTexts(devices, group.id)
    for (const [i, texts] of all.entries()) {
      const label = i === devices.length - 1 ? 'bob device 2' : names[i]!
      t.equal(texts.length, 3 * N, `${label}: ${3 * N}`)
      t.equal(new Set(texts.map((m) => m.id)).size, 3 * N, `${label}: each once`)
      for (const s of senders) {
        const mine = texts.filter((m) => sent.get(s)!.includes(m.id)).map((m) => m.id)
        t.same(mine, sent.get(s), `${label}: ${s.textId.slice(0, 8)}'s in order`)
      }
    }
    // Bob's other device shows what bob2 sent as his own.
    const onBob1 = all[1]!.filter((m) => sent.get(bob2)!.includes(m.id))
    t.ok(onBob1.every((m) => m.direction === 'out' && m.sender.deviceId === bob2.deviceId))
  },
)

/** A group of `names` made by the first, every device holding it. */
async function groupOf(
  t: Teardown,
  net: Awaited<ReturnType<typeof testnet>>,
  names: string[],
  options: Partial<Parameters<typeof startClient>[3]> = {},
  /** Per member (by name): test hooks, such as the features of an older version. */
  internals: Record<string, ClientInternals> = {},
) {
  const clients: PassageClient[] = []
  const homes: string[] = []
  for (const name of names) {
    const home = tmpHome(t, name)
    homes.push(home)
    clients.push(await startClient(t, net, home, options, internals[name]))
  }
  const [owner, ...others] = clients as [PassageClient, ...PassageClient[]]
  for (const c of others) await owner.contacts.add(c.contactUri)
  const group = await owner.groups.create(
    'g',
    others.map((c) => c.textId),
  )
  await until(
    async () => {
      await Promise.all(clients.map((c) => c.fetchInbox()))
      return (await Promise.all(others.map((c) => c.groups.list()))).every((l) => l.length === 1)
    },
    'every member holds the group',
    { ms: 20_000 },
  )
  return { clients, homes, group }
}

/**
 * The envelopes the DHT holds outside the mailboxes of `deviceKeys`, by ID: the group mailboxes'
 * texts (docs/PROTOCOL.md, "Group mailboxes"), sender-key messages as they are.
 */
async function groupMailboxEnvelopes(
  net: Awaited<ReturnType<typeof testnet>>,
  deviceKeys: Bytes[],
): Promise<Map<string, Bytes>> {
  const devices = new Set(deviceKeys.map((k) => toHex(mailboxKeyFor(k))))
  const out = new Map<string, Bytes>()
  const now = Date.now()
  for (const node of net.nodes) {
    for (const key of await node.mailboxStore.mailboxes(now, 10_000)) {
      if (devices.has(toHex(key))) continue
      for (const summary of await node.mailboxStore.list(key, now, 10_000)) {
        const e = await node.mailboxStore.get(key, summary.id, now)
        if (e) out.set(toHex(e.id), e.data)
      }
    }
  }
  return out
}

/** Puts a sender-key message in `to`'s own mailbox, sealed to it as device 1 of `from`. */
async function handTo(
  net: Awaited<ReturnType<typeof testnet>>,
  to: PassageClient,
  from: PassageClient,
  ciphertext: Bytes,
): Promise<void> {
  const content = {
    senderPublicKey: from.identity.publicKey,
    senderDeviceId: 1,
    type: SignalMessageType.senderKey,
    ciphertext,
  }
  const sealed = sealMessage(to.identity.publicKey, content, libsignalKeys)
  await net.nodes[0]!.putEnvelope(to.identity.publicKey, sealed)
}

/** Envelopes the DHT holds for the mailbox of a device key. */
async function envelopesFor(
  net: Awaited<ReturnType<typeof testnet>>,
  deviceKey: Bytes,
): Promise<number> {
  let count = 0
  for (const node of net.nodes) {
    count += (await node.mailboxStore.list(mailboxKeyFor(deviceKey), Date.now(), 10_000)).length
  }
  return count
}

t.test(
  'a removed member gets 0 envelopes afterwards and cannot decrypt what it is handed; the others 100/100',
  async (t) => {
    const net = await testnet(t)
    const { clients, homes, group } = await groupOf(t, net, ['alice', 'bob', 'carol', 'mallory'])
    const [alice, bob, carol, mallory] = clients as [
      PassageClient,
      PassageClient,
      PassageClient,
      PassageClient,
    ]
    // Everyone has everyone's chain: each sends once.
    for (const c of clients) await c.groups.send(group.id, `hello from ${c.textId.slice(0, 8)}`)
    await until(
      async () => {
        await Promise.all(clients.map((c) => c.fetchInbox()))
        const counts = await Promise.all(clients.map((c) => c.history(group.id)))
        return counts.every((h) => h.length === 4)
      },
      'the first four everywhere',
      { ms: 20_000 },
    )
    let removedEvents = 0
    mallory.on('group', (e) => e.change === 'removed' && removedEvents++)
    const after = await alice.groups.remove(group.id, [mallory.textId])
    t.equal(after.epoch, 1)
    t.equal(after.members.length, 3)
    await until(
      async () => {
        // Mallory's copy of the removal too: on a loaded machine it may wait in Alice's outbox
        // (a replica that did not answer in time), so flush as a running client would.
        await Promise.all(clients.map((c) => c.flushOutbox()))
        await Promise.all(clients.map((c) => c.fetchInbox()))
        const infos = await Promise.all([bob, carol].map((c) => c.groups.info(group.id)))
        return removedEvents > 0 && infos.every((i) => i.revision === 1)
      },
      'the removal everywhere, Mallory told',
      { ms: 30_000 },
    )
    t.equal(removedEvents, 1, 'Mallory hears of her removal once')
    t.match(await mallory.groups.info(group.id), { member: false })

    // The next 100: Carol is offline (her copies wait in her mailbox), Mallory too.
    const received: string[] = []
    mallory.on('message', (m) => received.push(m.id))
    await mallory.close()
    await carol.close()
    const before = await envelopesFor(net, mallory.identity.publicKey)
    const deviceKeys = clients.map((c) => c.identity.publicKey)
    const earlier = await groupMailboxEnvelopes(net, deviceKeys)
    const sent: ChatMessage[] = []
    for (let i = 0; i < 100; i++) {
      sent.push(await [alice, bob][i % 2]!.groups.send(group.id, `after #${i}`))
    }
    await Promise.all([alice, bob].map((c) => c.flushOutbox()))
    t.equal(await envelopesFor(net, mallory.identity.publicKey), before, '0 envelopes to her')
    t.ok(
      sent.every((m) => m.state !== 'pending'),
      'every message left its sender',
    )
    t.equal(received.length, 0)

    // Hand Mallory the new-epoch messages directly: the texts of the new chains' group
    // mailboxes (whose seeds she never got), sealed to her as each sender's.
    const texts = [...(await groupMailboxEnvelopes(net, deviceKeys)).entries()].filter(
      ([id]) => !earlier.has(id),
    )
    t.equal(texts.length, 100, 'the 100 new-epoch messages, one copy each in a group mailbox')
    for (const [, ciphertext] of texts) {
      for (const sender of [alice, bob]) await handTo(net, mallory, sender, ciphertext)
    }
    const back = await startClient(t, net, homes[3]!)
    const shown = await back.fetchInbox()
    t.equal(shown.length, 0, 'none decrypts for her (100% fail)')
    t.equal((await back.history(group.id, { limit: 1000 })).length, 4, 'her history ends before')

    const carolBack = await startClient(t, net, homes[2]!)
    await until(
      async () => {
        await carolBack.fetchInbox()
        return (await carolBack.history(group.id, { limit: 1000 })).length === 104
      },
      'Carol, offline meanwhile, has 100/100',
      { ms: 30_000 },
    )
    await until(
      async () => {
        await Promise.all([alice, bob].map((c) => c.fetchInbox()))
        const hs = await Promise.all([alice, bob].map((c) => c.history(group.id, { limit: 1000 })))
        return hs.every((h) => h.length === 104)
      },
      'Alice and Bob have 100/100',
      { ms: 30_000 },
    )
  },
)

t.test('a member offline for 14 days through 200 messages: 200/200 on return', async (t) => {
  const DAY = 24 * 3600_000
  const clock = new ManualClock(Date.now())
  const net = await testnet(t, 6, { clock })
  const { clients, homes, group } = await groupOf(t, net, ['alice', 'bob', 'erin'], {
    clock,
    listen: false,
  })
  const [alice, bob, erin] = clients as [PassageClient, PassageClient, PassageClient]
  await erin.close()
  const sent: string[] = []
  for (let i = 0; i < 200; i++) {
    const m = await [alice, bob][i % 2]!.groups.send(group.id, `day ${Math.floor(i / 15)} #${i}`)
    t.equal(m.state, 'stored', `#${i} is in the mailboxes`)
    sent.push(m.id)
    clock.advance((14 * DAY) / 200)
  }
  clock.advance(3600_000)
  const back = await startClient(t, net, homes[2]!, { clock, listen: false })
  const got = await back.fetchInbox()
  t.equal(got.length, 200, '200/200 after 14 days')
  t.same(
    got.map((m) => m.id),
    sent,
    'in the order they were sent',
  )
  t.same(await back.fetchInbox(), [], 'nothing twice')
})

/** What every member must agree on: revision, name, members and roles. */
function view(info: GroupInfo): string {
  const members = info.members.map((m) => `${m.account}:${m.role}`).sort()
  return JSON.stringify([info.revision, info.name, members])
}

t.test('two admins change the group at once: every member ends on the same state', async (t) => {
  const net = await testnet(t)
  const { clients, group } = await groupOf(t, net, ['owner', 'admin1', 'admin2', 'm1', 'm2'])
  const [owner, admin1, admin2, m1, m2] = clients as [
    PassageClient,
    PassageClient,
    PassageClient,
    PassageClient,
    PassageClient,
  ]
  await owner.groups.promote(group.id, admin1.textId)
  await owner.groups.promote(group.id, admin2.textId)
  const synced = async (revision: number) =>
    until(
      async () => {
        await Promise.all(clients.map((c) => c.fetchInbox()))
        const infos = await Promise.all(clients.map((c) => c.groups.info(group.id)))
        return infos.every((i) => i.revision === revision)
      },
      `every member at revision ${revision}`,
      { ms: 20_000 },
    )
  await synced(2)
  // At once, neither seeing the other's: admin1 renames, admin2 removes m2.
  await Promise.all([
    admin1.groups.rename(group.id, 'by admin1'),
    admin2.groups.remove(group.id, [m2.textId]),
  ])
  await until(
    async () => {
      await Promise.all(clients.map((c) => c.fetchInbox()))
      const infos = await Promise.all(
        [owner, admin1, admin2, m1].map((c) => c.groups.info(group.id)),
      )
      return new Set(infos.map(view)).size === 1
    },
    'one state everywhere',
    { ms: 20_000 },
  )
  const infos = await Promise.all([owner, admin1, admin2, m1].map((c) => c.groups.info(group.id)))
  t.equal(new Set(infos.map(view)).size, 1, 'the same revision, name, members and roles')
  t.equal(infos[0]!.revision, 3, 'one of the two won revision 3')
})

t.test('keys and messages arriving shuffled, some twice: 0 lost, 0 duplicated', async (t) => {
  const net = await testnet(t)
  // Carol runs a version before group mailboxes: her copies are her own, sealed to her, and
  // can be shuffled with the keys (a group mailbox is read only once its key is here).
  const { clients, homes, group } = await groupOf(
    t,
    net,
    ['alice', 'bob', 'carol'],
    { listen: false },
    { carol: { faults: { features: DeviceFeature.multiDevice | DeviceFeature.groups } } },
  )
  const [alice, bob, carol] = clients as [PassageClient, PassageClient, PassageClient]
  await carol.close()
  const sent: string[] = []
  for (let i = 0; i < 50; i++) {
    sent.push((await [alice, bob][i % 2]!.groups.send(group.id, `#${i} 🎲`)).id)
  }
  // Take Carol's mailbox off every replica (deleted envelopes leave tombstones, so they go
  // back sealed anew: other envelopes, the same messages), shuffle it, add second copies of
  // ten texts, and put it all back in that order.
  const key = mailboxKeyFor(carol.identity.publicKey)
  const envelopes = new Map<string, Bytes>()
  for (const node of net.nodes) {
    const ids = (await node.mailboxStore.list(key, Date.now(), 10_000)).map((s) => s.id)
    for (const id of ids) {
      const e = await node.mailboxStore.get(key, id, Date.now())
      if (e) envelopes.set(toHex(e.id), e.data)
    }
    await node.mailboxStore.delete(key, ids, Date.now())
  }
  const original = [...envelopes.values()]
  t.equal(original.length, 52, '50 texts and the two senders’ keys')
  const reseal = (data: Bytes) =>
    sealMessage(carol.identity.publicKey, openSealedMessage(carol.identity, data), libsignalKeys)
  const texts = original.filter(
    (data) => openSealedMessage(carol.identity, data).type === SignalMessageType.senderKey,
  )
  const all = [...original.map(reseal), ...texts.slice(0, 10).map(reseal)]
  const shuffled = fc.sample(fc.shuffledSubarray(all, { minLength: 62, maxLength: 62 }), {
    numRuns: 1,
    seed: 11,
  })[0]!
  const kinds = shuffled.map((data) => openSealedMessage(carol.identity, data).type)
  t.ok(
    kinds.indexOf(SignalMessageType.senderKey) < kinds.lastIndexOf(SignalMessageType.preKey),
    'texts come before a key (they must wait for it)',
  )
  for (const data of shuffled) await net.nodes[0]!.putEnvelope(carol.identity.publicKey, data)

  const back = await startClient(t, net, homes[2]!, { listen: false })
  const got: ChatMessage[] = []
  back.on('message', (m) => got.push(m))
  await until(
    async () => {
      await back.fetchInbox()
      return got.length >= 50
    },
    'the 50 texts',
    { ms: 20_000 },
  )
  await back.fetchInbox()
  t.equal(got.length, 50, '0 lost, 0 shown twice')
  t.same(new Set(got.map((m) => m.id)), new Set(sent))
  const history = await back.history(group.id, { limit: 1000 })
  t.same(
    history.map((m) => m.id),
    [...sent].sort((a, b) => {
      const ma = history.find((m) => m.id === a)!
      const mb = history.find((m) => m.id === b)!
      return ma.sentAt - mb.sentAt || a.localeCompare(b)
    }),
    'the history holds each once, by send time',
  )
  t.equal(history.length, 50)
})

t.test(
  'a revoked device: the senders renew their keys, it gets and decrypts nothing after',
  async (t) => {
    const net = await testnet(t)
    const alice = await startClient(t, net, tmpHome(t, 'alice'), { listen: false })
    const bob = await startClient(t, net, tmpHome(t, 'bob'), { listen: false })
    const phoneHome = tmpHome(t, 'bob-phone')
    const phone = await linkDevice(t, net, bob, { home: phoneHome, listen: false })
    await alice.contacts.add(bob.contactUri)
    await until(
      async () =>
        (await alice.devices.list(bob.textId)).filter((d) => d.state === 'active').length === 2,
      "Alice knows Bob's two devices",
      { ms: 10_000 },
    )
    const group = await alice.groups.create('g', [bob.textId])
    const first = await alice.groups.send(group.id, 'before the revocation')
    t.equal(first.state, 'stored')
    for (const device of [bob, phone]) {
      await until(
        async () => {
          await device.fetchInbox()
          return (await device.history(group.id)).length === 1
        },
        'both of Bob’s devices have the first text',
        { ms: 10_000 },
      )
    }
    await phone.close()
    await bob.devices.revoke(phone.deviceId)
    await bob.flushOutbox()
    await until(
      async () => {
        await alice.fetchInbox()
        return (await alice.devices.list(bob.textId)).some((d) => d.state === 'revoked')
      },
      'Alice learns of the revocation',
      { ms: 10_000 },
    )
    const before = await envelopesFor(net, phone.identity.publicKey)
    const deviceKeys = [alice, bob, phone].map((c) => c.identity.publicKey)
    const earlier = await groupMailboxEnvelopes(net, deviceKeys)
    for (let i = 0; i < 20; i++) await alice.groups.send(group.id, `after #${i}`)
    t.equal(
      await envelopesFor(net, phone.identity.publicKey),
      before,
      '0 envelopes to the revoked device',
    )
    // Handed to the revoked device anyway (as the removal test does): the texts of Alice's
    // new chain's group mailbox, sealed to it as Alice's; they are under a chain it never got.
    let handed = 0
    for (const [id, ciphertext] of await groupMailboxEnvelopes(net, deviceKeys)) {
      if (earlier.has(id)) continue
      await handTo(net, phone, alice, ciphertext)
      handed++
    }
    await until(
      async () => {
        await bob.fetchInbox()
        return (await bob.history(group.id, { limit: 100 })).length === 21
      },
      'Bob’s remaining device has 20/20',
      { ms: 10_000 },
    )
    t.equal(handed, 20, 'the 20 new texts, handed to it')
    const back = await startClient(t, net, phoneHome, { listen: false })
    t.equal((await back.fetchInbox()).length, 0, `none of ${handed} handed texts decrypts`)
    t.equal((await back.history(group.id)).length, 1, 'its history ends before the revocation')
  },
)
