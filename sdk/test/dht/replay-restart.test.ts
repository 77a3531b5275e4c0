// A replica's memory of signed requests is in its process only. A mailbox get or delete
// captured before the replica restarts must not be accepted after it (docs/PROTOCOL.md,
// "Mailboxes": a request signed before the replica's start is refused as a replay).
import t from 'tap'
import {
  DhtNode,
  Identity,
  ManualClock,
  MemoryMailboxStore,
  ReplayError,
  mailboxAuthInput,
  mailboxKeyFor,
  toHex,
  utf8,
  type Bytes,
  type NodeInfo,
} from '@passage/sdk'
import { bindUdpSocket, libsignalKeys } from '@passage/sdk/node'

const T0 = 1_800_000_000_000

t.test('a get or delete captured before a replica restarts is refused after it', async (t) => {
  const clock = new ManualClock(T0)
  const replicaIdentity = Identity.generate(libsignalKeys)
  const store = new MemoryMailboxStore() // the replica's disk: kept across the restart
  const startReplica = async (port = 0) => {
    const node = new DhtNode({
      identity: replicaIdentity,
      socket: await bindUdpSocket('127.0.0.1', port),
      clock,
      mailboxStore: store,
    })
    t.teardown(() => node.destroy())
    return node
  }
  let replica = await startReplica()
  const { port } = replica.address()
  const at: NodeInfo = { id: replica.id, host: '127.0.0.1', port }

  const owner = Identity.generate(libsignalKeys)
  const asker = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    clock,
    client: true,
    retries: 0,
  })
  t.teardown(() => asker.destroy())
  t.equal(await asker.bootstrap([{ host: '127.0.0.1', port }]), 1)
  const put = await asker.putEnvelope(owner.publicKey, utf8('for the owner only'))
  t.equal(put.stored, 1)

  const sign = (request: Parameters<typeof mailboxAuthInput>[3]) => {
    const timestamp = clock.now()
    const nonce = crypto.getRandomValues(new Uint8Array(16)) as Bytes
    return {
      ownerKey: owner.publicKey,
      timestamp,
      nonce,
      signature: owner.sign(mailboxAuthInput(replica.id, timestamp, nonce, request)),
    }
  }
  const list = {
    type: 'mailbox-get' as const,
    kind: 'list' as const,
    envelopeId: new Uint8Array(16) as Bytes,
    index: 0,
  }
  const del = { type: 'mailbox-delete' as const, ids: [put.id] }

  // Captured on the wire: a list the replica answered, and a delete it never got.
  const capturedList = { ...list, auth: sign(list) }
  const listed = await asker.request(at, capturedList)
  t.equal(listed.type === 'mailbox-list' && listed.entries.length, 1, 'the owner lists')
  const capturedDelete = { ...del, auth: sign(del) }
  await t.rejects(asker.request(at, capturedList), ReplayError, 'replayed before the restart')

  // The replica restarts 5 s later, on the same port, with the same identity and storage.
  clock.advance(5_000)
  replica.destroy()
  replica = await startReplica(port)
  // The captured requests, sent again from an attacker's node (it proves its own endpoint).
  const attacker = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    clock,
    client: true,
    retries: 0,
  })
  t.teardown(() => attacker.destroy())
  t.equal(await attacker.bootstrap([{ host: '127.0.0.1', port }]), 1)
  await t.rejects(
    attacker.request(at, capturedList),
    ReplayError,
    'the captured list is refused after the restart',
  )
  await t.rejects(
    attacker.request(at, capturedDelete),
    ReplayError,
    'the captured delete is refused after the restart',
  )
  t.ok(
    await store.has(mailboxKeyFor(owner.publicKey), put.id, clock.now()),
    'the envelope is still there',
  )

  // The owner, signing afresh after the restart, is served.
  clock.advance(1_000)
  const fresh = await attacker.request(at, { ...list, auth: sign(list) })
  t.equal(fresh.type === 'mailbox-list' && fresh.entries.length, 1, 'a fresh signature lists')
  const fetched = await attacker.fetchMailbox(owner)
  t.same(
    fetched.map((e) => toHex(e.data)),
    [toHex(utf8('for the owner only'))],
    'the owner fetches it',
  )
})
