// Over 500 lines: the conformance suite of the ClientRepository port, one test per contract
// clause; any store (SQLite here, others later) runs it whole.
import type { ClientRepository, OutboxEntry, StoredMessage } from '../../core/client/ports.js'
import { AlreadyExistsError } from '../../core/errors.js'
import type { Bytes } from '../../core/wire/bytes.js'
import type { ConformanceTest } from './mailbox-store.js'

const T0 = 1_764_000_000_000
const ALICE = 'p1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
const BOB = 'p1bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
const CAROL = 'p1cccccccccccccccccccccccccccccccccccccc'
const DAVE = 'p1dddddddddddddddddddddddddddddddddddddd'

function bytes(...values: number[]): Bytes {
  return Uint8Array.from(values)
}

function message(id: string, over: Partial<StoredMessage> = {}): StoredMessage {
  return {
    id,
    contactId: ALICE,
    direction: 'in',
    sender: { account: ALICE, deviceId: 1 },
    text: `text ${id}`,
    sentAt: T0,
    receivedAt: T0 + 1,
    state: 'delivered',
    read: false,
    notified: true,
    ...over,
  }
}

function entry(id: string, over: Partial<OutboxEntry> = {}): OutboxEntry {
  return {
    id,
    contactId: ALICE,
    plaintext: bytes(1, 2, 3),
    createdAt: T0,
    attempts: 0,
    nextAttemptAt: T0,
    ...over,
  }
}

/** A message as the repository hands it back (without the `notified` mark). */
function shown(m: StoredMessage) {
  const { notified: _, ...rest } = m
  return rest
}

/**
 * The behaviour every {@link ClientRepository} must have, as tap subtests. `makeRepository`
 * returns a fresh, empty repository (and may register its own teardown on `t`).
 *
 * @example
 * clientRepositoryConformance(t, async (t) => new SqliteClientRepository(await openClientStore(t.testdir())))
 */
export function clientRepositoryConformance(
  t: ConformanceTest,
  makeRepository: (t: ConformanceTest) => Promise<ClientRepository>,
): void {
  const open = async (t: ConformanceTest) => {
    const repository = await makeRepository(t)
    t.teardown(() => repository.close())
    return repository
  }

  t.test(
    'identity: saved once, refused a second time; servers remembered once, in order',
    async (t) => {
      const r = await open(t)
      t.equal(await r.loadIdentity(), undefined)
      const identity = {
        secretKey: bytes(9, 9),
        textId: ALICE,
        name: 'Alice',
        createdAt: T0,
        deviceId: 1,
      }
      await r.saveIdentity(identity)
      t.same(await r.loadIdentity(), identity)
      let refused: unknown
      await r.saveIdentity({ ...identity, textId: BOB }).catch((e: unknown) => (refused = e))
      t.ok(refused instanceof AlreadyExistsError, 'a second identity is refused')
      t.same(await r.loadIdentity(), identity, 'the first one is kept')
      // A new device, once linked: the same key, its account and device ID.
      const linked = { ...identity, textId: BOB, accountPublicKey: bytes(5, 7), deviceId: 3 }
      await r.updateIdentity(linked)
      t.same(await r.loadIdentity(), linked, 'replaced in place')
      t.same(await r.rememberedServers(), [])
      await r.transaction(async (w) => {
        await w.rememberServer('http://a')
        await w.rememberServer('http://b')
        await w.rememberServer('http://a')
      })
      t.same(await r.rememberedServers(), ['http://a', 'http://b'])
    },
  )

  t.test(
    'messages: inserted once, paged newest first, last sent time of outgoing only',
    async (t) => {
      const r = await open(t)
      const m1 = message('01', { sentAt: T0 })
      const m2 = message('02', {
        sentAt: T0 + 5,
        direction: 'out',
        state: 'pending',
        route: 'direct',
      })
      const m3 = message('03', { sentAt: T0 + 5 })
      const other = message('04', { contactId: BOB, sentAt: T0 + 9 })
      const inserted = await r.transaction(async (w) => [
        await w.insertMessage(m1),
        await w.insertMessage(m2),
        await w.insertMessage(m3),
        await w.insertMessage(other),
        await w.insertMessage({ ...m1, text: 'again' }),
      ])
      t.same(inserted, [true, true, true, true, false], 'a second insert of an ID changes nothing')
      t.same(await r.lastMessage(ALICE), shown(m3), 'same send time: the larger ID is newer')
      t.same(await r.messagesBefore(ALICE, 10), [m3, m2, m1].map(shown))
      t.same(await r.messagesBefore(ALICE, 2), [m3, m2].map(shown))
      t.same(await r.messagesBefore(ALICE, 10, '02'), [shown(m1)], 'older than 02')
      t.same(await r.messagesBefore(ALICE, 10, '03'), [m2, m1].map(shown))
      t.equal(await r.messagesBefore(ALICE, 10, 'ff'), undefined, 'an unknown pivot')
      t.equal(await r.lastSentAt(), T0 + 5)
      t.equal(await r.lastMessage('p1nobody'), undefined)
    },
  )

  t.test('delivery states move forward only; read marks; route kept once set', async (t) => {
    const r = await open(t)
    await r.transaction((w) =>
      w.insertMessage(message('0a', { direction: 'out', state: 'pending' })).then(() => undefined),
    )
    const moves = await r.transaction(async (w) => [
      await w.isOutgoingTo('0a', ALICE),
      await w.isOutgoingTo('0a', BOB),
      await w.advanceState('0a', 'stored', 'mailbox'),
      await w.advanceState('0a', 'sent', 'direct'),
      await w.advanceState('0a', 'delivered', 'direct'),
      await w.advanceState('0a', 'delivered'),
    ])
    t.same(moves, [true, false, true, false, true, false])
    t.match(await r.lastMessage(ALICE), { state: 'delivered', route: 'mailbox', read: false })
    t.equal(await r.transaction((w) => w.advanceState('0a', 'read')), true)
    t.match(
      await r.lastMessage(ALICE),
      { state: 'read', read: true },
      'a read receipt marks it read',
    )

    // A fast reader's receipt can come before the link's "stored" answer: the state stays,
    // the route is still learned.
    await r.transaction(async (w) => {
      await w.insertMessage(message('0b', { direction: 'out', state: 'pending', sentAt: T0 + 9 }))
    })
    t.equal(await r.transaction((w) => w.advanceState('0b', 'read')), true)
    t.equal(await r.transaction((w) => w.advanceState('0b', 'delivered', 'direct')), false)
    t.match(await r.lastMessage(ALICE), { id: '0b', state: 'read', route: 'direct' })
  })

  t.test('unread incoming messages, marking read, unread counts, shown marks', async (t) => {
    const r = await open(t)
    await r.transaction(async (w) => {
      await w.insertMessage(message('11', { notified: false, sentAt: T0 + 2 }))
      await w.insertMessage(message('12', { notified: false, sentAt: T0 + 1 }))
      await w.insertMessage(message('13', { direction: 'out', state: 'sent' }))
      await w.insertMessage(message('14', { contactId: BOB }))
    })
    t.same([...(await r.unreadCounts())].sort(), [
      [ALICE, 2],
      [BOB, 1],
    ])
    t.same(
      (await r.unnotifiedIncoming(10)).map((m) => m.id),
      ['12', '11'],
      'oldest first',
    )
    t.same(
      (await r.unnotifiedIncoming(1)).map((m) => m.id),
      ['12'],
    )
    await r.transaction((w) => w.setNotified(['12', '11']))
    t.same(await r.unnotifiedIncoming(10), [])
    const picked = await r.transaction((w) => w.unreadIncoming(ALICE, ['12', '13', 'zz']))
    t.same(picked, ['12'], 'only unread incoming ones of that contact')
    t.same((await r.transaction((w) => w.unreadIncoming(ALICE))).sort(), ['11', '12'])
    await r.transaction((w) => w.setRead(['11', '12']))
    t.same(await r.transaction((w) => w.unreadIncoming(ALICE)), [])
    t.same([...(await r.unreadCounts())], [[BOB, 1]])
    t.match(await r.messagesBefore(ALICE, 1), [{ id: '11', read: true, state: 'read' }])
  })

  t.test('outbox: due in order, signal and sealed forms kept, deferred, deleted', async (t) => {
    const r = await open(t)
    await r.transaction(async (w) => {
      await w.insertOutbox(entry('b', { createdAt: T0 + 1 }))
      await w.insertOutbox(entry('a', { createdAt: T0 + 1, messageId: 'm' }))
      await w.insertOutbox(entry('c', { createdAt: T0, nextAttemptAt: T0 + 60_000 }))
    })
    t.equal(await r.outboxCount(), 3)
    t.same(
      (await r.dueOutbox(T0)).map((e) => e.id),
      ['a', 'b'],
      'due now, oldest first, then by ID',
    )
    t.same(
      (await r.dueOutbox(T0 + 60_000)).map((e) => e.id),
      ['c', 'a', 'b'],
    )
    t.same(
      (await r.dueOutbox(T0)).find((e) => e.id === 'a'),
      entry('a', { createdAt: T0 + 1, messageId: 'm' }),
    )
    await r.transaction(async (w) => {
      await w.setOutboxSignal('a', bytes(3, 7))
      await w.setOutboxSealed('a', bytes(1, 8))
      await w.deferOutbox('b', 2, T0 + 5_000)
      await w.deleteOutbox('c')
    })
    t.match(
      (await r.dueOutbox(T0)).map((e) => e.id),
      ['a'],
    )
    const a = (await r.dueOutbox(T0))[0]!
    t.same([...a.signal!], [3, 7])
    t.same([...a.sealed!], [1, 8])
    t.match(
      (await r.dueOutbox(T0 + 5_000)).find((e) => e.id === 'b'),
      { attempts: 2, nextAttemptAt: T0 + 5_000 },
    )
    t.equal(await r.outboxCount(), 2)
  })

  t.test('receipts owed are taken once; processed envelopes and refusals', async (t) => {
    const r = await open(t)
    await r.transaction(async (w) => {
      await w.addPendingReceipt({ contactId: ALICE, messageId: '01', kind: 'delivered' })
      await w.addPendingReceipt({ contactId: ALICE, messageId: '01', kind: 'delivered' })
      await w.addPendingReceipt({ contactId: ALICE, messageId: '01', kind: 'read' })
    })
    const taken = await r.transaction((w) => w.takePendingReceipts())
    t.same(
      taken.map((p) => `${p.messageId}/${p.kind}`).sort(),
      ['01/delivered', '01/read'],
      'one per message and kind',
    )
    t.same(await r.transaction((w) => w.takePendingReceipts()), [], 'taken means gone')

    t.equal(await r.isProcessed('e1'), false)
    await r.transaction(async (w) => {
      await w.markProcessed('e1', T0, 'ok')
      await w.markProcessed('e1', T0 + 1, 'tampered')
      await w.markProcessed('e2', T0 + 10, 'replay')
      await w.addRefusal({ id: 'e3', reason: 'tampered', route: 'mailbox', at: T0 })
      await w.addRefusal({ id: 'e3', reason: 'tampered', route: 'mailbox', at: T0 })
    })
    t.equal(await r.isProcessed('e1'), true)
    await r.transaction((w) => w.purgeProcessed(T0 + 5))
    t.equal(await r.isProcessed('e1'), false, 'handled before the cut-off: forgotten')
    t.equal(await r.isProcessed('e2'), true)
  })

  t.test('contacts: added, named, seen, flagged, removed', async (t) => {
    const r = await open(t)
    const made = await r.transaction(async (w) => {
      await w.saveContact({ id: ALICE, publicKey: bytes(5, 1), name: 'Alice', addedAt: T0 })
      await w.saveContact({ id: ALICE, publicKey: bytes(5, 1), addedAt: T0 + 9 })
      return [
        await w.upsertSender(BOB, bytes(5, 2), T0 + 3),
        await w.upsertSender(BOB, bytes(5, 2), T0 + 4),
        await w.upsertSender(ALICE, bytes(5, 1), T0 + 5),
      ]
    })
    t.same(made, [true, false, false], 'only a sender with no row is new')
    t.same(
      await r.contact(ALICE),
      { id: ALICE, publicKey: bytes(5, 1), name: 'Alice', addedAt: T0, lastSeenAt: T0 + 5 },
      'saved again without a name: unchanged',
    )
    t.same(
      await r.contact(BOB),
      { id: BOB, publicKey: bytes(5, 2), addedAt: T0 + 3, lastSeenAt: T0 + 4, request: true },
      'a stranger who wrote is a request',
    )
    await r.transaction(async (w) => {
      await w.saveContact({ id: BOB, publicKey: bytes(5, 2), name: 'Bob', addedAt: T0 + 9 })
      await w.setContactFlag(ALICE, 'impersonation')
    })
    t.match(await r.contact(BOB), { name: 'Bob', addedAt: T0 + 3 }, 'a name given renames')
    t.equal((await r.contact(BOB))?.request, undefined, 'saving a request accepts it')
    t.match(await r.contact(ALICE), { flagged: 'impersonation' })
    t.same(await r.contactIdsByName('Bob'), [BOB])
    await r.transaction(async (w) => {
      await w.renameContact(ALICE, 'Bob')
      await w.setContactFlag(ALICE, undefined)
    })
    t.same((await r.contactIdsByName('Bob')).sort(), [ALICE, BOB].sort())
    t.equal((await r.contact(ALICE))?.flagged, undefined, 'flag cleared')
    await r.transaction((w) => w.removeContact(BOB))
    t.same(
      (await r.contacts()).map((c) => c.id),
      [ALICE],
    )
    t.equal(await r.contact(BOB), undefined)
  })

  t.test('requests: claimed names, blocks that outlive removal, dropped counts', async (t) => {
    const r = await open(t)
    await r.transaction(async (w) => {
      await w.upsertSender(BOB, bytes(5, 2), T0)
      await w.setClaimedName(BOB, 'Alice')
      await w.insertMessage(message('51', { contactId: BOB, direction: 'in' }))
      await w.addPendingReceipt({ contactId: BOB, messageId: '51', kind: 'delivered' })
      await w.saveContact({ id: ALICE, publicKey: bytes(5, 1), name: 'Alice', addedAt: T0 })
    })
    t.match(await r.contact(BOB), { request: true, claimedName: 'Alice' })
    t.same(await r.contactIdsByName('Alice'), [ALICE], 'a claimed name names nobody')
    await r.transaction(async (w) => {
      await w.setBlocked(BOB, bytes(5, 2), true, T0 + 1)
      await w.countDropped(BOB)
      await w.countDropped(BOB)
      await w.setBlocked(CAROL, bytes(5, 3), true, T0 + 2)
      await w.setBlocked(ALICE, bytes(5, 1), true, T0 + 3)
      await w.removeContact(ALICE)
    })
    t.match(await r.contact(BOB), { blocked: true, dropped: 2, request: true })
    t.same(
      await r.contact(CAROL),
      { id: CAROL, publicKey: bytes(5, 3), addedAt: T0 + 2, request: true, blocked: true },
      'blocking an account with no row makes one',
    )
    t.same(
      await r.contact(ALICE),
      { id: ALICE, publicKey: bytes(5, 1), addedAt: T0, request: true, blocked: true },
      'a removed blocked contact stays blocked, no longer a contact',
    )
    await r.transaction(async (w) => {
      await w.setBlocked(BOB, bytes(5, 2), false, T0 + 4)
      await w.setBlocked(CAROL, bytes(5, 3), false, T0 + 4)
      await w.removeContact(CAROL)
      await w.setBlocked(DAVE, bytes(5, 4), false, T0 + 4)
      await w.deleteConversation(BOB)
    })
    t.equal((await r.contact(BOB))?.blocked, undefined, 'unblocked')
    t.equal(await r.contact(CAROL), undefined, 'unblocked, then removed')
    t.equal(await r.contact(DAVE), undefined, 'unblocking makes no row')
    t.same(await r.messagesBefore(BOB, 10), [], 'its messages deleted')
    t.same(
      await r.transaction((w) => w.takePendingReceipts()),
      [],
      'and the receipts owed for them',
    )
  })

  t.test('messages keep their sender device; outgoing since a time, oldest first', async (t) => {
    const r = await open(t)
    await r.transaction(async (w) => {
      await w.insertMessage(message('41', { sender: { account: ALICE, deviceId: 3 } }))
      for (const [id, at] of [
        ['42', T0 + 10],
        ['43', T0 + 20],
        ['44', T0 + 30],
      ] as const) {
        await w.insertMessage(
          message(id, { direction: 'out', sentAt: at, sender: { account: BOB, deviceId: 2 } }),
        )
      }
    })
    t.same((await r.messagesBefore(ALICE, 10, '42'))?.[0]?.sender, { account: ALICE, deviceId: 3 })
    const since = await r.outgoingSince(ALICE, T0 + 20, 10)
    t.same(
      since.map((m) => m.id),
      ['43', '44'],
    )
    t.same(since[0]!.sender, { account: BOB, deviceId: 2 })
    t.same(
      (await r.outgoingSince(ALICE, T0, 1)).map((m) => m.id),
      ['42'],
      'at most the limit',
    )
  })

  t.test(
    'outbox entries to other devices: kept with their target, dropped by target',
    async (t) => {
      const r = await open(t)
      const toBob2 = entry('m/b.2', { to: { account: BOB, deviceId: 2 } })
      const toAlice3 = entry('m/a.3', { to: { account: ALICE, deviceId: 3 } })
      const added = await r.transaction(async (w) => [
        await w.insertOutbox(toBob2),
        await w.insertOutbox(toAlice3),
        await w.insertOutbox(entry('m')),
        await w.insertOutbox(toBob2),
      ])
      t.same(added, [true, true, true, false], 'an entry already there is kept')
      const due = await r.dueOutbox(T0)
      t.same(
        due.find((e) => e.id === 'm/b.2'),
        toBob2,
      )
      t.same(
        due.find((e) => e.id === 'm/a.3'),
        toAlice3,
      )
      t.equal(due.find((e) => e.id === 'm')?.to, undefined, "the contact's device 1")
      t.equal(await r.transaction((w) => w.dropOutboxTo(ALICE, 3)), 1)
      t.equal(await r.transaction((w) => w.dropOutboxTo(ALICE, 3)), 0)
      t.same((await r.dueOutbox(T0)).map((e) => e.id).sort(), ['m', 'm/b.2'])
    },
  )

  t.test('device lists: the newest per account, touched; settings', async (t) => {
    const r = await open(t)
    t.same(await r.deviceLists(), [])
    await r.transaction(async (w) => {
      await w.saveDeviceList({ account: ALICE, seq: 5, record: bytes(1, 5), checkedAt: T0 })
      await w.saveDeviceList({ account: BOB, seq: 1, record: bytes(1, 1), checkedAt: T0 })
      await w.saveDeviceList({ account: ALICE, seq: 6, record: bytes(1, 6), checkedAt: T0 + 1 })
      await w.touchDeviceList(BOB, T0 + 9)
      await w.setSetting('k', 'v1')
      await w.setSetting('k', 'v2')
    })
    const lists = (await r.deviceLists()).sort((a, b) => a.account.localeCompare(b.account))
    t.same(lists, [
      { account: ALICE, seq: 6, record: bytes(1, 6), checkedAt: T0 + 1 },
      { account: BOB, seq: 1, record: bytes(1, 1), checkedAt: T0 + 9 },
    ])
    t.equal(await r.setting('k'), 'v2')
    t.equal(await r.setting('nope'), undefined)
  })

  t.test('groups: rows, states replaced from a revision, chains, pending messages', async (t) => {
    const r = await open(t)
    t.same(await r.groups(), [])
    const G = 'g1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq'
    await r.transaction(async (w) => {
      await w.saveGroup({ id: G, revision: 0, member: true, joinedAt: T0, given: [] })
      await w.saveGroupStates(G, [
        { revision: 0, bytes: bytes(0) },
        { revision: 1, bytes: bytes(1) },
        { revision: 2, bytes: bytes(2) },
      ])
    })
    // A fork at revision 1 lost: 1 and 2 give way to the winner.
    await r.transaction(async (w) => {
      await w.saveGroupStates(G, [{ revision: 1, bytes: bytes(1, 1) }])
      await w.saveGroup({
        id: G,
        revision: 1,
        member: false,
        joinedAt: T0 + 5,
        chain: bytes(9, 9),
        given: [`${BOB}.1`, `${BOB}.2`],
      })
      await w.saveGroupSender({ distributionId: 'aa', sender: `${BOB}.1`, groupId: G })
      await w.saveGroupSender({ distributionId: 'aa', sender: `${BOB}.1`, groupId: G })
    })
    t.same(await r.groupStates(G), [bytes(0), bytes(1, 1)])
    t.same(await r.groups(), [
      {
        id: G,
        revision: 1,
        member: false,
        joinedAt: T0,
        chain: bytes(9, 9),
        given: [`${BOB}.1`, `${BOB}.2`],
      },
    ])
    t.same(await r.groupSenders(), [{ distributionId: 'aa', sender: `${BOB}.1`, groupId: G }])
    // A chain with a group mailbox seed: the seed and the first read time stay once written.
    await r.transaction(async (w) => {
      await w.saveGroup({
        id: G,
        revision: 1,
        member: true,
        joinedAt: T0,
        chain: bytes(9, 9),
        given: [`${BOB}.1`, `${BOB}.2`],
        seed: bytes(...new Array<number>(32).fill(5)),
        seeded: [`${BOB}.2`],
      })
      await w.saveGroupSender({
        distributionId: 'bb',
        sender: `${BOB}.2`,
        groupId: G,
        seed: bytes(...new Array<number>(32).fill(6)),
        readAt: T0,
        since: T0 - 1,
      })
      await w.saveGroupSender({
        distributionId: 'bb',
        sender: `${BOB}.2`,
        groupId: G,
        readAt: T0 + 5,
        since: T0 + 5,
      })
      await w.setGroupSenderRead('bb', `${BOB}.2`, T0 + 9)
    })
    t.match(await r.groups(), [
      { id: G, member: true, seed: bytes(...new Array<number>(32).fill(5)), seeded: [`${BOB}.2`] },
    ])
    t.same(
      (await r.groupSenders()).find((g) => g.distributionId === 'bb'),
      {
        distributionId: 'bb',
        sender: `${BOB}.2`,
        groupId: G,
        seed: bytes(...new Array<number>(32).fill(6)),
        readAt: T0 + 9,
        since: T0 - 1,
      },
      'a seed and its key time stay, the read time moves only when read',
    )
    const pending = (id: string, at: number) => ({
      id,
      sender: `${BOB}.1`,
      distributionId: 'aa',
      route: 'mailbox' as const,
      data: bytes(7, at),
      receivedAt: at,
    })
    const added = await r.transaction(async (w) => [
      await w.addPendingGroupMessage(pending('p2', 2)),
      await w.addPendingGroupMessage(pending('p1', 1)),
      await w.addPendingGroupMessage(pending('p1', 1)),
    ])
    t.same(added, [true, true, false], 'kept once')
    t.same(
      (await r.pendingGroupMessages(`${BOB}.1`, 'aa')).map((p) => p.id),
      ['p1', 'p2'],
      'oldest first',
    )
    t.same(await r.pendingGroupMessages(`${BOB}.2`, 'aa'), [])
    await r.transaction((w) => w.deletePendingGroupMessage('p1'))
    t.same(await r.pendingGroupMessages(`${BOB}.1`, 'aa'), [pending('p2', 2)])
    t.equal(
      await r.transaction((w) => w.purgePendingGroupMessages(2)),
      0,
      'kept at 2: not before 2',
    )
    t.equal(await r.transaction((w) => w.purgePendingGroupMessages(3)), 1)
    t.same(await r.pendingGroupMessages(`${BOB}.1`, 'aa'), [])
  })

  t.test('known DHT nodes: the most recently seen first', async (t) => {
    const r = await open(t)
    await r.transaction((w) =>
      w.rememberDhtNodes(
        [
          { host: '127.0.0.1', port: 1 },
          { host: '::1', port: 2 },
        ],
        T0,
      ),
    )
    await r.transaction((w) => w.rememberDhtNodes([{ host: '127.0.0.1', port: 3 }], T0 + 1))
    await r.transaction((w) => w.rememberDhtNodes([{ host: '::1', port: 2 }], T0 + 2))
    t.same(await r.knownDhtNodes(2), [
      { host: '::1', port: 2 },
      { host: '127.0.0.1', port: 3 },
    ])
  })

  t.test('a transaction commits all of it or nothing, the Signal state with it', async (t) => {
    const r = await open(t)
    const failed = await r
      .transaction(async (w) => {
        await w.insertMessage(message('21'))
        await w.insertOutbox(entry('21'))
        throw new Error('crash')
      })
      .catch((e: unknown) => e)
    t.ok(failed instanceof Error)
    t.equal(await r.lastMessage(ALICE), undefined, 'nothing of a failed transaction stays')
    t.equal(await r.outboxCount(), 0)
    await r.signal
      .transaction(async (tx) => {
        await tx.put('ns', 'k', bytes(1))
        await r.writer(tx).insertMessage(message('23'))
        throw new Error('crash')
      })
      .catch(() => undefined)
    t.equal(await r.signal.get('ns', 'k'), undefined)
    t.equal(await r.lastMessage(ALICE), undefined, 'rolled back with the Signal write')
    await r.signal.transaction(async (tx) => {
      await tx.put('ns', 'k', bytes(1))
      await r.writer(tx).insertMessage(message('24'))
    })
    t.same([...(await r.signal.get('ns', 'k'))!], [1])
    t.equal((await r.lastMessage(ALICE))?.id, '24', 'committed together')
  })

  t.test('reads wait for a transaction in progress and never see its writes early', async (t) => {
    const r = await open(t)
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    let inserted!: () => void
    const insertedOnce = new Promise<void>((resolve) => (inserted = resolve))
    const writing = r.transaction(async (w) => {
      await w.insertMessage(message('31'))
      inserted()
      await gate
    })
    await insertedOnce
    let read: unknown = 'pending'
    const reading = r.lastMessage(ALICE).then((m) => (read = m))
    await new Promise((resolve) => setTimeout(resolve, 20))
    t.equal(read, 'pending', 'the read waits while the transaction is open')
    release()
    await writing
    await reading
    t.match(read, { id: '31' }, 'and sees the committed write')
  })
}
