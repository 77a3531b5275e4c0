import { PreKeySignalMessage } from '@signalapp/libsignal-client'
import t from 'tap'
import {
  Identity,
  IdentityChangedError,
  ImpersonationError,
  ManualClock,
  MemorySignalStorage,
  NoSessionError,
  ReplayError,
  SignalMessageType,
  TamperedError,
  UnknownPreKeyError,
  decodePreKeyBundlePayload,
  fromUtf8,
  toBytes,
  type Bytes,
  sealMessage,
  signalAddress,
  utf8,
  type IdentityKeyPolicy,
  type SignalCiphertext,
  type SignalStorage,
} from '@passage/sdk'
import { libsignalKeys, LibsignalSession } from '@passage/sdk/node'

const clock = new ManualClock()

async function party(
  options: {
    identity?: Identity
    storage?: SignalStorage
    keyPolicy?: IdentityKeyPolicy
    preKeys?: number
  } = {},
) {
  const identity = options.identity ?? Identity.generate(libsignalKeys)
  const storage = options.storage ?? new MemorySignalStorage()
  const session = await LibsignalSession.open({
    identity,
    storage,
    clock,
    keyPolicy: options.keyPolicy,
  })
  if (options.preKeys !== 0) await session.generatePreKeys({ oneTimeCount: options.preKeys ?? 20 })
  return { identity, storage, session, address: session.address }
}

function flip(bytes: Uint8Array, index: number): Bytes {
  const out = toBytes(bytes)
  const at = index < 0 ? out.length + index : index
  out[at] = out[at]! ^ 0x01
  return out
}

t.test('Alice and Bob: a session from a bundle, 50 messages each way in order', async (t) => {
  const alice = await party()
  const bob = await party()
  const bundle = await bob.session.createPreKeyBundle()
  t.equal(await bob.session.countOneTimePreKeys(), 20)

  const first = await alice.session.encrypt(bob.address, utf8('hello Bob'), { bundle })
  t.equal(first.type, SignalMessageType.preKey, 'the first message sets the session up')
  t.equal(fromUtf8(await bob.session.decrypt(alice.address, first)), 'hello Bob')
  t.equal(await bob.session.countOneTimePreKeys(), 19, 'one one-time pre-key consumed')
  t.ok(await bob.session.hasSession(alice.address))

  // Until Bob answers, Alice keeps sending pre-key messages.
  const second = await alice.session.encrypt(bob.address, utf8('still there?'))
  t.equal(second.type, SignalMessageType.preKey)
  t.equal(fromUtf8(await bob.session.decrypt(alice.address, second)), 'still there?')

  for (let i = 0; i < 50; i++) {
    const fromBob = await bob.session.encrypt(alice.address, utf8(`bob ${i}`))
    t.equal(fromBob.type, SignalMessageType.whisper)
    const fromAlice = await alice.session.encrypt(bob.address, utf8(`alice ${i}`))
    if (i > 0 || fromAlice.type === SignalMessageType.whisper) {
      // after Alice decrypts Bob's first answer her messages are whisper messages
    }
    t.equal(fromUtf8(await alice.session.decrypt(bob.address, fromBob)), `bob ${i}`)
    t.equal(fromUtf8(await bob.session.decrypt(alice.address, fromAlice)), `alice ${i}`)
  }
  const late = await alice.session.encrypt(bob.address, utf8('late'))
  t.equal(
    late.type,
    SignalMessageType.whisper,
    'after an answer, later messages are whisper messages',
  )
  t.ok(late.body.byteLength < 400, `a later message is small (${late.body.byteLength} B)`)
  t.ok(
    first.body.byteLength > 1500,
    `a first message carries the PQXDH setup (${first.body.byteLength} B)`,
  )
  t.same(await alice.session.trustedIdentityKey(bob.address), bob.identity.publicKey)
})

async function established() {
  const alice = await party()
  const bob = await party()
  const bundle = await bob.session.createPreKeyBundle()
  const hello = await alice.session.encrypt(bob.address, utf8('hello'), { bundle })
  await bob.session.decrypt(alice.address, hello)
  await alice.session.decrypt(bob.address, await bob.session.encrypt(alice.address, utf8('hi')))
  return { alice, bob, bundle }
}

t.test('out-of-order delivery within the window', async (t) => {
  const { alice, bob } = await established()
  const sent: SignalCiphertext[] = []
  for (let i = 0; i < 30; i++) sent.push(await alice.session.encrypt(bob.address, utf8(`m${i}`)))
  const order = [
    29, 3, 0, 17, 1, 2, 28, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 18, 19, 20, 27, 21, 22,
    23, 24, 25, 26,
  ]
  t.equal(new Set(order).size, 30)
  for (const i of order) {
    t.equal(fromUtf8(await bob.session.decrypt(alice.address, sent[i]!)), `m${i}`)
  }
})

t.test('a replayed ciphertext is refused without harm', async (t) => {
  const { alice, bob } = await established()
  const message = await alice.session.encrypt(bob.address, utf8('once'))
  t.equal(fromUtf8(await bob.session.decrypt(alice.address, message)), 'once')
  await t.rejects(bob.session.decrypt(alice.address, message), ReplayError)
  await t.rejects(bob.session.decrypt(alice.address, message), ReplayError, 'and again')
  const next = await alice.session.encrypt(bob.address, utf8('next'))
  t.equal(
    fromUtf8(await bob.session.decrypt(alice.address, next)),
    'next',
    'the session still works',
  )
})

t.test('a replayed first (pre-key) message is refused', async (t) => {
  const alice = await party()
  const bob = await party()
  const bundle = await bob.session.createPreKeyBundle()
  const first = await alice.session.encrypt(bob.address, utf8('first'), { bundle })
  await bob.session.decrypt(alice.address, first)
  await t.rejects(bob.session.decrypt(alice.address, first), ReplayError)
})

t.test('a tampered ciphertext is refused with a typed error and changes nothing', async (t) => {
  const alice = await party()
  const bob = await party()
  const bundle = await bob.session.createPreKeyBundle()
  const first = await alice.session.encrypt(bob.address, utf8('first'), { bundle })
  for (const index of [-1, -10, -40, -100]) {
    await t.rejects(
      bob.session.decrypt(alice.address, { ...first, body: flip(first.body, index) }),
      TamperedError,
      `pre-key message, byte ${index}`,
    )
  }
  // The identity key inside a first message altered: it is no longer Alice's key.
  const keyAt = Buffer.from(first.body).indexOf(Buffer.from(alice.identity.publicKey))
  t.ok(keyAt > 0, 'a first message carries the sender identity key')
  await t.rejects(
    bob.session.decrypt(alice.address, { ...first, body: flip(first.body, keyAt + 5) }),
    ImpersonationError,
    'altered identity key',
  )
  t.equal(await bob.session.countOneTimePreKeys(), 20, 'no pre-key consumed by a refused message')
  t.equal(fromUtf8(await bob.session.decrypt(alice.address, first)), 'first')
  await alice.session.decrypt(bob.address, await bob.session.encrypt(alice.address, utf8('ok')))

  const later = await alice.session.encrypt(bob.address, utf8('later'))
  t.equal(later.type, SignalMessageType.whisper)
  for (const index of [-1, -9, 5, 20]) {
    await t.rejects(
      bob.session.decrypt(alice.address, { ...later, body: flip(later.body, index) }),
      TamperedError,
      `whisper message, byte ${index}`,
    )
  }
  await t.rejects(
    bob.session.decrypt(alice.address, { ...later, body: later.body.subarray(0, 30) }),
    TamperedError,
    'truncated',
  )
  t.equal(
    fromUtf8(await bob.session.decrypt(alice.address, later)),
    'later',
    'the original still decrypts',
  )
})

t.test('Mallory claiming to be Alice is refused and flagged as impersonation', async (t) => {
  const alice = await party()
  const bob = await party()
  const mallory = await party()
  const bundle = await bob.session.createPreKeyBundle()

  // A first message made with Mallory's identity key, presented as coming from Alice.
  const forged = await mallory.session.encrypt(bob.address, utf8('I am Alice'), { bundle })
  await t.rejects(
    bob.session.decrypt(alice.address, forged),
    ImpersonationError,
    'direct: first message',
  )
  t.equal(
    await bob.session.trustedIdentityKey(alice.address),
    undefined,
    'nothing trusted for Alice',
  )

  // Sealed: Mallory writes Alice's key into the sealed content.
  const claimAlice = (message: SignalCiphertext) =>
    sealMessage(
      bob.identity.publicKey,
      {
        senderPublicKey: alice.identity.publicKey,
        senderDeviceId: 1,
        type: message.type,
        ciphertext: message.body,
      },
      libsignalKeys,
    )
  await t.rejects(
    bob.session.openSealed(claimAlice(forged)),
    ImpersonationError,
    'sealed, no session with Alice',
  )

  // Once Bob has a real session with Alice, Mallory's messages still do not pass as hers.
  const real = await alice.session.encrypt(bob.address, utf8('real Alice'), { bundle })
  t.equal(fromUtf8(await bob.session.decrypt(alice.address, real)), 'real Alice')
  t.equal(
    fromUtf8(await bob.session.decrypt(mallory.address, forged)),
    'I am Alice',
    'as Mallory it is fine',
  )
  await mallory.session.decrypt(
    bob.address,
    await bob.session.encrypt(mallory.address, utf8('hi M')),
  )
  const whisper = await mallory.session.encrypt(bob.address, utf8('I am Alice, again'))
  t.equal(whisper.type, SignalMessageType.whisper)
  await t.rejects(
    bob.session.openSealed(claimAlice(whisper)),
    ImpersonationError,
    'sealed whisper under Alice',
  )
  await t.rejects(
    bob.session.openSealed(claimAlice(await mallory.session.encrypt(bob.address, utf8('x')))),
    ImpersonationError,
  )
  t.same(
    await bob.session.trustedIdentityKey(alice.address),
    alice.identity.publicKey,
    'Alice key unchanged',
  )

  // Alice's own sealed messages still open, proven as hers.
  const sealed = await alice.session.seal(bob.address, utf8('sealed by Alice'))
  const opened = await bob.session.openSealed(sealed)
  t.same(opened.sender, alice.address)
  t.equal(fromUtf8(opened.plaintext), 'sealed by Alice')
})

t.test('an identity key change is detected, refused until accepted', async (t) => {
  // Passage IDs are key hashes, so the default policy reports a new key under an old ID as
  // impersonation; trust-on-first-use change detection still guards policies that allow it.
  const permissive: IdentityKeyPolicy = () => true
  const bob = await party({ keyPolicy: permissive })
  const before = await party()
  const aliceAddress = signalAddress(before.identity.textId)
  const bundle = await bob.session.createPreKeyBundle()
  await bob.session.decrypt(
    aliceAddress,
    await before.session.encrypt(bob.address, utf8('v1'), { bundle }),
  )
  t.same(await bob.session.trustedIdentityKey(aliceAddress), before.identity.publicKey)

  const after = await party() // Alice reinstalled with a new key, same contact entry at Bob
  const fresh = await bob.session.createPreKeyBundle()
  const message = await after.session.encrypt(bob.address, utf8('new key'), { bundle: fresh })
  const error = await bob.session.decrypt(aliceAddress, message).catch((e: unknown) => e)
  t.type(error, IdentityChangedError)
  if (error instanceof IdentityChangedError) {
    t.equal(error.code, 'PASSAGE_ERR_IDENTITY_CHANGED')
    t.equal(error.address, `${aliceAddress.name}.1`)
    t.same(error.newPublicKey, after.identity.publicKey)
  }
  t.same(await bob.session.pendingIdentityKey(aliceAddress), after.identity.publicKey)
  t.same(
    await bob.session.trustedIdentityKey(aliceAddress),
    before.identity.publicKey,
    'old key still trusted',
  )
  await t.rejects(bob.session.decrypt(aliceAddress, message), IdentityChangedError, 'refused again')
  await t.rejects(
    bob.session.encrypt(aliceAddress, utf8('to the new key?')),
    IdentityChangedError,
    'nothing is sent to the old session either',
  )

  t.same(await bob.session.acceptIdentityChange(aliceAddress), after.identity.publicKey)
  t.equal(
    fromUtf8(await bob.session.decrypt(aliceAddress, message)),
    'new key',
    'accepted: it decrypts',
  )
  t.same(await bob.session.trustedIdentityKey(aliceAddress), after.identity.publicKey)
  t.equal(await bob.session.pendingIdentityKey(aliceAddress), undefined)

  // With the default policy the same message is impersonation of the old ID.
  const strictBob = await party()
  const strictBundle = await strictBob.session.createPreKeyBundle()
  const other = await after.session.encrypt(strictBob.address, utf8('x'), { bundle: strictBundle })
  await t.rejects(strictBob.session.decrypt(aliceAddress, other), ImpersonationError)
})

t.test('pre-keys: consumption, count, reuse of a published key, purge', async (t) => {
  const bob = await party({ preKeys: 3 })
  t.equal(await bob.session.countOneTimePreKeys(), 3)
  // A bundle with one one-time pre-key: two senders of it necessarily pick the same key.
  const bundle = await bob.session.createPreKeyBundle({ oneTimeCount: 1 })
  t.equal(decodePreKeyBundlePayload(bundle.record.payload).oneTimePreKeys.length, 1)
  const alice = await party()
  const carol = await party()
  const a = await alice.session.encrypt(bob.address, utf8('from alice'), { bundle })
  t.equal(fromUtf8(await bob.session.decrypt(alice.address, a)), 'from alice')
  t.equal(await bob.session.countOneTimePreKeys(), 2, 'consumed')
  const c = await carol.session.encrypt(bob.address, utf8('from carol'), { bundle })
  t.equal(
    fromUtf8(await bob.session.decrypt(carol.address, c)),
    'from carol',
    'a second sender of the same key',
  )
  t.equal(await bob.session.countOneTimePreKeys(), 2)

  const next = await bob.session.createPreKeyBundle()
  t.ok(next.record.seq >= bundle.record.seq)
  const ids = decodePreKeyBundlePayload(next.record.payload).oneTimePreKeys.map((k) => k.id)
  const usedId = decodePreKeyBundlePayload(bundle.record.payload).oneTimePreKeys[0]!.id
  t.equal(ids.length, 2)
  t.notOk(ids.includes(usedId), 'the used key is not republished')

  t.equal(await bob.session.purgeUsedPreKeys(), 0, 'used keys kept during the grace period')
  clock.advance(8 * 24 * 3600_000)
  t.equal(await bob.session.purgeUsedPreKeys(), 1)
  t.equal(await bob.session.countOneTimePreKeys(), 2)
  const dave = await party()
  const late = await dave.session.encrypt(bob.address, utf8('too late'), { bundle })
  await t.rejects(bob.session.decrypt(dave.address, late), UnknownPreKeyError, 'purged key')

  await bob.session.generatePreKeys({ oneTimeCount: 5 })
  t.equal(await bob.session.countOneTimePreKeys(), 7, 'replenished')
  const rotated = await bob.session.generatePreKeys({ oneTimeCount: 0, rotate: true })
  t.ok(rotated.rotated)
  // A first message made with the old signed and Kyber pre-keys still decrypts after rotation.
  const erin = await party()
  const old = await erin.session.encrypt(bob.address, utf8('old bundle'), { bundle: next })
  t.equal(fromUtf8(await bob.session.decrypt(erin.address, old)), 'old bundle')
  const fresh = decodePreKeyBundlePayload((await bob.session.createPreKeyBundle()).record.payload)
  t.equal(fresh.signedPreKeyId, rotated.signedPreKeyId)
  t.equal(fresh.kyberPreKeyId, rotated.kyberPreKeyId)
})

t.test('sealed messages open only for the recipient and hide the sender', async (t) => {
  const { alice, bob, bundle } = await established()
  const carol = await party()
  const sealed = await alice.session.seal(bob.address, utf8('for Bob only'))
  t.equal(sealed[0], 1, 'version byte')
  const hex = Buffer.from(sealed).toString('hex')
  t.notOk(
    hex.includes(Buffer.from(alice.identity.publicKey).toString('hex')),
    'no sender key in the blob',
  )
  t.notOk(
    hex.includes(Buffer.from(alice.identity.publicKey.subarray(1)).toString('hex')),
    'not even its 32 bytes',
  )
  t.notOk(hex.includes(Buffer.from(alice.identity.id).toString('hex')), 'no sender ID')
  t.notOk(
    Buffer.from(sealed).toString('latin1').includes(alice.identity.textId),
    'no sender text ID',
  )

  await t.rejects(
    carol.session.openSealed(sealed),
    TamperedError,
    'another identity cannot open it',
  )
  await t.rejects(bob.session.openSealed(flip(sealed, -1)), TamperedError, 'altered tag')
  await t.rejects(bob.session.openSealed(flip(sealed, 10)), TamperedError, 'altered ephemeral key')
  await t.rejects(bob.session.openSealed(flip(sealed, 60)), TamperedError, 'altered ciphertext')
  const opened = await bob.session.openSealed(sealed)
  t.same(opened.sender, alice.address)
  t.same(opened.senderPublicKey, alice.identity.publicKey)
  t.equal(fromUtf8(opened.plaintext), 'for Bob only')
  await t.rejects(
    bob.session.openSealed(sealed),
    ReplayError,
    'a replayed sealed message is refused',
  )

  // A first message to someone offline, sealed, from the bundle alone.
  const dan = await party()
  const danBundle = await dan.session.createPreKeyBundle()
  const toDan = await carol.session.seal(dan.address, utf8('first contact'), { bundle: danBundle })
  const fromCarol = await dan.session.openSealed(toDan)
  t.same(fromCarol.sender, carol.address)
  t.equal(fromUtf8(fromCarol.plaintext), 'first contact')
  t.ok(bundle)
})

t.test('no session and no bundle: NoSessionError', async (t) => {
  const alice = await party()
  const bob = await party()
  await t.rejects(alice.session.encrypt(bob.address, utf8('x')), NoSessionError)
  const fetched = await party({
    identity: Identity.generate(libsignalKeys),
  })
  const withFetch = await LibsignalSession.open({
    identity: Identity.generate(libsignalKeys),
    storage: new MemorySignalStorage(),
    clock,
    fetchBundle: async (address) =>
      address.name === fetched.address.name ? fetched.session.createPreKeyBundle() : undefined,
  })
  const message = await withFetch.encrypt(fetched.address, utf8('fetched'))
  t.equal(fromUtf8(await fetched.session.decrypt(withFetch.address, message)), 'fetched')
  await t.rejects(withFetch.encrypt(bob.address, utf8('x')), NoSessionError)
  const later = await alice.session.encrypt(bob.address, utf8('x'), {
    bundle: await bob.session.createPreKeyBundle(),
  })
  await bob.session.decrypt(alice.address, later)
  const whisper = await bob.session.encrypt(alice.address, utf8('y'))
  await t.rejects(
    withFetch.decrypt(bob.address, whisper),
    NoSessionError,
    'a whisper message without a session',
  )
})

t.test('state lives in the storage: reopening continues the conversation', async (t) => {
  const { alice, bob } = await established()
  const bobAgain = await LibsignalSession.open({
    identity: bob.identity,
    storage: bob.storage,
    clock,
  })
  t.equal(bobAgain.registrationId, bob.session.registrationId, 'registration ID kept')
  const message = await alice.session.encrypt(bob.address, utf8('after restart'))
  t.equal(fromUtf8(await bobAgain.decrypt(alice.address, message)), 'after restart')
  await t.rejects(
    LibsignalSession.open({
      identity: Identity.generate(libsignalKeys),
      storage: bob.storage,
      clock,
    }),
    /another identity/,
  )
})

t.test('persist runs in the session transaction: a crash before it loses nothing', async (t) => {
  const { alice, bob } = await established()
  const sealed = await alice.session.seal(bob.address, utf8('keep me'), {
    persist: async (blob, tx) => tx.put('outbox', 'm1', blob),
  })
  t.same(await alice.storage.get('outbox', 'm1'), sealed, 'the outbox holds what was sealed')

  // The recipient "crashes" while storing the message: the session does not advance.
  await t.rejects(
    bob.session.openSealed(sealed, {
      persist: async () => {
        throw new Error('disk full')
      },
    }),
    /disk full/,
  )
  const opened = await bob.session.openSealed(sealed, {
    persist: async (message, tx) => tx.put('inbox', 'm1', message.plaintext),
  })
  t.equal(fromUtf8(opened.plaintext), 'keep me', 'decrypts again after the failed attempt')
  t.equal(fromUtf8((await bob.storage.get('inbox', 'm1'))!), 'keep me')
  await t.rejects(bob.session.openSealed(sealed), ReplayError, 'and only once it was stored')

  const direct = await alice.session.encrypt(bob.address, utf8('direct'))
  await t.rejects(
    bob.session.decrypt(alice.address, direct, {
      persist: async () => {
        throw new Error('crash')
      },
    }),
    /crash/,
  )
  t.equal(fromUtf8(await bob.session.decrypt(alice.address, direct)), 'direct')
})

t.test('an unanswered session expires and is started again from a fresh bundle', async (t) => {
  const bob = await party()
  let fetched = 0
  const alice = await LibsignalSession.open({
    identity: Identity.generate(libsignalKeys),
    storage: new MemorySignalStorage(),
    clock,
    fetchBundle: async () => {
      fetched++
      return bob.session.createPreKeyBundle()
    },
  })
  const first = await alice.encrypt(bob.address, utf8('anyone?'))
  t.equal(fetched, 1)
  t.equal(first.type, SignalMessageType.preKey)
  clock.advance(31 * 24 * 3600_000) // libsignal drops unacknowledged sessions after 30 days
  t.notOk(await alice.hasSession(bob.address))
  const again = await alice.encrypt(bob.address, utf8('still?'))
  t.equal(fetched, 2, 'a fresh bundle was fetched')
  t.equal(fromUtf8(await bob.session.decrypt(alice.address, again)), 'still?')
})

t.test('first messages sent at once to one device start one session from one bundle', async (t) => {
  const bob = await party()
  let fetched = 0
  const alice = await LibsignalSession.open({
    identity: Identity.generate(libsignalKeys),
    storage: new MemorySignalStorage(),
    clock,
    // As over a link or the DHT: the bundle comes after a wait, while the others are asked.
    fetchBundle: async () => {
      fetched++
      await new Promise((resolve) => setTimeout(resolve, 20))
      return bob.session.createPreKeyBundle()
    },
  })
  const texts = ['一', '二', '三', '四', '五 🎉']
  const messages = await Promise.all(texts.map((x) => alice.encrypt(bob.address, utf8(x))))
  t.equal(fetched, 1, 'one bundle fetched for the five')
  // Each bundle carries a one-time pre-key of its own: one ID means one session.
  const preKeyIds = new Set(
    messages.map((m) => {
      t.equal(m.type, SignalMessageType.preKey)
      return PreKeySignalMessage.deserialize(Uint8Array.from(m.body)).preKeyId()
    }),
  )
  t.equal(preKeyIds.size, 1, 'all five on one session (one one-time pre-key)')
  const read: string[] = []
  for (const m of messages) read.push(fromUtf8(await bob.session.decrypt(alice.address, m)))
  t.same(read, texts, 'bob reads each of them')
})
