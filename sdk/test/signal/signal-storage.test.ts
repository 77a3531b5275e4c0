import {
  Direction,
  groupDecrypt,
  groupEncrypt,
  IdentityChange,
  KEMKeyPair,
  KyberPreKeyRecord,
  PrivateKey,
  processSenderKeyDistributionMessage,
  ProtocolAddress,
  PublicKey,
  SenderKeyDistributionMessage,
  SessionRecord,
} from '@signalapp/libsignal-client'
import t from 'tap'
import {
  Identity,
  ManualClock,
  MemorySignalStorage,
  ReplayError,
  accountKeyPolicy,
  addressKey,
  parseAddressKey,
  signalAddress,
  signalAddressOfKey,
  utf8,
  fromUtf8,
  MalformedError,
  type SignalStorage,
} from '@passage/sdk'
import { SignalStores, SessionCache, libsignalKeys, LibsignalSession } from '@passage/sdk/node'

t.test('MemorySignalStorage: get, put, delete, list', async (t) => {
  const storage = new MemorySignalStorage()
  t.equal(await storage.get('a', 'x'), undefined)
  const value = Uint8Array.of(1, 2, 3)
  await storage.put('a', 'x', value)
  value[0] = 9
  t.same(await storage.get('a', 'x'), Uint8Array.of(1, 2, 3), 'stores a copy')
  await storage.put('a', 'y', Uint8Array.of(4))
  await storage.put('b', 'x', Uint8Array.of(5))
  t.same((await storage.list('a')).sort(), ['x', 'y'])
  await storage.delete('a', 'x')
  t.same(await storage.list('a'), ['y'])
  t.same(await storage.list('none'), [])
})

t.test('MemorySignalStorage: transactions commit whole or not at all, one at a time', async (t) => {
  const storage = new MemorySignalStorage()
  await storage.put('n', 'kept', Uint8Array.of(1))
  await t.rejects(
    storage.transaction(async (tx) => {
      await tx.put('n', 'new', Uint8Array.of(2))
      await tx.delete('n', 'kept')
      t.same(await tx.get('n', 'new'), Uint8Array.of(2), 'reads its own writes')
      t.equal(await tx.get('n', 'kept'), undefined, 'and its own deletes')
      t.same(await tx.list('n'), ['new'])
      t.equal(await storage.get('n', 'new'), undefined, 'invisible outside before commit')
      throw new Error('boom')
    }),
    /boom/,
  )
  t.same(await storage.list('n'), ['kept'], 'rolled back')

  const order: string[] = []
  const first = storage.transaction(async (tx) => {
    order.push('first start')
    await tx.put('n', 'a', Uint8Array.of(1))
    await new Promise((resolve) => setImmediate(resolve))
    order.push('first end')
  })
  const second = storage.transaction(async (tx) => {
    order.push('second start')
    t.same(await tx.get('n', 'a'), Uint8Array.of(1), 'sees the first one committed')
    await tx.transaction(async (inner) => inner.put('n', 'b', Uint8Array.of(2)))
  })
  await Promise.all([first, second])
  t.same(order, ['first start', 'first end', 'second start'])
  t.same(
    await storage.get('n', 'b'),
    Uint8Array.of(2),
    'a nested transaction is part of the outer one',
  )
  t.same(
    await storage.transaction(async () => 42),
    42,
    'a failed transaction does not block the next',
  )
})

t.test('addresses', async (t) => {
  const id = Identity.generate(libsignalKeys)
  const address = signalAddress(id.textId.toUpperCase(), 3)
  t.same(address, { name: id.textId, deviceId: 3 }, 'canonical text ID')
  t.same(parseAddressKey(addressKey(address)), address)
  t.same(signalAddressOfKey(id.publicKey), { name: id.textId, deviceId: 1 })
  t.throws(() => signalAddress(id.textId, 0), MalformedError)
  t.throws(() => signalAddress(id.textId, 128), MalformedError)
  t.throws(() => parseAddressKey('nonsense'), MalformedError)
  t.ok(accountKeyPolicy(address, id.publicKey), 'any device of the account, with its key')
  t.notOk(accountKeyPolicy(address, Identity.generate(libsignalKeys).publicKey), 'another key')
})

t.test('identity store: trust on first use, changes refused, policy first', async (t) => {
  const me = Identity.generate(libsignalKeys)
  const storage = new MemorySignalStorage()
  const stores = new SignalStores(storage, me, 77, new ManualClock(), () => true)
  const them = ProtocolAddress.new(Identity.generate(libsignalKeys).textId, 1)
  const first = PublicKey.deserialize(Identity.generate(libsignalKeys).publicKey)
  const second = PublicKey.deserialize(Identity.generate(libsignalKeys).publicKey)
  t.equal(await stores.identity.getLocalRegistrationId(), 77)
  t.ok((await stores.identity.getIdentityKey()).serialize().length > 0)
  t.equal(await stores.identity.getIdentity(them), null)
  t.ok(await stores.identity.isTrustedIdentity(them, first, Direction.Receiving), 'first use')
  t.equal(await stores.identity.saveIdentity(them, first), IdentityChange.NewOrUnchanged)
  t.ok(await stores.identity.isTrustedIdentity(them, first, Direction.Sending), 'same key')
  t.equal(await stores.identity.saveIdentity(them, first), IdentityChange.NewOrUnchanged)
  t.notOk(await stores.identity.isTrustedIdentity(them, second, Direction.Receiving), 'changed key')
  t.equal(stores.identity.lastRefusal?.kind, 'identity-changed')
  t.same(stores.identity.lastRefusal?.publicKey, second.serialize())
  t.ok(
    (await stores.identity.getIdentity(them))?.equals(first),
    'the old key is still the trusted one',
  )
  t.equal(await stores.identity.saveIdentity(them, second), IdentityChange.ReplacedExisting)

  const strict = new SignalStores(storage, me, 77, new ManualClock())
  t.notOk(
    await strict.identity.isTrustedIdentity(them, first, Direction.Receiving),
    'not the hash of the ID',
  )
  t.equal(strict.identity.lastRefusal?.kind, 'impersonation')
})

t.test('Kyber store: a (key, signed key, base key) triple is accepted once', async (t) => {
  const me = Identity.generate(libsignalKeys)
  const stores = new SignalStores(new MemorySignalStorage(), me, 1, new ManualClock())
  const kem = KEMKeyPair.generate()
  await stores.kyberPreKey.saveKyberPreKey(
    3,
    KyberPreKeyRecord.new(3, 0, kem, me.sign(kem.getPublicKey().serialize())),
  )
  t.equal((await stores.kyberPreKey.getKyberPreKey(3)).id(), 3)
  const base = PrivateKey.generate().getPublicKey()
  await stores.kyberPreKey.markKyberPreKeyUsed(3, 1, base)
  await t.rejects(stores.kyberPreKey.markKyberPreKeyUsed(3, 1, base), ReplayError)
  await stores.kyberPreKey.markKyberPreKeyUsed(3, 1, PrivateKey.generate().getPublicKey())
})

t.test('sender-key store: a group message round trip through it', async (t) => {
  const alice = Identity.generate(libsignalKeys)
  const aliceStores = new SignalStores(new MemorySignalStorage(), alice, 1, new ManualClock())
  const bobStores = new SignalStores(
    new MemorySignalStorage(),
    Identity.generate(libsignalKeys),
    2,
    new ManualClock(),
  )
  const sender = ProtocolAddress.new(alice.textId, 1)
  const distributionId = 'd1b2c3d4-0000-4000-8000-000000000001'
  const distribution = await SenderKeyDistributionMessage.create(
    sender,
    distributionId,
    aliceStores.senderKey,
  )
  await processSenderKeyDistributionMessage(
    sender,
    SenderKeyDistributionMessage.deserialize(distribution.serialize()),
    bobStores.senderKey,
  )
  const message = await groupEncrypt(
    sender,
    distributionId,
    aliceStores.senderKey,
    utf8('to the group'),
  )
  t.equal(
    fromUtf8(await groupDecrypt(sender, bobStores.senderKey, message.serialize())),
    'to the group',
  )
})

t.test('session cache: a rolled-back save is not served from the cache', async (t) => {
  const alice = await LibsignalSession.open({
    identity: Identity.generate(libsignalKeys),
    storage: new MemorySignalStorage(),
  })
  const bob = await LibsignalSession.open({
    identity: Identity.generate(libsignalKeys),
    storage: new MemorySignalStorage(),
  })
  await bob.generatePreKeys({ oneTimeCount: 1 })
  await alice.processPreKeyBundle(bob.address, await bob.createPreKeyBundle())
  const cache = new SessionCache()
  const address = ProtocolAddress.new(bob.address.name, 1)
  const stores = (tx: SignalStorage) =>
    new SignalStores(tx, alice.identity, 1, new ManualClock(), undefined, cache)
  const before = await stores(alice.storage).session.getSession(address)
  t.ok(before)
  const fresh = SessionRecord.deserialize(before!.serialize())
  fresh.archiveCurrentState()
  await t.rejects(
    alice.storage.transaction(async (tx) => {
      await stores(tx).session.saveSession(address, fresh)
      t.notOk((await stores(tx).session.getSession(address))?.hasCurrentState(), 'seen inside')
      throw new Error('roll back')
    }),
  )
  const after = await stores(alice.storage).session.getSession(address)
  t.ok(after?.hasCurrentState(), 'the stored record, not the cached rolled-back one')
  t.ok(await alice.hasSession(bob.address))
})
