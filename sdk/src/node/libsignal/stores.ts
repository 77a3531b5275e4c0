import type { Direction, PrivateKey, ProtocolAddress } from '@signalapp/libsignal-client'
import {
  IdentityChange,
  IdentityKeyStore,
  KyberPreKeyRecord,
  KyberPreKeyStore,
  PreKeyRecord,
  PreKeyStore,
  PublicKey,
  SenderKeyRecord,
  SenderKeyStore,
  SessionRecord,
  SessionStore,
  SignedPreKeyRecord,
  SignedPreKeyStore,
  type Uuid,
} from '@signalapp/libsignal-client'
import { ReplayError, UnknownPreKeyError, type PassageError } from '../../core/errors.js'
import type { Identity } from '../../core/identity/identity.js'
import type { Clock } from '../../core/runtime/clock.js'
import { addressKey } from '../../core/signal/signal-address.js'
import {
  accountKeyPolicy,
  type IdentityKeyPolicy,
  type IdentityRefusal,
} from '../../core/signal/signal-state.js'
import {
  holdsLiveValues,
  SignalNamespace as NS,
  type SignalStorage,
} from '../../core/signal/signal-storage.js'
import { BoundedMap } from '../../core/util/bounded-map.js'
import { BinaryWriter } from '../../core/wire/binary.js'
import { equalBytes, toBytes, toHex, type Bytes } from '../../core/wire/bytes.js'
import { libsignalKeyPair } from './key-provider.js'
import { fromProtocolAddress } from './protocol-address.js'

/**
 * libsignal wraps an error thrown by a store in its own; the stores also leave it here so the
 * caller can report the SDK's typed error.
 */
export interface StoreFailure {
  error?: PassageError
}

function fail(failure: StoreFailure | undefined, error: PassageError): never {
  if (failure) failure.error = error
  throw error
}

function u64(value: number): Bytes {
  return new BinaryWriter().u64(value).finish()
}

/** Parsed session records that outlive one operation (see {@link SessionCache}). */
const MAX_CACHED_SESSIONS = 256 // a record is about 7 KB of native memory

/**
 * Parsed session records by address, with the bytes they were parsed from. A record is
 * reused only while the storage holds exactly those bytes, so a rolled-back transaction or a
 * write by anyone else simply misses. Safe because libsignal never edits a record it is
 * given: it saves a new one.
 */
export class SessionCache {
  private readonly entries = new BoundedMap<string, { bytes: Uint8Array; record: SessionRecord }>(
    MAX_CACHED_SESSIONS,
  )

  get(key: string, bytes: Uint8Array): SessionRecord | undefined {
    const entry = this.entries.get(key)
    if (!entry) return undefined
    if (entry.bytes === bytes || Buffer.compare(entry.bytes, bytes) === 0) return entry.record
    return undefined
  }

  set(key: string, bytes: Uint8Array, record: SessionRecord): void {
    this.entries.set(key, { bytes, record })
  }
}

/** Session records by address. */
export class SignalSessionStore extends SessionStore {
  constructor(
    private readonly storage: SignalStorage,
    private readonly cache: SessionCache = new SessionCache(),
  ) {
    super()
  }

  async saveSession(name: ProtocolAddress, record: SessionRecord): Promise<void> {
    const key = addressKey(fromProtocolAddress(name))
    if (holdsLiveValues(this.storage)) {
      // Serialized once per commit, however many messages advanced it meanwhile.
      await this.storage.putLive(NS.session, key, {
        object: record,
        serialize: () => {
          const bytes = record.serialize()
          this.cache.set(key, bytes, record)
          return bytes
        },
      })
      return
    }
    const bytes = record.serialize()
    await this.storage.put(NS.session, key, bytes)
    this.cache.set(key, bytes, record)
  }

  async getSession(name: ProtocolAddress): Promise<SessionRecord | null> {
    const key = addressKey(fromProtocolAddress(name))
    if (holdsLiveValues(this.storage)) {
      // Written earlier in this transaction: the very object, no bytes involved.
      const live = this.storage.getLive(NS.session, key)
      if (live instanceof SessionRecord) return live
    }
    const bytes = await this.storage.get(NS.session, key)
    if (!bytes) return null
    const cached = this.cache.get(key, bytes)
    if (cached) return cached
    const record = SessionRecord.deserialize(bytes as Bytes)
    this.cache.set(key, bytes, record)
    return record
  }

  async getExistingSessions(addresses: ProtocolAddress[]): Promise<SessionRecord[]> {
    const found: SessionRecord[] = []
    for (const address of addresses) {
      const record = await this.getSession(address)
      if (record) found.push(record)
    }
    return found
  }
}

/**
 * Identity keys of others, trust on first use: the first key seen for an address is kept; a
 * different key later is refused (recorded as pending, see {@link acceptIdentityChange}) and
 * never silently trusted. A key the {@link IdentityKeyPolicy} rejects is refused as
 * impersonation. {@link lastRefusal} says why the last key was refused.
 */
export class SignalIdentityStore extends IdentityKeyStore {
  lastRefusal: IdentityRefusal | undefined

  constructor(
    private readonly storage: SignalStorage,
    private readonly identity: Identity,
    private readonly registrationId: number,
    private readonly policy: IdentityKeyPolicy = accountKeyPolicy,
  ) {
    super()
  }

  getIdentityKey(): Promise<PrivateKey> {
    return Promise.resolve(libsignalKeyPair(this.identity).privateKey)
  }

  getLocalRegistrationId(): Promise<number> {
    return Promise.resolve(this.registrationId)
  }

  async saveIdentity(name: ProtocolAddress, key: PublicKey): Promise<IdentityChange> {
    const address = fromProtocolAddress(name)
    const bytes = key.serialize()
    const known = await this.storage.get(NS.identity, addressKey(address))
    if (known && equalBytes(known, bytes)) return IdentityChange.NewOrUnchanged
    await this.storage.put(NS.identity, addressKey(address), bytes)
    await this.storage.delete(NS.identityPending, addressKey(address))
    return known ? IdentityChange.ReplacedExisting : IdentityChange.NewOrUnchanged
  }

  async isTrustedIdentity(
    name: ProtocolAddress,
    key: PublicKey,
    _direction: Direction,
  ): Promise<boolean> {
    const address = fromProtocolAddress(name)
    const bytes = key.serialize()
    if (!this.policy(address, bytes)) {
      this.lastRefusal = { kind: 'impersonation', address, publicKey: bytes }
      return false
    }
    const known = await this.storage.get(NS.identity, addressKey(address))
    if (!known || equalBytes(known, bytes)) return true
    await this.storage.put(NS.identityPending, addressKey(address), bytes)
    this.lastRefusal = { kind: 'identity-changed', address, publicKey: bytes }
    return false
  }

  async getIdentity(name: ProtocolAddress): Promise<PublicKey | null> {
    const bytes = await this.storage.get(NS.identity, addressKey(fromProtocolAddress(name)))
    return bytes ? PublicKey.deserialize(toBytes(bytes)) : null
  }
}

/**
 * One-time pre-keys. A used key is marked, not deleted: in a DHT two senders can pick the same
 * key from one published bundle, and the second must still be readable. Used keys are deleted
 * after a grace period by {@link purgeUsedPreKeys}; replays are refused by the session, not by
 * the absence of the key.
 */
export class SignalPreKeyStore extends PreKeyStore {
  constructor(
    private readonly storage: SignalStorage,
    private readonly clock: Clock,
    private readonly failure?: StoreFailure,
  ) {
    super()
  }

  async savePreKey(id: number, record: PreKeyRecord): Promise<void> {
    await this.storage.put(NS.preKey, String(id), record.serialize())
  }

  async getPreKey(id: number): Promise<PreKeyRecord> {
    const bytes = await this.storage.get(NS.preKey, String(id))
    if (!bytes) fail(this.failure, new UnknownPreKeyError(`no one-time pre-key ${id}`))
    return PreKeyRecord.deserialize(toBytes(bytes))
  }

  async removePreKey(id: number): Promise<void> {
    if (await this.storage.get(NS.preKeyUsed, String(id))) return
    await this.storage.put(NS.preKeyUsed, String(id), u64(this.clock.now()))
  }
}

/** Signed pre-keys by ID; old ones stay so that first messages still in flight decrypt. */
export class SignalSignedPreKeyStore extends SignedPreKeyStore {
  constructor(
    private readonly storage: SignalStorage,
    private readonly failure?: StoreFailure,
  ) {
    super()
  }

  async saveSignedPreKey(id: number, record: SignedPreKeyRecord): Promise<void> {
    await this.storage.put(NS.signedPreKey, String(id), record.serialize())
  }

  async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> {
    const bytes = await this.storage.get(NS.signedPreKey, String(id))
    if (!bytes) fail(this.failure, new UnknownPreKeyError(`no signed pre-key ${id}`))
    return SignedPreKeyRecord.deserialize(toBytes(bytes))
  }
}

/**
 * Kyber pre-keys (last-resort keys: reused by many senders). Each (Kyber key, signed pre-key,
 * sender base key) is accepted once: a first message replayed against them is refused.
 */
export class SignalKyberPreKeyStore extends KyberPreKeyStore {
  constructor(
    private readonly storage: SignalStorage,
    private readonly clock: Clock,
    private readonly failure?: StoreFailure,
  ) {
    super()
  }

  async saveKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> {
    await this.storage.put(NS.kyberPreKey, String(id), record.serialize())
  }

  async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> {
    const bytes = await this.storage.get(NS.kyberPreKey, String(id))
    if (!bytes) fail(this.failure, new UnknownPreKeyError(`no Kyber pre-key ${id}`))
    return KyberPreKeyRecord.deserialize(toBytes(bytes))
  }

  async markKyberPreKeyUsed(id: number, signedPreKeyId: number, baseKey: PublicKey): Promise<void> {
    const key = `${id}.${signedPreKeyId}.${toHex(baseKey.serialize())}`
    if (await this.storage.get(NS.kyberPreKeyUsed, key)) {
      fail(
        this.failure,
        new ReplayError('this first message was already processed with this Kyber pre-key'),
      )
    }
    await this.storage.put(NS.kyberPreKeyUsed, key, u64(this.clock.now()))
  }
}

/** Sender keys (group messaging, later) by sender address and distribution ID. */
export class SignalSenderKeyStore extends SenderKeyStore {
  constructor(private readonly storage: SignalStorage) {
    super()
  }

  async saveSenderKey(
    sender: ProtocolAddress,
    distributionId: Uuid,
    record: SenderKeyRecord,
  ): Promise<void> {
    await this.storage.put(NS.senderKey, senderKeyKey(sender, distributionId), record.serialize())
  }

  async getSenderKey(
    sender: ProtocolAddress,
    distributionId: Uuid,
  ): Promise<SenderKeyRecord | null> {
    const bytes = await this.storage.get(NS.senderKey, senderKeyKey(sender, distributionId))
    return bytes ? SenderKeyRecord.deserialize(toBytes(bytes)) : null
  }
}

function senderKeyKey(sender: ProtocolAddress, distributionId: Uuid): string {
  return `${addressKey(fromProtocolAddress(sender))}/${distributionId}`
}

/** Every libsignal store of one identity over one {@link SignalStorage} (or a transaction's view). */
export class SignalStores {
  readonly session: SignalSessionStore
  readonly identity: SignalIdentityStore
  readonly preKey: SignalPreKeyStore
  readonly signedPreKey: SignalSignedPreKeyStore
  readonly kyberPreKey: SignalKyberPreKeyStore
  readonly senderKey: SignalSenderKeyStore
  /** The SDK error a store threw during the last libsignal call, if any. */
  readonly failure: StoreFailure = {}

  constructor(
    readonly storage: SignalStorage,
    identity: Identity,
    registrationId: number,
    clock: Clock,
    policy?: IdentityKeyPolicy,
    sessionCache?: SessionCache,
  ) {
    this.session = new SignalSessionStore(storage, sessionCache)
    this.identity = new SignalIdentityStore(storage, identity, registrationId, policy)
    this.preKey = new SignalPreKeyStore(storage, clock, this.failure)
    this.signedPreKey = new SignalSignedPreKeyStore(storage, this.failure)
    this.kyberPreKey = new SignalKyberPreKeyStore(storage, clock, this.failure)
    this.senderKey = new SignalSenderKeyStore(storage)
  }
}
