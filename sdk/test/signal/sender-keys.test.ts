// Sender keys on real libsignal (docs/PROTOCOL.md "Groups", "Sender keys and group messages"):
// one chain per sending device, its distribution message through the pairwise session, one
// ciphertext for every member, shuffled arrival, forgery and sealing as another refused.
import { PrivateKey, SenderKeyMessage } from '@signalapp/libsignal-client'
import fc from 'fast-check'
import t from 'tap'
import {
  Identity,
  ImpersonationError,
  ManualClock,
  MemorySignalStorage,
  NoSenderKeyError,
  ReplayError,
  SignalMessageType,
  TamperedError,
  fromUtf8,
  sealMessage,
  toBytes,
  toHex,
  utf8,
  type Bytes,
} from '@passage/sdk'
import { libsignalKeys, LibsignalSession } from '@passage/sdk/node'

const clock = new ManualClock()

async function party() {
  const identity = Identity.generate(libsignalKeys)
  const session = await LibsignalSession.open({
    identity,
    storage: new MemorySignalStorage(),
    clock,
  })
  await session.generatePreKeys({ oneTimeCount: 10 })
  return { identity, session, address: session.address }
}
type Party = Awaited<ReturnType<typeof party>>

/** A pairwise session from `a` to `b` and back (so both trust each other's key). */
async function pair(a: Party, b: Party): Promise<void> {
  const first = await a.session.encrypt(b.address, utf8('hi'), {
    bundle: await b.session.createPreKeyBundle(),
  })
  await b.session.decrypt(a.address, first)
  await a.session.decrypt(b.address, await b.session.encrypt(a.address, utf8('hello')))
}

const distribution = (n: number) => Uint8Array.from({ length: 16 }, (_, i) => (i * 13 + n) & 0xff)

t.test('one chain, 100 messages shuffled to two members: 0 lost, 0 twice', async (t) => {
  const [alice, bob, carol] = [await party(), await party(), await party()]
  await pair(alice, bob)
  await pair(alice, carol)
  const dist = distribution(1)
  const key = await alice.session.createGroupKey(dist)
  t.equal(
    toHex(await alice.session.createGroupKey(dist)).slice(0, 40),
    toHex(key).slice(0, 40),
    'asked again: the same chain (same distribution ID and chain ID)',
  )
  t.equal(toHex(await bob.session.processGroupKey(alice.address, key)), toHex(dist))
  const sent: Bytes[] = []
  for (let i = 0; i < 100; i++) sent.push(await alice.session.groupEncrypt(dist, utf8(`m${i}`)))
  t.equal(toHex(alice.session.groupDistributionId(sent[0]!)), toHex(dist))
  // Carol gets the messages before the key: they wait, then all decrypt.
  await t.rejects(carol.session.groupDecrypt(alice.address, sent[5]!), NoSenderKeyError)
  await carol.session.processGroupKey(alice.address, key)
  for (const member of [bob, carol]) {
    const order = fc.sample(
      fc.shuffledSubarray([...sent.keys()], { minLength: 100, maxLength: 100 }),
      {
        numRuns: 1,
        seed: member === bob ? 1 : 2,
      },
    )[0]!
    const got = new Set<string>()
    for (const i of order)
      got.add(fromUtf8(await member.session.groupDecrypt(alice.address, sent[i]!)))
    t.equal(got.size, 100, 'every message, once')
    let replays = 0
    for (const m of sent.slice(0, 20)) {
      await member.session.groupDecrypt(alice.address, m).catch((e: unknown) => {
        if (e instanceof ReplayError) replays++
      })
    }
    t.equal(replays, 20, 'each seen again is a replay')
  }
})

t.test('a member forging the sender’s chain, or sealing as another: 100% refused', async (t) => {
  const [alice, bob, carol] = [await party(), await party(), await party()]
  await pair(alice, bob)
  await pair(alice, carol)
  await pair(bob, carol)
  const dist = distribution(2)
  const key = await alice.session.createGroupKey(dist)
  await bob.session.processGroupKey(alice.address, key)
  await carol.session.processGroupKey(alice.address, key)
  const real = await alice.session.groupEncrypt(dist, utf8('real'))
  t.equal(fromUtf8(await carol.session.groupDecrypt(alice.address, real)), 'real')

  // Bob holds Alice's chain key (from her distribution message) but not its signing key.
  const parsed = SenderKeyMessage.deserialize(toBytes(real))
  let refused = 0
  const tries = 50
  for (let i = 0; i < tries; i++) {
    const forged = SenderKeyMessage._new(
      3,
      parsed.distributionId(),
      parsed.chainId(),
      parsed.iteration() + 1 + i,
      toBytes(utf8(`forged ${i}`.padEnd(32, '.'))),
      PrivateKey.generate(),
    )
    await carol.session
      .groupDecrypt(alice.address, toBytes(forged.serialize()))
      .catch((e: unknown) => {
        if (e instanceof TamperedError) refused++
      })
  }
  t.equal(refused, tries, 'made with another signing key: tampered')

  // Bob makes his own chain under Alice's distribution ID and seals its messages as Alice.
  const bobKey = await bob.session.createGroupKey(dist)
  await carol.session.processGroupKey(bob.address, bobKey)
  let impersonations = 0
  for (let i = 0; i < tries; i++) {
    const own = await bob.session.groupEncrypt(dist, utf8(`as alice ${i}`))
    t.equal(fromUtf8(await carol.session.groupDecrypt(bob.address, own)), `as alice ${i}`)
    const sealed = sealMessage(
      carol.identity.publicKey,
      {
        senderPublicKey: alice.identity.publicKey,
        senderDeviceId: 1,
        type: SignalMessageType.senderKey,
        ciphertext: own,
      },
      libsignalKeys,
    )
    await carol.session.openSealed(sealed).catch((e: unknown) => {
      if (e instanceof ImpersonationError) impersonations++
    })
  }
  t.equal(impersonations, tries, 'a seal claiming Alice around Bob’s chain: impersonation')

  // The real thing, sealed by Alice: opens, and names her.
  const sealed = await alice.session.sealGroupMessage(
    carol.address,
    await alice.session.groupEncrypt(dist, utf8('sealed')),
  )
  const opened = await carol.session.openSealed(sealed)
  t.equal(fromUtf8(opened.plaintext), 'sealed')
  t.equal(opened.sender.name, alice.address.name)
  await t.rejects(carol.session.openSealed(sealed), ReplayError, 'the same envelope again')
  await t.rejects(
    bob.session.processGroupKey(alice.address, utf8('not a key')),
    TamperedError,
    'a distribution message that is none',
  )
})

t.test('a new chain locks out who did not get it', async (t) => {
  const [alice, bob, mallory] = [await party(), await party(), await party()]
  await pair(alice, bob)
  await pair(alice, mallory)
  const before = distribution(3)
  const key = await alice.session.createGroupKey(before)
  await bob.session.processGroupKey(alice.address, key)
  await mallory.session.processGroupKey(alice.address, key)
  const old = await alice.session.groupEncrypt(before, utf8('before'))
  t.equal(fromUtf8(await mallory.session.groupDecrypt(alice.address, old)), 'before')
  // Mallory removed: Alice rotates and gives the new chain to Bob only.
  const after = distribution(4)
  await bob.session.processGroupKey(alice.address, await alice.session.createGroupKey(after))
  let locked = 0
  for (let i = 0; i < 100; i++) {
    const m = await alice.session.groupEncrypt(after, utf8(`after ${i}`))
    t.equal(fromUtf8(await bob.session.groupDecrypt(alice.address, m)), `after ${i}`)
    await mallory.session.groupDecrypt(alice.address, m).catch((e: unknown) => {
      if (e instanceof NoSenderKeyError) locked++
    })
  }
  t.equal(locked, 100, 'the removed member decrypts none of the 100')
  await t.rejects(alice.session.groupEncrypt(distribution(9), utf8('x')), NoSenderKeyError)
})
