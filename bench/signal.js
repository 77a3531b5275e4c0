// Issue 4 microbenchmark: one-way Signal encrypt+decrypt of 200 bytes in one process, per
// second of CPU time (robust on a shared machine; equal to wall time on an idle one).
// Ceiling: raw libsignal with stores that keep live objects (no serialization, no checks).
// Measured against it in the same run: the SDK's SignalSession over MemorySignalStorage
// (records serialized on every save, one transaction per operation), without and with sealing
// (HPKE to the recipient's identity key, as for DHT mailboxes).
import {
  IdentityKeyStore,
  PreKeySignalMessage,
  ProtocolAddress,
  SessionStore,
  SignalMessage,
  CiphertextMessageType,
  processPreKeyBundle,
  signalDecrypt,
  signalDecryptPreKey,
  signalEncrypt,
} from '@signalapp/libsignal-client'
import { Identity, MemorySignalStorage, systemClock, verifyPreKeyBundle } from '@passage/sdk'
import {
  SignalStores,
  toLibsignalBundle,
  libsignalKeys,
  libsignalKeyPair,
  LibsignalSession,
} from '@passage/sdk/node'
import { median, report } from './lib.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const MESSAGES = Number(process.env.BENCH_SIGNAL_MESSAGES ?? 2_000) // per round and variant
const WARMUP = 200 // messages before timing: JIT and allocator settle
const PLAINTEXT = new Uint8Array(200).fill(0x61) // a 200-byte text message

/** libsignal's stores at their cheapest: live objects in Maps, everything trusted. */
class RawSessionStore extends SessionStore {
  sessions = new Map()
  async saveSession(address, record) {
    this.sessions.set(address.toString(), record)
  }
  async getSession(address) {
    return this.sessions.get(address.toString()) ?? null
  }
  async getExistingSessions(addresses) {
    return addresses.map((a) => this.sessions.get(a.toString())).filter(Boolean)
  }
}

class RawIdentityStore extends IdentityKeyStore {
  constructor(identity, registrationId) {
    super()
    this.identity = identity
    this.registrationId = registrationId
    this.keys = new Map()
  }
  async getIdentityKey() {
    return libsignalKeyPair(this.identity).privateKey
  }
  async getLocalRegistrationId() {
    return this.registrationId
  }
  async saveIdentity(address, key) {
    this.keys.set(address.toString(), key)
    return 0
  }
  async isTrustedIdentity() {
    return true
  }
  async getIdentity(address) {
    return this.keys.get(address.toString()) ?? null
  }
}

/** Raw libsignal: Alice's session built from Bob's bundle, Bob's from her first message. */
export async function rawPair() {
  const bob = await LibsignalSession.open({
    identity: Identity.generate(libsignalKeys),
    storage: new MemorySignalStorage(),
  })
  await bob.generatePreKeys({ oneTimeCount: 1 })
  const bundle = await bob.createPreKeyBundle()
  const alice = Identity.generate(libsignalKeys)
  const aliceAddr = ProtocolAddress.new(alice.textId, 1)
  const bobAddr = ProtocolAddress.new(bob.address.name, 1)
  const a = { sessions: new RawSessionStore(), identity: new RawIdentityStore(alice, 1) }
  const b = { sessions: new RawSessionStore(), identity: new RawIdentityStore(bob.identity, 2) }
  await processPreKeyBundle(
    toLibsignalBundle(bundle, verifyPreKeyBundle(bundle, libsignalKeys)),
    bobAddr,
    aliceAddr,
    a.sessions,
    a.identity,
  )
  // Bob's pre-key stores: the SDK's, only for this first message.
  const bobStores = new SignalStores(bob.storage, bob.identity, bob.registrationId, systemClock)
  const first = await signalEncrypt(PLAINTEXT, bobAddr, aliceAddr, a.sessions, a.identity)
  await signalDecryptPreKey(
    PreKeySignalMessage.deserialize(first.serialize()),
    aliceAddr,
    bobAddr,
    b.sessions,
    b.identity,
    bobStores.preKey,
    bobStores.signedPreKey,
    bobStores.kyberPreKey,
  )
  const reply = await signalEncrypt(PLAINTEXT, aliceAddr, bobAddr, b.sessions, b.identity)
  await signalDecrypt(
    SignalMessage.deserialize(reply.serialize()),
    bobAddr,
    aliceAddr,
    a.sessions,
    a.identity,
  )
  return async () => {
    const message = await signalEncrypt(PLAINTEXT, bobAddr, aliceAddr, a.sessions, a.identity)
    if (message.type() !== CiphertextMessageType.Whisper) throw new Error('expected a whisper')
    await signalDecrypt(
      SignalMessage.deserialize(message.serialize()),
      aliceAddr,
      bobAddr,
      b.sessions,
      b.identity,
    )
  }
}

/** The SDK pipeline: two SignalSessions over MemorySignalStorage, session established. */
async function sdkPair() {
  const alice = await LibsignalSession.open({
    identity: Identity.generate(libsignalKeys),
    storage: new MemorySignalStorage(),
  })
  const bob = await LibsignalSession.open({
    identity: Identity.generate(libsignalKeys),
    storage: new MemorySignalStorage(),
  })
  await bob.generatePreKeys({ oneTimeCount: 1 })
  const bundle = await bob.createPreKeyBundle()
  await bob.decrypt(alice.address, await alice.encrypt(bob.address, PLAINTEXT, { bundle }))
  await alice.decrypt(bob.address, await bob.encrypt(alice.address, PLAINTEXT))
  return {
    direct: async () => {
      const message = await alice.encrypt(bob.address, PLAINTEXT)
      await bob.decrypt(alice.address, message)
    },
    sealed: async () => {
      const sealed = await alice.seal(bob.address, PLAINTEXT)
      const opened = await bob.openSealed(sealed)
      if (opened.plaintext.byteLength !== PLAINTEXT.byteLength) throw new Error('wrong plaintext')
    },
  }
}

const CHUNK = 50 // messages per variant before switching: drift in machine speed hits all alike

/**
 * Messages per second of each step, run sequentially `count` times after a warm-up, in
 * interleaved chunks. Per second of this process's CPU time (user + system): libsignal runs
 * synchronously on this thread, so on an idle machine that is wall time, and on a shared one
 * other processes do not distort it. Wall-clock rates come along for reference.
 */
async function rates(steps, count) {
  for (const step of steps) for (let i = 0; i < WARMUP; i++) await step()
  const cpuMicros = steps.map(() => 0)
  const wallNanos = steps.map(() => 0n)
  let done = 0
  for (; done < count; done += CHUNK) {
    for (const [index, step] of steps.entries()) {
      const wall = process.hrtime.bigint()
      const cpu = process.cpuUsage()
      for (let i = 0; i < CHUNK; i++) await step()
      const used = process.cpuUsage(cpu)
      cpuMicros[index] += used.user + used.system
      wallNanos[index] += process.hrtime.bigint() - wall
    }
  }
  return steps.map((_, i) => ({
    cpu: done / (cpuMicros[i] / 1e6),
    wall: done / (Number(wallNanos[i]) / 1e9),
  }))
}

/**
 * Prints raw libsignal one-way encrypt+decrypt per second (the ceiling), the SDK's
 * SignalSession without and with sealing, and their ratios to the ceiling. Returns the medians.
 */
export async function benchSignal() {
  console.log(
    `\n# Signal: one-way encrypt+decrypt of 200 B, one process, ${ROUNDS} rounds × ${MESSAGES} messages (medians)`,
  )
  const raw = []
  const direct = []
  const sealed = []
  for (let round = 0; round < ROUNDS; round++) {
    const sdk = await sdkPair()
    const [r, d, s] = await rates([await rawPair(), sdk.direct, sdk.sealed], MESSAGES)
    raw.push(r)
    direct.push(d)
    sealed.push(s)
  }
  const cpu = (list) => median(list.map((r) => r.cpu))
  const wall = (list) => median(list.map((r) => r.wall))
  const ceiling = cpu(raw)
  const result = { raw: ceiling, direct: cpu(direct), sealed: cpu(sealed) }
  report('libsignal raw encrypt+decrypt (ceiling)', ceiling, ceiling, undefined, '/cpu-s')
  report(
    'SignalSession encrypt+decrypt (MemoryStorage)',
    result.direct,
    ceiling,
    undefined,
    '/cpu-s',
  )
  report('SignalSession seal+encrypt, open+decrypt', result.sealed, ceiling, undefined, '/cpu-s')
  report('  wall clock: SignalSession encrypt+decrypt', wall(direct), wall(raw))
  report('  wall clock: seal+encrypt, open+decrypt', wall(sealed), wall(raw))
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) await benchSignal()
