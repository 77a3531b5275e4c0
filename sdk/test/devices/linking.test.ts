import t, { type Test } from 'tap'
import { type ChatMessage, type DeviceEvent } from '@passage/sdk'
import { collect, introduce, startClient, testnet, tmpHome, within } from '@passage/sdk/testing'

/** Alice's device 1, and a second device linked to it over loopback. */
async function linkedPair(t: Test, net: Awaited<ReturnType<typeof testnet>>) {
  const alice1 = await startClient(t, net, tmpHome(t, 'alice1'), { name: 'Alice' })
  const alice2 = await startClient(t, net, tmpHome(t, 'alice2'), { link: true, name: 'phone' })
  t.equal(alice2.deviceId, 0, 'a new device waits to be linked')
  const request = await alice2.devices.requestLink()
  const started = Date.now()
  const approved = await alice1.devices.approveLink(request.uri)
  const linked = await within(request.linked, 'the link', 5_000)
  const elapsed = Date.now() - started
  return { alice1, alice2, request, approved, linked, elapsed }
}

t.test(
  'a device links on loopback in under 5 s; a contact then reaches both devices',
  async (t) => {
    const net = await testnet(t)
    const { alice1, alice2, approved, linked, elapsed } = await linkedPair(t, net)
    t.ok(elapsed < 5_000, `linked in ${elapsed} ms`)
    t.equal(approved.deviceId, 2)
    t.equal(approved.name, 'phone')
    t.equal(linked.deviceId, 2)
    t.ok(linked.current)
    t.equal(alice2.deviceId, 2)
    t.equal(alice2.textId, alice1.textId, 'one account, one ID')
    t.equal(alice2.contactUri, alice1.contactUri)
    t.same(
      (await alice1.devices.list()).map((d) => [d.deviceId, d.state, d.current]),
      [
        [1, 'active', true],
        [2, 'active', false],
      ],
    )

    const bob = await startClient(t, net, tmpHome(t, 'bob'), { name: 'Bob' })
    await bob.contacts.add(alice1.contactUri)
    t.same(
      (await bob.devices.list(alice1.textId)).map((d) => d.deviceId),
      [1, 2],
      "Bob sees Alice's two devices",
    )
    introduce(bob, alice1)
    introduce(bob, alice2)
    const at1 = collect(alice1, 100)
    const at2 = collect(alice2, 100)
    const sent: string[] = []
    for (let i = 0; i < 100; i++) {
      const m = await bob.send(alice1.textId, `message ${i} 你好 👋`)
      sent.push(m.id)
    }
    const [got1, got2] = await Promise.all([at1.done, at2.done])
    await new Promise((resolve) => setTimeout(resolve, 300)) // room for a duplicate to show up
    const ids = (ms: ChatMessage[]) => ms.map((m) => m.id)
    t.equal(at1.messages.length, 100, 'device 1: 100/100, no duplicates')
    t.equal(at2.messages.length, 100, 'device 2: 100/100, no duplicates')
    t.same(new Set(ids(got1)), new Set(sent))
    t.same(new Set(ids(got2)), new Set(sent))
    t.same(got2[0]!.sender, { account: bob.textId, deviceId: 1 })
    t.equal((await alice2.history(bob.textId, { limit: 1000 })).length, 100)
    t.equal((await alice1.history(bob.textId, { limit: 1000 })).length, 100)
    const states = await bob.history(alice1.textId, { limit: 1000 })
    t.ok(
      states.every((m) => m.state === 'delivered'),
      'delivered: the best state over the devices',
    )
  },
)

t.test(
  'a device event tells both sides; a second approval of one request reuses its entry',
  async (t) => {
    const net = await testnet(t)
    const alice1 = await startClient(t, net, tmpHome(t, 'alice1'))
    const bob = await startClient(t, net, tmpHome(t, 'bob'))
    await bob.contacts.add(alice1.contactUri)
    await alice1.contacts.add(bob.contactUri)
    introduce(bob, alice1)
    await bob.send(alice1.textId, 'hi') // Alice's list reaches Bob through the DHT or a push
    const events: DeviceEvent[] = []
    const pushed = new Promise<void>((resolve) =>
      bob.on('device', (e) => {
        events.push(e)
        resolve()
      }),
    )
    const alice2 = await startClient(t, net, tmpHome(t, 'alice2'), { link: true })
    const request = await alice2.devices.requestLink({ name: 'tablet' })
    const first = await alice1.devices.approveLink(request.uri)
    const again = await alice1.devices.approveLink(request.uri)
    t.equal(again.deviceId, first.deviceId, 'the same entry')
    await within(request.linked, 'the link')
    t.equal((await alice1.devices.list()).length, 2)
    await within(pushed, 'the push of the new list to Bob')
    t.match(events, [
      { account: alice1.textId, deviceId: 2, change: 'linked', own: false, name: 'tablet' },
    ])
  },
)
