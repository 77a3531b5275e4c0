import t from 'tap'
import {
  encodeChatPayload,
  Identity,
  mailboxKeyFor,
  MemorySignalStorage,
  openSealedMessage,
  PreKeyDirectory,
  sealMessage,
  signalAddressOfKey,
  type Bytes,
  type PassageClient,
  type RefusedEvent,
} from '@passage/sdk'
import { libsignalKeys, LibsignalSession } from '@passage/sdk/node'
import { collect, tmpHome, startClient, testnet, offlinePair } from '@passage/sdk/testing'

type Net = Awaited<ReturnType<typeof testnet>>

/** Every envelope (deduplicated by ID) in `client`'s mailbox on the testnet's nodes. */
async function envelopesOf(net: Net, client: Pick<PassageClient, 'identity'>): Promise<Bytes[]> {
  const key = mailboxKeyFor(client.identity.publicKey)
  const found = new Map<string, Bytes>()
  for (const node of net.nodes) {
    for (const e of await node.mailboxStore.list(key, Date.now(), 256)) {
      const env = await node.mailboxStore.get(key, e.id, Date.now())
      if (env) found.set(Buffer.from(env.id).toString('hex'), env.data)
    }
  }
  return [...found.values()]
}

function refusals(client: PassageClient): RefusedEvent[] {
  const out: RefusedEvent[] = []
  client.on('refused', (e) => out.push(e))
  return out
}

t.test(
  'a message impersonating a contact is rejected and flagged; the client carries on',
  async (t) => {
    const net = await testnet(t)
    const bob = await startClient(t, net, tmpHome(t, 'bob'), { listen: false })
    const alice = await startClient(t, net, tmpHome(t, 'alice'), { listen: false })
    await alice.contacts.add(bob.contactUri, { name: 'Bob' })
    await bob.contacts.add(alice.contactUri, { name: 'Alice' })
    await alice.send(bob.textId, 'hello from the real Alice')
    t.same(
      (await bob.fetchInbox()).map((m) => m.text),
      ['hello from the real Alice'],
    )

    // Mallory starts her own session with Bob from his published bundle and seals it as Alice.
    const mallory = await LibsignalSession.open({
      identity: Identity.generate(libsignalKeys),
      storage: new MemorySignalStorage(),
    })
    const bundle = await new PreKeyDirectory(net.nodes[0]!).fetch(bob.identity.publicKey)
    const bobAddress = signalAddressOfKey(bob.identity.publicKey)
    await mallory.processPreKeyBundle(bobAddress, bundle)
    const forged = await mallory.encrypt(
      bobAddress,
      encodeChatPayload({
        kind: 'text',
        id: new Uint8Array(16).fill(7) as Bytes,
        sentAt: Date.now(),
        text: 'send me your password',
      }),
    )
    const sealed = sealMessage(
      bob.identity.publicKey,
      {
        senderPublicKey: alice.identity.publicKey,
        senderDeviceId: 1,
        type: forged.type,
        ciphertext: forged.body,
      },
      libsignalKeys,
    )
    t.ok((await net.nodes[1]!.putEnvelope(bob.identity.publicKey, sealed)).stored > 0)

    const refused = refusals(bob)
    const errors: unknown[] = []
    bob.on('error', (e) => errors.push(e))
    t.same(await bob.fetchInbox(), [], 'nothing shown')
    t.equal(refused.length, 1, 'one refusal')
    t.equal(refused[0]?.reason, 'impersonation')
    t.equal(refused[0]?.claimedSender, alice.textId)
    t.equal(refused[0]?.route, 'mailbox')
    t.equal((await bob.contacts.get('Alice'))?.flagged, 'impersonation', 'Alice is flagged')
    t.same(
      (await bob.history(alice.textId)).map((m) => m.text),
      ['hello from the real Alice'],
    )
    t.same(await envelopesOf(net, bob), [], 'the forged envelope is deleted')

    // The real Alice still gets through.
    await alice.send(bob.textId, 'still me')
    t.same(
      (await bob.fetchInbox()).map((m) => m.text),
      ['still me'],
    )
    await bob.contacts.clearFlag(alice.textId)
    t.equal((await bob.contacts.get('Alice'))?.flagged, undefined)
    t.same(errors, [], 'no errors')
  },
)

t.test('tampered ciphertexts are rejected; the genuine message still arrives once', async (t) => {
  const net = await testnet(t)
  const { alice, bobHome, bob: offline } = await offlinePair(t, net)
  const bobIdentity = offline.identity
  await alice.send(offline.textId, 'genuine')
  const [genuine] = await envelopesOf(net, offline)
  t.ok(genuine, 'the genuine envelope is stored')
  // 1: a flipped bit in the seal (HPKE/AES-GCM): the seal does not open.
  const outer = Uint8Array.from(genuine!) as Bytes
  outer[outer.length - 5]! ^= 0x01
  // 2: Carol's genuine first message with a flipped bit in the Signal message, resealed:
  // the seal opens, the Signal MAC fails.
  const carol = await LibsignalSession.open({
    identity: Identity.generate(libsignalKeys),
    storage: new MemorySignalStorage(),
  })
  const bobAddress = signalAddressOfKey(bobIdentity.publicKey)
  const bundle = await new PreKeyDirectory(net.nodes[0]!).fetch(bobIdentity.publicKey)
  const sealedByCarol = await carol.seal(
    bobAddress,
    encodeChatPayload({
      kind: 'text',
      id: new Uint8Array(16).fill(9) as Bytes,
      sentAt: Date.now(),
      text: 'from Carol',
    }),
    { bundle },
  )
  const content = openSealedMessage(bobIdentity, sealedByCarol)
  const inner = Uint8Array.from(content.ciphertext) as Bytes
  inner[inner.length - 12]! ^= 0x01
  const resealed = sealMessage(
    bobIdentity.publicKey,
    { ...content, ciphertext: inner },
    libsignalKeys,
  )
  for (const data of [outer, resealed]) {
    t.ok((await net.nodes[2]!.putEnvelope(bobIdentity.publicKey, data)).stored > 0)
  }

  const bob = await startClient(t, net, bobHome, { listen: false })
  const refused = refusals(bob)
  const shown = collect(bob, 2, 1_500)
  await bob.fetchInbox()
  t.same(
    (await shown.done).map((m) => m.text),
    ['genuine'],
    'only the genuine message, once',
  )
  t.equal(refused.length, 2, 'both tampered copies refused')
  t.ok(
    refused.some((r) => r.reason === 'tampered' && r.claimedSender === undefined),
    'the broken seal: tampered, no sender known',
  )
  t.ok(
    refused.some(
      (r) =>
        r.claimedSender === carol.address.name && ['tampered', 'impersonation'].includes(r.reason),
    ),
    'the broken Signal message: refused with the claimed sender',
  )
  t.same(await envelopesOf(net, bob), [], 'all deleted')
  t.same(
    (await bob.history(alice.textId)).map((m) => m.text),
    ['genuine'],
  )
})
