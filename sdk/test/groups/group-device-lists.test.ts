// A member who sends the moment it joins a group must reach every device of every member
// (docs/PROTOCOL.md "Groups", "Sender keys"): its first text needs the members' device lists,
// which its own client fetches only after taking the state. Real clients on a UDP testnet.
import tap from 'tap'
import type { ChatMessage, GroupEvent } from '@passage/sdk'
import { linkDevice, startClient, testnet, tmpHome, until } from '@passage/sdk/testing'

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
