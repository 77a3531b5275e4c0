import t from 'tap'
import { ManualClock, type ChatMessage } from '@passage/sdk'
import {
  collect,
  introduce,
  linkDevice,
  startClient,
  testnet,
  tmpHome,
  until,
  within,
} from '@passage/sdk/testing'

const DAY = 24 * 3600_000

t.test(
  'three devices, one closed for 13 days: 200 messages arrive 200/200, in order',
  async (t) => {
    const clock = new ManualClock(Date.now())
    const net = await testnet(t, 6, { clock })
    // Alice's devices take no links (as behind a NAT with no relay): nothing tells Bob an
    // address to dial (no announce, no address record), so everything goes to mailboxes.
    const alice1 = await startClient(t, net, tmpHome(t, 'alice1'), { clock, listen: false })
    const alice2 = await linkDevice(t, net, alice1, { clock, listen: false })
    const home3 = tmpHome(t, 'alice3')
    const alice3 = await linkDevice(t, net, alice1, { clock, home: home3, listen: false })
    await alice3.close()
    const bob = await startClient(t, net, tmpHome(t, 'bob'), { clock, listen: false })
    await bob.contacts.add(alice1.contactUri)
    t.equal((await bob.devices.list(alice1.textId)).filter((d) => d.state === 'active').length, 3)
    const sent: string[] = []
    for (let i = 0; i < 200; i++) {
      const m = await bob.send(alice1.textId, `#${i} 再见 🌙`)
      t.equal(m.state, 'stored', `#${i} is in the mailboxes`)
      sent.push(m.id)
      clock.advance(1_000)
    }
    const online = [await alice1.fetchInbox(), await alice2.fetchInbox()]
    for (const got of online)
      t.same(
        got.map((m) => m.id),
        sent,
        'an online device: all, in order',
      )

    clock.advance(13 * DAY)
    const again = await startClient(t, net, home3, { clock })
    const got = await again.fetchInbox()
    t.equal(got.length, 200, '200/200 after 13 days')
    t.same(
      got.map((m) => m.id),
      sent,
      'in the order they were sent',
    )
    t.equal(new Set(got.map((m) => m.id)).size, 200, 'no duplicates')
    t.same((await again.fetchInbox()).length, 0, 'nothing twice')
  },
)

t.test(
  'device 2 sends 50: devices 1 and 3 show the same 50; read state reaches all three',
  async (t) => {
    const net = await testnet(t)
    const alice1 = await startClient(t, net, tmpHome(t, 'alice1'))
    const bob = await startClient(t, net, tmpHome(t, 'bob'))
    await alice1.contacts.add(bob.contactUri, { name: 'Bob 🐝' })
    await bob.contacts.add(alice1.contactUri)
    const alice2 = await linkDevice(t, net, alice1)
    const alice3 = await linkDevice(t, net, alice1)
    await until(
      async () => (await alice2.contacts.get('Bob 🐝')) !== undefined,
      'the contacts synced to device 2',
      { ms: 15_000 },
    )
    for (const a of [alice1, alice2, alice3]) introduce(a, bob)
    introduce(alice1, alice2)
    introduce(alice1, alice3)
    introduce(alice2, alice3)

    const atBob = collect(bob, 50)
    const sent: ChatMessage[] = []
    for (let i = 0; i < 50; i++) sent.push(await alice2.send(bob.textId, `from the phone ${i} ✈️`))
    t.equal((await within(atBob.done, 'Bob has 50', 15_000)).length, 50)
    const ids = sent.map((m) => m.id)
    for (const [name, device] of [
      ['device 1', alice1],
      ['device 3', alice3],
    ] as const) {
      await until(
        async () => (await device.history(bob.textId, { limit: 100 })).length === 50,
        `${name} shows the 50`,
        { ms: 15_000 },
      )
      const shown = await device.history(bob.textId, { limit: 100 })
      t.same(
        shown.map((m) => m.id),
        ids,
        `${name}: the same IDs, in order`,
      )
      t.ok(
        shown.every((m) => m.direction === 'out'),
        `${name}: outgoing`,
      )
      t.same(
        shown[0]!.sender,
        { account: alice1.textId, deviceId: 2 },
        `${name}: written on device 2`,
      )
    }
    t.same(atBob.messages[0]!.sender, { account: alice1.textId, deviceId: 2 })

    // Bob reads them: his read receipts reach every device of Alice.
    t.equal(await bob.markRead(alice1.textId), 50)
    for (const [name, device] of [
      ['device 1', alice1],
      ['device 2', alice2],
      ['device 3', alice3],
    ] as const) {
      await until(
        async () =>
          (await device.history(bob.textId, { limit: 100 })).every((m) => m.state === 'read'),
        `${name} sees them read`,
        { ms: 15_000 },
      )
    }

    // Bob writes; Alice reads on device 1: devices 2 and 3 mark them read too, and Bob gets
    // one read receipt per message (not one per device).
    const atAlice3 = collect(alice3, 5)
    const back: string[] = []
    for (let i = 0; i < 5; i++) back.push((await bob.send(alice1.textId, `reply ${i}`)).id)
    await within(atAlice3.done, 'device 3 has the replies', 15_000)
    await until(
      async () => (await alice1.history(bob.textId, { limit: 100 })).length === 55,
      'device 1 has the replies',
      { ms: 15_000 },
    )
    t.equal(await alice1.markRead(bob.textId), 5)
    for (const [name, device] of [
      ['device 2', alice2],
      ['device 3', alice3],
    ] as const) {
      await until(
        async () => {
          const replies = (await device.history(bob.textId, { limit: 100 })).filter((m) =>
            back.includes(m.id),
          )
          return replies.length === 5 && replies.every((m) => m.read)
        },
        `${name}: read on device 1 is read here`,
        { ms: 15_000 },
      )
      t.equal((await device.contacts.get(bob.textId))?.unread, 0, `${name}: no unread left`)
    }
    await until(
      async () =>
        (await bob.history(alice1.textId, { limit: 100 }))
          .filter((m) => back.includes(m.id))
          .every((m) => m.state === 'read'),
      'Bob sees his replies read',
      { ms: 15_000 },
    )
  },
)
