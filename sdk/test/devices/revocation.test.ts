import t from 'tap'
import {
  RecordType,
  RevokedDeviceError,
  equalBytes,
  mailboxKeyFor,
  signRecord,
  type Bytes,
  type DhtNode,
  type RefusedEvent,
  type SignedRecord,
} from '@passage/sdk'
import {
  introduce,
  linkDevice,
  startClient,
  testnet,
  tmpHome,
  until,
  within,
} from '@passage/sdk/testing'

/** Envelopes the DHT holds for the mailbox of a device key. */
async function envelopesFor(nodes: DhtNode[], deviceKey: Bytes): Promise<number> {
  let count = 0
  for (const node of nodes) {
    count += (await node.mailboxStore.list(mailboxKeyFor(deviceKey), Date.now(), 10_000)).length
  }
  return count
}

/** Makes every replica serve `record` as `account`'s device list, whatever it holds (a lying DHT). */
function serveDeviceList(nodes: DhtNode[], record: SignedRecord, account: Bytes): void {
  for (const node of nodes) {
    const store = node.recordStore
    const get = store.get.bind(store)
    store.get = async (key) => {
      const held = await get(key)
      const lie = held?.type === RecordType.deviceList && equalBytes(held.publicKey, account)
      return lie ? record : held
    }
  }
}

t.test(
  'revoking device 3: nothing more to it, everything claiming it refused, no rollback',
  async (t) => {
    const net = await testnet(t)
    const alice1 = await startClient(t, net, tmpHome(t, 'alice1'))
    const bob = await startClient(t, net, tmpHome(t, 'bob'))
    await alice1.contacts.add(bob.contactUri)
    await bob.contacts.add(alice1.contactUri)
    introduce(bob, alice1)
    const alice2 = await linkDevice(t, net, alice1)
    const home3 = tmpHome(t, 'alice3')
    const alice3 = await linkDevice(t, net, alice1, { home: home3 })
    const key3 = alice3.identity.publicKey
    const listWith3 = (await net.nodes[0]!.getRecord(alice1.accountKey, RecordType.deviceList))!
    t.ok(listWith3, 'the list naming device 3 active is in the DHT')
    await until(
      async () => {
        await bob.fetchInbox()
        return (await bob.devices.list(alice1.textId)).length === 3
      },
      'Bob knows the three devices',
      { ms: 10_000 },
    )
    // Device 3 goes dark before its revocation: its home keeps the old list (a stolen phone).
    await alice3.close()

    const revoked = new Promise<void>((resolve) =>
      bob.on('device', (e) => e.change === 'revoked' && e.deviceId === 3 && resolve()),
    )
    await alice1.devices.revoke(3)
    introduce(bob, alice2)
    await within(revoked, 'the revocation pushed to Bob', 10_000)
    t.match(await bob.devices.list(alice1.textId), [
      { deviceId: 1, state: 'active' },
      { deviceId: 2, state: 'active' },
      { deviceId: 3, state: 'revoked' },
    ])

    // The next 100 messages: 0 envelopes to device 3.
    for (let i = 0; i < 100; i++) await bob.send(alice1.textId, `after the revocation ${i}`)
    await bob.flushOutbox()
    t.equal(await envelopesFor(net.nodes, key3), 0, '0 envelopes to device 3 among the next 100')
    t.equal(bob.status().outbox, 0, 'and none waiting for it')

    // Device 3 comes back, unaware (the thief's DHT serves it the old list: at start a device
    // reads its account's list, and would learn it was revoked): every frame and envelope
    // claiming it is refused.
    const refused: RefusedEvent[] = []
    bob.on('refused', (e) => refused.push(e))
    serveDeviceList(net.nodes, listWith3, alice1.accountKey)
    const stale = await startClient(t, net, home3)
    t.equal(stale.deviceId, 3)
    await stale.contacts.add(bob.contactUri)
    introduce(stale, bob)
    const tries = 10
    await Promise.all(
      Array.from({ length: tries }, (_, i) => stale.send(bob.textId, `from a revoked phone ${i}`)),
    )
    await until(() => refused.length >= tries, 'the direct frames refused', { ms: 10_000 })
    await bob.fetchInbox() // the copies the stale device then put in Bob's mailbox
    t.equal(refused.length, 2 * tries, `${2 * tries} of ${2 * tries} refused (direct and mailbox)`)
    t.ok(
      refused.every((e) => e.reason === 'revoked-device' && e.claimedSender === alice1.textId),
      'as revoked-device',
    )
    t.same(new Set(refused.map((e) => e.route)), new Set(['direct', 'mailbox']))
    const fromAlice = (await bob.history(alice1.textId, { limit: 1000 })).filter(
      (m) => m.direction === 'in',
    )
    t.equal(fromAlice.length, 0, 'nothing from device 3 is shown')

    // An older list served by the DHT (rollback) changes nothing.
    await bob.contacts.add(alice1.contactUri) // fetches Alice's list again
    t.equal((await bob.devices.list(alice1.textId))[2]!.state, 'revoked', 'the old list is ignored')
    // A list not signed by the account key: the payload of a valid list, re-signed by device 3.
    const forged = signRecord(stale.identity, {
      type: RecordType.deviceList,
      seq: listWith3.seq + 1_000_000,
      timestamp: listWith3.timestamp,
      payload: listWith3.payload,
    })
    serveDeviceList(net.nodes, { ...forged, publicKey: alice1.accountKey }, alice1.accountKey)
    await bob.contacts.add(alice1.contactUri)
    t.equal(
      (await bob.devices.list(alice1.textId))[2]!.state,
      'revoked',
      'a forged list is refused',
    )
    serveDeviceList(net.nodes, forged, alice1.accountKey)
    await bob.contacts.add(alice1.contactUri)
    t.equal(
      (await bob.devices.list(alice1.textId))[2]!.state,
      'revoked',
      'a list signed by another key is not the account’s',
    )
    await bob.send(alice1.textId, 'still only to 1 and 2')
    await bob.flushOutbox()
    t.equal(await envelopesFor(net.nodes, key3), 0, 'still nothing to device 3')
  },
)

t.test('a revoked device learns it at its next start, and sends nothing', async (t) => {
  const net = await testnet(t)
  const alice1 = await startClient(t, net, tmpHome(t, 'alice1'))
  const home2 = tmpHome(t, 'alice2')
  const alice2 = await linkDevice(t, net, alice1, { home: home2 })
  await alice2.close()
  await alice1.devices.revoke(2)
  const again = await startClient(t, net, home2)
  t.match(
    (await again.devices.list()).find((d) => d.current),
    { deviceId: 2, state: 'revoked' },
  )
  await t.rejects(again.send(alice1.textId, 'hello'), RevokedDeviceError)
})

t.test("a revocation and the revoked device's message in one mailbox fetch: refused", async (t) => {
  const net = await testnet(t)
  const alice1 = await startClient(t, net, tmpHome(t, 'alice1'))
  const bobHome = tmpHome(t, 'bob')
  const bob = await startClient(t, net, bobHome)
  await alice1.contacts.add(bob.contactUri)
  await bob.contacts.add(alice1.contactUri)
  const alice3 = await linkDevice(t, net, alice1)
  await until(
    async () => {
      await bob.fetchInbox()
      return (await bob.devices.list(alice1.textId)).length === 2
    },
    'Bob knows both devices',
    { ms: 10_000 },
  )
  await bob.close()
  // Bob is offline: device 3 (not knowing yet) writes to his mailbox, then it is revoked
  // and device 1's push lands in the same mailbox.
  await alice3.contacts.add(bob.contactUri)
  const sent = await alice3.send(bob.textId, 'from the phone, just before its revocation')
  t.equal(sent.state, 'stored')
  await alice1.devices.revoke(2)
  await alice1.flushOutbox()
  const back = await startClient(t, net, bobHome)
  const refused: RefusedEvent[] = []
  back.on('refused', (e) => refused.push(e))
  await back.fetchInbox()
  t.match(refused, [{ reason: 'revoked-device', claimedSender: alice1.textId }])
  t.equal(
    (await back.history(alice1.textId)).filter((m) => m.direction === 'in').length,
    0,
    'nothing from the revoked device is shown',
  )
})
