import { rmSync } from 'node:fs'
import t from 'tap'
import type { ChatMessage } from '@passage/sdk'
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

t.test(
  'a contact sends with an old list just after a link: the new device has it within two fetches',
  async (t) => {
    const net = await testnet(t)
    // No device takes links (no address to dial in any announce or address record): every
    // copy travels through the mailboxes, as between devices behind NATs with no relay.
    const alice1 = await startClient(t, net, tmpHome(t, 'alice1'), { listen: false })
    const bobHome = tmpHome(t, 'bob')
    let bob = await startClient(t, net, bobHome, { listen: false })
    await bob.contacts.add(alice1.contactUri)
    await bob.close() // offline while Alice links a device: the new list waits in his mailbox
    const alice2 = await linkDevice(t, net, alice1, { listen: false })
    const shownOn2: ChatMessage[] = []
    alice2.on('message', (m) => shownOn2.push(m))

    bob = await startClient(t, net, bobHome, { listen: false })
    t.equal((await bob.devices.list(alice1.textId)).length, 1, 'Bob still has the old list')
    const sent = await bob.send(alice1.textId, 'sent with an old list 🕰️')
    t.equal(sent.state, 'stored')
    await bob.close() // and the sender goes offline at once

    await alice1.fetchInbox() // fetch interval 1: device 1…
    await alice1.flushOutbox() // …whose forward leaves at once
    await alice2.fetchInbox() // fetch interval 2: device 2
    const has = (await alice2.history(bob.textId)).map((m) => m.id)
    t.same(has, [sent.id], 'device 2 has it within two fetch intervals')
    t.match(shownOn2, [{ id: sent.id, text: 'sent with an old list 🕰️' }])

    // Bob comes back: he takes the new list from his mailbox and resends to device 2, which
    // drops the copy as a duplicate.
    bob = await startClient(t, net, bobHome, { listen: false })
    await bob.fetchInbox()
    t.equal((await bob.devices.list(alice1.textId)).length, 2, 'Bob learned the new list')
    await bob.flushOutbox()
    await alice2.fetchInbox()
    t.equal(shownOn2.length, 1, 'shown once')
    t.equal((await alice2.history(bob.textId)).length, 1, 'stored once')
  },
)

t.test(
  'recovery: device 1 lost, the recovery code restores authority, revokes and links',
  async (t) => {
    const net = await testnet(t)
    const home1 = tmpHome(t, 'alice1')
    const alice1 = await startClient(t, net, home1, { name: 'Alice' })
    const code = alice1.devices.recoveryCode()
    t.match(code, /^pr1( [02-9ac-hj-np-z]{1,5}){12}$/)
    const bob = await startClient(t, net, tmpHome(t, 'bob'))
    await alice1.contacts.add(bob.contactUri, { name: 'Bob' })
    await bob.contacts.add(alice1.contactUri)
    introduce(bob, alice1)
    const alice2 = await linkDevice(t, net, alice1)
    const alice3 = await linkDevice(t, net, alice1)
    introduce(bob, alice2)
    introduce(bob, alice3)
    introduce(alice2, alice3)
    t.equal((await bob.send(alice1.textId, 'before')).state, 'delivered')
    await until(
      async () => (await alice2.contacts.get(bob.textId)) !== undefined,
      'contacts on 2',
      {
        ms: 10_000,
      },
    )

    // Device 1 is lost with its home.
    await alice1.close()
    rmSync(home1, { recursive: true, force: true })
    const alice1b = await startClient(t, net, tmpHome(t, 'alice1b'), { recover: code })
    t.equal(alice1b.textId, alice1.textId, 'the same account')
    t.equal(alice1b.deviceId, 1)
    t.same(alice1b.accountKey, alice1.accountKey)
    introduce(alice1b, alice2)
    introduce(alice1b, alice3)
    introduce(bob, alice1b)
    // Its other devices send it the contacts; contacts learn device 1 was recovered.
    await until(
      async () => {
        await Promise.all([alice2.fetchInbox(), alice3.fetchInbox(), alice1b.fetchInbox()])
        return (await alice1b.contacts.get(bob.textId)) !== undefined
      },
      'the contacts back on device 1',
      { ms: 20_000 },
    )
    await until(
      async () =>
        (await bob.devices.list(alice1.textId)).some((d) => d.deviceId === 1 && d.changedAt > 0),
      'Bob learned of the recovery',
      { ms: 20_000 },
    )

    // Authority: revoke device 3, link device 4.
    await alice1b.devices.revoke(3)
    const alice4 = await linkDevice(t, net, alice1b)
    t.equal(alice4.deviceId, 4)
    t.same(
      (await alice1b.devices.list()).map((d) => `${d.deviceId}:${d.state}`),
      ['1:active', '2:active', '3:revoked', '4:active'],
    )
    introduce(bob, alice4)
    await until(
      async () => (await bob.devices.list(alice1.textId)).length === 4,
      'Bob has the new list',
      { ms: 20_000 },
    )
    const on1 = collect(alice1b, 1)
    const on2 = collect(alice2, 1)
    const on4 = collect(alice4, 1)
    const on3 = collect(alice3, 1, 2_000)
    const after = await bob.send(alice1.textId, 'after the recovery 🔑')
    for (const [name, got] of [
      ['device 1 (recovered)', on1],
      ['device 2', on2],
      ['device 4', on4],
    ] as const) {
      t.match(await within(got.done, name, 15_000), [{ id: after.id }], `${name} has it`)
    }
    t.same(await on3.done, [], 'the revoked device 3 gets nothing')
  },
)
