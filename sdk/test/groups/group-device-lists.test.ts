// A member who sends the moment it joins a group must reach every device of every member
// (docs/PROTOCOL.md "Groups", "Sender keys"): its first text needs the members' device lists,
// which its own client fetches only after taking the state. Real clients on a UDP testnet.
import tap from 'tap'
import type { ChatMessage, GroupEvent } from '@passage/sdk'
import { introduce, linkDevice, startClient, testnet, tmpHome, until } from '@passage/sdk/testing'

const t = tap
t.setTimeout(120_000)

t.test(
  'a text sent on the "joined" event reaches a member’s second device (its list is read first)',
  async (t) => {
    const net = await testnet(t)
    const alice = await startClient(t, net, tmpHome(t, 'alice'))
    const bob = await startClient(t, net, tmpHome(t, 'bob'))
    const carol = await startClient(t, net, tmpHome(t, 'carol'))
    const bob2 = await linkDevice(t, net, bob)
    for (const m of [bob, carol]) await alice.contacts.add(m.contactUri)
    // Carol has never read Bob's device list: she knows Bob only from the group state.
    t.equal(
      (await carol.contacts.list()).some((c) => c.id === bob.textId),
      false,
      'carol does not know bob',
    )

    let first: Promise<ChatMessage> | undefined
    carol.on('group', (event: GroupEvent) => {
      if (event.change === 'joined' && first === undefined) {
        first = carol.groups.send(event.groupId, '最初の一言 👋')
      }
    })
    const group = await alice.groups.create(
      'lists',
      [bob, carol].map((m) => m.textId),
    )
    await until(
      async () => {
        await carol.fetchInbox()
        return first !== undefined
      },
      'carol joined and sent',
      { ms: 20_000 },
    )
    const sent = await first!
    const devices = [alice, bob, bob2]
    await until(
      async () => {
        await carol.flushOutbox()
        await Promise.all(devices.map((d) => d.fetchInbox()))
        const have = await Promise.all(devices.map((d) => d.history(group.id, { limit: 100 })))
        return have.every((h) => h.some((m) => m.id === sent.id))
      },
      'every device, bob’s second too, has carol’s first text',
      { ms: 30_000 },
    )
    const onBob2 = (await bob2.history(group.id, { limit: 100 })).filter((m) => m.id === sent.id)
    t.equal(onBob2.length, 1, 'bob’s second device holds it once')
    t.equal(onBob2[0]!.text, '最初の一言 👋', 'with its text intact')
  },
)

t.test(
  'a text from a member who is no contact, over a link before the group state, waits and is shown once the state comes',
  async (t) => {
    const net = await testnet(t)
    const alice = await startClient(t, net, tmpHome(t, 'alice'))
    const bob = await startClient(t, net, tmpHome(t, 'bob'))
    const carol = await startClient(t, net, tmpHome(t, 'carol'))
    const bob2Home = tmpHome(t, 'bob2')
    const first = await linkDevice(t, net, bob, { home: bob2Home })
    for (const m of [bob, carol]) await alice.contacts.add(m.contactUri)
    // Bob's second device is away while Alice makes the group: its state waits in its mailbox.
    await first.close()
    const group = await alice.groups.create(
      'late state',
      [bob, carol].map((m) => m.textId),
    )
    await until(
      async () => {
        await Promise.all([bob, carol].map((c) => c.fetchInbox()))
        return (await carol.groups.list()).length === 1
      },
      'carol holds the group',
      { ms: 20_000 },
    )
    // Every copy under way is delivered first: Alice's copy of the state for the second device
    // may still be dialling its link, and would reach it over that link as it starts. Once her
    // outbox is through, the copy is in the mailbox.
    await Promise.all([alice, bob, carol].map((c) => c.flushOutbox()))
    // Back, not reading its mailbox yet; Carol (no contact of Bob's) can dial it.
    const bob2 = await startClient(t, net, bob2Home)
    introduce(carol, bob2)
    t.same(await bob2.groups.list(), [], 'bob’s second device does not know the group yet')
    const sent = await carol.groups.send(group.id, 'before the state 🕰️ 先に')
    // Its key and text go over the link; the text waits for the group (usually: another
    // device may hand the state on first).
    await until(
      async () => {
        await carol.flushOutbox()
        await bob2.fetchInbox()
        const have = await bob2.history(group.id, { limit: 10 }).catch(() => [])
        return have.some((m) => m.id === sent.id)
      },
      'bob’s second device shows carol’s text once the state came',
      { ms: 30_000 },
    )
    const texts = (await bob2.history(group.id, { limit: 10 })).filter((m) => m.id === sent.id)
    t.equal(texts.length, 1, 'once')
    t.equal(texts[0]!.text, 'before the state 🕰️ 先に')
    t.equal(texts[0]!.route, 'direct', 'it came over the link, not from the mailbox')
  },
)
