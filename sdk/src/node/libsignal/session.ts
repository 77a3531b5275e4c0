// Over 500 lines: the SignalSession port on libsignal in one class: pre-keys, 1:1 sessions,
// sealed messages and sender keys share its identity, storage and persist-in-transaction
// rule. Splitting the group (sender-key) methods out is the next step.
import {
  CiphertextMessageType,
  ErrorCode,
  groupDecrypt,
  groupEncrypt,
  LibSignalErrorBase,
  PreKeySignalMessage,
  processPreKeyBundle,
  processSenderKeyDistributionMessage,
  type ProtocolAddress,
  SenderKeyDistributionMessage,
  SenderKeyMessage,
  SignalMessage,
  signalDecrypt,
  signalDecryptPreKey,
  signalEncrypt,
} from '@signalapp/libsignal-client'
import {
  IdentityChangedError,
  ImpersonationError,
  KeyMismatchError,
  MalformedError,
  NoSenderKeyError,
  NoSessionError,
  PassageError,
  ReplayError,
  TamperedError,
} from '../../core/errors.js'
import type { Identity } from '../../core/identity/identity.js'
import { systemClock, type Clock } from '../../core/runtime/clock.js'
import { systemRandom, type Random } from '../../core/runtime/host.js'
import { verifyPreKeyBundle, type PreKeyBundle } from '../../core/signal/pre-key-bundle.js'
import {
  openSealedMessage,
  sealMessage,
  SignalMessageType,
} from '../../core/signal/sealed-message.js'
import {
  addressKey,
  checkDeviceId,
  PRIMARY_DEVICE_ID,
  signalAddressOfKey,
  type SignalAddress,
} from '../../core/signal/signal-address.js'
import {
  USED_PRE_KEY_GRACE_MS,
  type DecryptOptions,
  type EncryptOptions,
  type GeneratedPreKeys,
  type OpenedMessage,
  type SignalCiphertext,
  type SignalProvider,
  type SignalSession,
  type SignalSessionOptions,
} from '../../core/signal/signal-session.js'
import {
  acceptIdentityChange,
  accountKeyPolicy,
  countOneTimePreKeys,
  pendingIdentityKey,
  purgeUsedPreKeys,
  trustedIdentityKey,
  unusedPreKeyIds,
  type IdentityKeyPolicy,
} from '../../core/signal/signal-state.js'
import { SignalNamespace as NS, type SignalStorage } from '../../core/signal/signal-storage.js'
import { BoundedMap } from '../../core/util/bounded-map.js'
import { equalBytes, fromHex, toBytes, toHex, type Bytes } from '../../core/wire/bytes.js'
import {
  createPreKeyBundle,
  generatePreKeys,
  loadRegistrationId,
  toLibsignalBundle,
} from './pre-keys.js'
import { toProtocolAddress } from './protocol-address.js'
import { SessionCache, SignalStores } from './stores.js'

/** Addresses whose accepted identity key is remembered (the policy hashes the key). */
const MAX_ACCEPTED_KEYS = 10_000 // 33 B each, a few hundred kB at most

/** libsignal address objects kept per session. */
const MAX_CACHED_ADDRESSES = 1024 // small native objects: the peers one talks to

/**
 * {@link SignalSession} on libsignal (`@signalapp/libsignal-client`): one device's pre-keys,
 * sessions, encryption and sealed messages. Every operation runs in one {@link SignalStorage}
 * transaction, so a failed decryption changes nothing and two operations never interleave.
 *
 * @example
 * const bob = await LibsignalSession.open({ identity: bobId, storage: new MemorySignalStorage() })
 * await bob.generatePreKeys()
 * const bundle = await bob.createPreKeyBundle()          // publish it
 * const sealed = await alice.seal(bob.address, utf8('hi'), { bundle })
 * const { sender, plaintext } = await bob.openSealed(sealed)
 */
export class LibsignalSession implements SignalSession {
  /** This device's address: the identity's text ID and the device ID. */
  readonly address: SignalAddress

  /** The account key this device belongs to (its own key for device 1). */
  readonly accountKey: Bytes

  private constructor(
    readonly identity: Identity,
    readonly storage: SignalStorage,
    readonly registrationId: number,
    deviceId: number,
    accountKey: Bytes | undefined,
    private readonly clock: Clock,
    private readonly keyPolicy: IdentityKeyPolicy,
    private readonly fetchBundle: SignalSessionOptions['fetchBundle'],
    private readonly random: Random,
  ) {
    this.accountKey = accountKey ?? identity.publicKey
    this.address = accountKey
      ? signalAddressOfKey(accountKey, deviceId)
      : { name: identity.textId, deviceId }
  }

  /** Opens (or starts) the Signal state of `identity` in `storage`. */
  static async open(options: SignalSessionOptions): Promise<LibsignalSession> {
    const deviceId = options.deviceId ?? PRIMARY_DEVICE_ID
    checkDeviceId(deviceId)
    const owner = await options.storage.get(NS.local, 'identity-public-key')
    if (owner && !equalBytes(owner, options.identity.publicKey)) {
      throw new MalformedError('this Signal storage belongs to another identity')
    }
    if (!owner)
      await options.storage.put(NS.local, 'identity-public-key', options.identity.publicKey)
    const random = options.random ?? systemRandom
    const registrationId = await loadRegistrationId(options.storage, random)
    return new LibsignalSession(
      options.identity,
      options.storage,
      registrationId,
      deviceId,
      options.accountKey,
      options.clock ?? systemClock,
      options.keyPolicy ?? accountKeyPolicy,
      options.fetchBundle,
      random,
    )
  }

  private readonly sessionCache = new SessionCache()

  /** Sessions being started from a fetched bundle, by address (see `encryptThen`). */
  private readonly starting = new Map<string, Promise<void>>()

  /** Keys the policy accepted, by address: the policy must be a pure function. */
  private readonly accepted = new BoundedMap<string, Uint8Array>(MAX_ACCEPTED_KEYS)

  private readonly checkKey: IdentityKeyPolicy = (address, publicKey) => {
    const key = addressKey(address)
    const known = this.accepted.get(key)
    if (known && equalBytes(known, publicKey)) return true
    const ok = this.keyPolicy(address, publicKey)
    if (ok) this.accepted.set(key, toBytes(publicKey))
    return ok
  }

  /** libsignal addresses by address key: each is a native object, made once, not per message. */
  private readonly protocolAddresses = new BoundedMap<string, ProtocolAddress>(MAX_CACHED_ADDRESSES)

  private protocolAddress(address: SignalAddress): ProtocolAddress {
    return this.protocolAddresses.getOrSet(addressKey(address), () => toProtocolAddress(address))
  }

  private stores(tx: SignalStorage): SignalStores {
    return new SignalStores(
      tx,
      this.identity,
      this.registrationId,
      this.clock,
      this.checkKey,
      this.sessionCache,
    )
  }

  /** Makes one-time pre-keys (default 100) and, the first time or with `rotate`, a signed and a Kyber pre-key. */
  generatePreKeys(
    options: { oneTimeCount?: number; rotate?: boolean } = {},
  ): Promise<GeneratedPreKeys> {
    return generatePreKeys(this.storage, this.identity, this.clock, options)
  }

  /** One-time pre-keys not used yet. */
  countOneTimePreKeys(): Promise<number> {
    return countOneTimePreKeys(this.storage)
  }

  /** Deletes one-time pre-keys used longer ago than `graceMs`. */
  purgeUsedPreKeys(graceMs: number = USED_PRE_KEY_GRACE_MS): Promise<number> {
    return purgeUsedPreKeys(this.storage, this.clock.now(), graceMs)
  }

  /**
   * Signs a bundle of the current pre-keys with up to `oneTimeCount` (at most 16) unused
   * one-time pre-keys. `seq` defaults to the clock's milliseconds, so it grows.
   */
  async createPreKeyBundle(
    options: { seq?: number; oneTimeCount?: number } = {},
  ): Promise<PreKeyBundle> {
    const now = this.clock.now()
    return createPreKeyBundle(this.storage, this.identity, {
      deviceId: this.address.deviceId,
      registrationId: this.registrationId,
      seq: options.seq ?? now,
      timestamp: now,
      oneTimeCount: options.oneTimeCount,
      oneTimePreKeyIds: await unusedPreKeyIds(this.storage),
    })
  }

  /** True when there is a session with `address` that can send. */
  async hasSession(address: SignalAddress): Promise<boolean> {
    const record = await this.stores(this.storage).session.getSession(this.protocolAddress(address))
    return record?.hasCurrentState(new Date(this.clock.now())) ?? false
  }

  /** The identity key trusted for `address` (33 bytes), once a session exists. */
  trustedIdentityKey(address: SignalAddress): Promise<Bytes | undefined> {
    return trustedIdentityKey(this.storage, address)
  }

  /** The changed key of `address` waiting for {@link acceptIdentityChange}, if any. */
  pendingIdentityKey(address: SignalAddress): Promise<Bytes | undefined> {
    return pendingIdentityKey(this.storage, address)
  }

  /** Trusts the changed identity key of `address` (after the user verified it). */
  acceptIdentityChange(address: SignalAddress): Promise<Bytes | undefined> {
    return acceptIdentityChange(this.storage, address)
  }

  /** Forgets `address`: session, trusted and pending keys, and the policy's acceptance. */
  async forget(
    address: SignalAddress,
    persist?: (tx: SignalStorage) => Promise<void>,
  ): Promise<void> {
    const key = addressKey(address)
    this.accepted.delete(key)
    await this.storage.transaction(async (tx) => {
      await tx.delete(NS.session, key)
      await tx.delete(NS.identity, key)
      await tx.delete(NS.identityPending, key)
      await persist?.(tx)
    })
  }

  /**
   * Starts a session with `address` from its bundle (verified here: record signature,
   * pre-key signatures, the device, and that the key policy accepts the bundle's key for the
   * address: the key its account's device list names).
   */
  async processPreKeyBundle(address: SignalAddress, bundle: PreKeyBundle): Promise<void> {
    const payload = verifyPreKeyBundle(bundle, this.identity.keys, { deviceId: address.deviceId })
    if (!this.checkKey(address, bundle.record.publicKey)) {
      throw new KeyMismatchError(`the bundle's key is not the one of ${addressKey(address)}`)
    }
    const libBundle = toLibsignalBundle(bundle, payload, (count) => randomIndex(this.random, count))
    await this.run('direct', async (stores) => {
      await processPreKeyBundle(
        libBundle,
        this.protocolAddress(address),
        this.protocolAddress(this.address),
        stores.session,
        stores.identity,
        new Date(this.clock.now()),
      )
    })
  }

  /**
   * Encrypts `plaintext` for `recipient`. Without a session it starts one from `bundle`, or
   * from `fetchBundle`; the first messages are `preKey` messages until the recipient answers.
   * Throws {@link NoSessionError} when there is neither a session nor a bundle, and
   * {@link IdentityChangedError} while a changed identity key of the recipient awaits acceptance.
   *
   * `persist` runs inside the transaction that advances the session: store the ciphertext in
   * the outbox there (same SQLite transaction), and a crash never leaves one without the other.
   */
  encrypt(
    recipient: SignalAddress,
    plaintext: Uint8Array,
    options: EncryptOptions<SignalCiphertext> = {},
  ): Promise<SignalCiphertext> {
    return this.encryptThen(recipient, plaintext, options, async (message) => message)
  }

  /**
   * Encrypts `plaintext` for `recipient` and seals it to the recipient's identity key: the
   * result can sit in a DHT mailbox without telling its storage nodes who sent it.
   * `persist` as for {@link encrypt}, with the sealed bytes.
   */
  seal(
    recipient: SignalAddress,
    plaintext: Uint8Array,
    options: EncryptOptions<Bytes> = {},
  ): Promise<Bytes> {
    return this.encryptThen(recipient, plaintext, options, async (message, tx) => {
      const recipientKey = await trustedIdentityKey(tx, recipient)
      if (!recipientKey) throw new NoSessionError('no identity key for the recipient')
      return sealMessage(
        recipientKey,
        {
          senderPublicKey: this.identity.publicKey,
          senderDeviceId: this.address.deviceId,
          senderAccountKey: this.accountKey,
          type: message.type,
          ciphertext: message.body,
        },
        this.identity.keys,
      )
    })
  }

  private async encryptThen<T>(
    recipient: SignalAddress,
    plaintext: Uint8Array,
    options: EncryptOptions<T>,
    then: (message: SignalCiphertext, tx: SignalStorage) => Promise<T>,
  ): Promise<T> {
    const bundleFor = async () => {
      if (options.bundle) return this.processPreKeyBundle(recipient, options.bundle)
      // One start per device at a time: several first messages sent at once share the one
      // bundle fetched (one session, one one-time pre-key), rather than each asking the peer
      // for a bundle of its own and starting sessions that replace one another.
      const key = addressKey(recipient)
      let start = this.starting.get(key)
      if (!start) {
        start = (async () => {
          const bundle = await this.fetchBundle?.(recipient)
          if (!bundle) throw new NoSessionError()
          await this.processPreKeyBundle(recipient, bundle)
        })().finally(() => this.starting.delete(key))
        this.starting.set(key, start)
      }
      await start
    }
    // Both checks inside the transaction (one read each, no separate round before it); a
    // missing session is the NoSessionError below, and a bundle is fetched outside the
    // transaction, since that may wait on the network.
    const attempt = () =>
      this.run('direct', async (stores) => {
        const pending = await pendingIdentityKey(stores.storage, recipient)
        if (pending) {
          const error = new IdentityChangedError()
          error.address = addressKey(recipient)
          error.newPublicKey = pending
          throw error
        }
        const remote = this.protocolAddress(recipient)
        const now = new Date(this.clock.now())
        const record = await stores.session.getSession(remote)
        if (!record?.hasCurrentState(now)) throw new NoSessionError()
        const message = await signalEncrypt(
          toBytes(plaintext),
          remote,
          this.protocolAddress(this.address),
          stores.session,
          stores.identity,
          now,
        )
        const type = message.type()
        if (type !== CiphertextMessageType.PreKey && type !== CiphertextMessageType.Whisper) {
          throw new MalformedError(`unexpected Signal message type ${type}`)
        }
        const result = await then(
          { type: type as SignalMessageType, body: toBytes(message.serialize()) },
          stores.storage,
        )
        await options.persist?.(result, stores.storage)
        return result
      })
    try {
      return await attempt()
    } catch (error) {
      if (!(error instanceof NoSessionError)) throw error
      await bundleFor() // only an old (archived or expired) session: start a new one
      return attempt()
    }
  }

  /**
   * Decrypts a Signal message from `sender` (whose identity the caller already knows, as on
   * an authenticated direct link). Refusals: {@link TamperedError} (altered or not for us),
   * {@link ReplayError} (seen before), {@link NoSessionError}, {@link ImpersonationError}
   * (a first message whose identity key is not the sender's), {@link IdentityChangedError}.
   * A refused message changes no state.
   *
   * `persist` runs inside the transaction that advances the session: store the message
   * there, and a crash can neither lose it (session advanced, message not stored) nor show it
   * twice. When `persist` throws, nothing changes and the message can be decrypted again.
   */
  decrypt(
    sender: SignalAddress,
    message: SignalCiphertext,
    options: DecryptOptions<Bytes> = {},
  ): Promise<Bytes> {
    return this.run('direct', async (stores) => {
      const plaintext = await this.decryptWith(stores, sender, message)
      await options.persist?.(plaintext, stores.storage)
      return plaintext
    })
  }

  private async decryptWith(
    stores: SignalStores,
    sender: SignalAddress,
    message: SignalCiphertext,
  ): Promise<Bytes> {
    const remote = this.protocolAddress(sender)
    const local = this.protocolAddress(this.address)
    if (message.type === SignalMessageType.preKey) {
      let parsed: PreKeySignalMessage
      try {
        parsed = PreKeySignalMessage.deserialize(toBytes(message.body))
      } catch (cause) {
        throw new TamperedError('not a Signal pre-key message', { cause })
      }
      return toBytes(
        await signalDecryptPreKey(
          parsed,
          remote,
          local,
          stores.session,
          stores.identity,
          stores.preKey,
          stores.signedPreKey,
          stores.kyberPreKey,
        ),
      )
    }
    if (message.type !== SignalMessageType.whisper) {
      throw new MalformedError(`unknown Signal message type ${String(message.type)}`)
    }
    if (!(await stores.session.getSession(remote))) throw new NoSessionError()
    let parsed: SignalMessage
    try {
      parsed = SignalMessage.deserialize(toBytes(message.body))
    } catch (cause) {
      throw new TamperedError('not a Signal message', { cause })
    }
    return toBytes(await signalDecrypt(parsed, remote, local, stores.session, stores.identity))
  }

  /**
   * Opens a sealed message and decrypts it under the claimed sender's session, which proves
   * the sender: a Signal message only decrypts under the session bound to its maker's
   * identity key. Throws {@link TamperedError} when the seal does not open,
   * {@link ImpersonationError} when the Signal message was not made by the claimed sender,
   * {@link ReplayError} for a message already received. `persist` as for {@link decrypt}.
   */
  async openSealed(
    sealed: Uint8Array,
    options: DecryptOptions<OpenedMessage> = {},
  ): Promise<OpenedMessage> {
    const content = openSealedMessage(this.identity, sealed)
    const senderAccountKey = content.senderAccountKey ?? content.senderPublicKey
    const sender = signalAddressOfKey(senderAccountKey, content.senderDeviceId)
    return this.run('sealed', async (stores) => {
      const plaintext =
        content.type === SignalMessageType.senderKey
          ? await this.groupDecryptWith(stores, sender, content.ciphertext)
          : await this.decryptWith(stores, sender, { type: content.type, body: content.ciphertext })
      const bound = await stores.identity.getIdentity(this.protocolAddress(sender))
      if (!bound || !equalBytes(bound.serialize(), content.senderPublicKey)) {
        throw new ImpersonationError(
          'the session is bound to another identity key than the claimed sender',
        )
      }
      const opened: OpenedMessage = {
        sender,
        senderPublicKey: content.senderPublicKey,
        senderAccountKey,
        plaintext,
        ...(content.type === SignalMessageType.senderKey
          ? { groupDistributionId: this.groupDistributionId(content.ciphertext) }
          : {}),
      }
      await options.persist?.(opened, stores.storage)
      return opened
    })
  }

  /**
   * This device's distribution message for its chain `distributionId`, made the first time:
   * libsignal keeps one chain per (sender, distribution ID) in the sender-key store.
   */
  createGroupKey(distributionId: Uint8Array, options: EncryptOptions<Bytes> = {}): Promise<Bytes> {
    return this.run('direct', async (stores) => {
      const message = await SenderKeyDistributionMessage.create(
        this.protocolAddress(this.address),
        uuidOf(distributionId),
        stores.senderKey,
      )
      const bytes = toBytes(message.serialize())
      await options.persist?.(bytes, stores.storage)
      return bytes
    })
  }

  async processGroupKey(
    sender: SignalAddress,
    distribution: Uint8Array,
    options: DecryptOptions<Bytes> & { within?: SignalStorage } = {},
  ): Promise<Bytes> {
    let message: SenderKeyDistributionMessage
    try {
      message = SenderKeyDistributionMessage.deserialize(toBytes(distribution))
    } catch (cause) {
      throw new TamperedError('not a sender key distribution message', { cause })
    }
    const distributionId = bytesOfUuid(message.distributionId())
    const take = async (stores: SignalStores) => {
      await processSenderKeyDistributionMessage(
        this.protocolAddress(sender),
        message,
        stores.senderKey,
      )
      await options.persist?.(distributionId, stores.storage)
      return distributionId
    }
    if (!options.within) return this.run('direct', take)
    const stores = this.stores(options.within)
    try {
      return await take(stores)
    } catch (error) {
      throw mapError(error, stores, 'direct')
    }
  }

  groupEncrypt(
    distributionId: Uint8Array,
    plaintext: Uint8Array,
    options: EncryptOptions<Bytes> = {},
  ): Promise<Bytes> {
    return this.run('direct', async (stores) => {
      const self = this.protocolAddress(this.address)
      const id = uuidOf(distributionId)
      if (!(await stores.senderKey.getSenderKey(self, id))) {
        throw new NoSenderKeyError('this device has no chain with that distribution ID')
      }
      const message = await groupEncrypt(self, id, stores.senderKey, toBytes(plaintext))
      const bytes = toBytes(message.serialize())
      await options.persist?.(bytes, stores.storage)
      return bytes
    })
  }

  groupDecrypt(
    sender: SignalAddress,
    message: Uint8Array,
    options: DecryptOptions<Bytes> = {},
  ): Promise<Bytes> {
    return this.run('direct', async (stores) => {
      const plaintext = await this.groupDecryptWith(stores, sender, message)
      await options.persist?.(plaintext, stores.storage)
      return plaintext
    })
  }

  groupDistributionId(message: Uint8Array): Bytes {
    try {
      return bytesOfUuid(SenderKeyMessage.deserialize(toBytes(message)).distributionId())
    } catch (cause) {
      throw new TamperedError('not a group message', { cause })
    }
  }

  async sealGroupMessage(recipient: SignalAddress, message: Uint8Array): Promise<Bytes> {
    const recipientKey = await trustedIdentityKey(this.storage, recipient)
    if (!recipientKey) throw new NoSessionError('no identity key for the recipient')
    return sealMessage(
      recipientKey,
      {
        senderPublicKey: this.identity.publicKey,
        senderDeviceId: this.address.deviceId,
        senderAccountKey: this.accountKey,
        type: SignalMessageType.senderKey,
        ciphertext: toBytes(message),
      },
      this.identity.keys,
    )
  }

  private async groupDecryptWith(
    stores: SignalStores,
    sender: SignalAddress,
    message: Uint8Array,
  ): Promise<Bytes> {
    const distributionId = this.groupDistributionId(message)
    const remote = this.protocolAddress(sender)
    if (!(await stores.senderKey.getSenderKey(remote, uuidOf(distributionId)))) {
      throw new NoSenderKeyError()
    }
    return toBytes(await groupDecrypt(remote, stores.senderKey, toBytes(message)))
  }

  /** Runs `fn` in one transaction and turns libsignal's errors into the SDK's. */
  private async run<T>(
    mode: 'direct' | 'sealed',
    fn: (stores: SignalStores) => Promise<T>,
  ): Promise<T> {
    let stores: SignalStores | undefined
    try {
      return await this.storage.transaction((tx) => {
        stores = this.stores(tx)
        return fn(stores)
      })
    } catch (error) {
      const mapped = mapError(error, stores, mode)
      if (mapped instanceof IdentityChangedError && mapped.address && mapped.newPublicKey) {
        // The transaction rolled back; keep the changed key so the user can accept it.
        await this.storage.put(NS.identityPending, mapped.address, mapped.newPublicKey)
      }
      throw mapped
    }
  }
}

function mapError(
  error: unknown,
  stores: SignalStores | undefined,
  mode: 'direct' | 'sealed',
): Error {
  if (error instanceof PassageError) return error
  if (stores?.failure.error) return stores.failure.error
  if (!(error instanceof LibSignalErrorBase))
    return error instanceof Error ? error : new Error(String(error))
  const options = { cause: error }
  switch (error.code) {
    case ErrorCode.UntrustedIdentity: {
      const refusal = stores?.identity.lastRefusal
      if (refusal?.kind === 'identity-changed') {
        const changed = new IdentityChangedError(undefined, options)
        changed.address = addressKey(refusal.address)
        changed.newPublicKey = refusal.publicKey
        return changed
      }
      return new ImpersonationError(
        'the identity key is not the one of the claimed sender',
        options,
      )
    }
    case ErrorCode.DuplicatedMessage:
      return new ReplayError('this message was already received', options)
    case ErrorCode.InvalidSession:
      return new NoSessionError(undefined, options)
    default:
      return mode === 'sealed'
        ? new ImpersonationError(
            'the Signal message does not decrypt under the claimed sender’s session',
            options,
          )
        : new TamperedError(undefined, options)
  }
}

/** The UUID text libsignal names a distribution ID by, from its 16 bytes. */
function uuidOf(id: Uint8Array): string {
  if (id.byteLength !== 16) throw new MalformedError('a distribution ID is 16 bytes')
  const hex = toHex(id)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

function bytesOfUuid(uuid: string): Bytes {
  return fromHex(uuid.replace(/-/g, ''), 'distribution ID')
}

/** A uniform index below `count` (at most 256) from one random byte, without modulo bias. */
function randomIndex(random: Random, count: number): number {
  const limit = 256 - (256 % count)
  for (;;) {
    const byte = random(1)[0]!
    if (byte < limit) return byte % count
  }
}

/** Opens {@link LibsignalSession}s: the Signal provider for Node.js. */
export const libsignalSessions: SignalProvider = {
  open: (options) => LibsignalSession.open(options),
}
