import type { Identity } from '../identity/identity.js'
import type { Clock } from '../runtime/clock.js'
import type { Random } from '../runtime/host.js'
import type { Bytes } from '../wire/bytes.js'
import type { PreKeyBundle } from './pre-key-bundle.js'
import type { SignalMessageType } from './sealed-message.js'
import type { SignalAddress } from './signal-address.js'
import type { IdentityKeyPolicy } from './signal-state.js'
import type { SignalStorage } from './signal-storage.js'

/** How long a used one-time pre-key stays decryptable for a second sender of the same bundle. */
export const USED_PRE_KEY_GRACE_MS = 7 * 24 * 3600_000 // 7 days: longer than a bundle lives in the DHT

/** A Signal message and its type: `preKey` for a first message, `whisper` afterwards. */
export interface SignalCiphertext {
  type: SignalMessageType
  body: Bytes
}

/** A sealed message opened and proven: the sender is the one the Signal session is bound to. */
export interface OpenedMessage {
  /** The sender's account (its text ID) and device. */
  sender: SignalAddress
  /** The sender device's key, the one its session is bound to. */
  senderPublicKey: Bytes
  /** The sender's account key (the device key for device 1). */
  senderAccountKey: Bytes
  plaintext: Bytes
  /** Set for a group message (inner type 7): the sender's chain it was decrypted under. */
  groupDistributionId?: Bytes
}

/** Options of {@link SignalSession.encrypt} and {@link SignalSession.seal}. */
export interface EncryptOptions<T> {
  /** Starts the session when there is none (else `fetchBundle` is asked). */
  bundle?: PreKeyBundle
  /**
   * Runs inside the transaction that advances the session, with its storage view. It must
   * not call this SignalSession (transactions run one at a time: that would wait forever).
   */
  persist?: (result: T, tx: SignalStorage) => Promise<void>
}

/** Options of {@link SignalSession.decrypt} and {@link SignalSession.openSealed}. */
export interface DecryptOptions<T> {
  /** Runs inside the transaction that advances the session; throwing undoes it. Same rule. */
  persist?: (result: T, tx: SignalStorage) => Promise<void>
}

/** What {@link SignalSession.generatePreKeys} made. */
export interface GeneratedPreKeys {
  oneTimePreKeyIds: number[]
  signedPreKeyId: number
  kyberPreKeyId: number
  /** True when a new signed pre-key and Kyber pre-key were made (first run or `rotate`). */
  rotated: boolean
}

/** What {@link SignalProvider.open} takes. */
export interface SignalSessionOptions {
  /** This device's identity (its device key; device 1's is the account key). */
  identity: Identity
  storage: SignalStorage
  /** This device: 1 (the default) to 127. */
  deviceId?: number
  /**
   * The account key this device belongs to (33 bytes), when it is not the identity's own key:
   * the address is then the account's text ID, and sealed messages name the account.
   */
  accountKey?: Bytes
  clock?: Clock
  /** Registration IDs and bundle choices; the host's secure random by default. */
  random?: Random
  /** Which identity keys an address may have at all (a pure function); default `accountKeyPolicy`. */
  keyPolicy?: IdentityKeyPolicy
  /** Where {@link SignalSession.encrypt} gets a bundle when it has no session (DHT, HTTP). */
  fetchBundle?: (address: SignalAddress) => Promise<PreKeyBundle | undefined>
}

/**
 * One device's Signal state and operations: pre-keys and bundles, sessions, encryption and
 * decryption, sealed messages. Every operation runs in one {@link SignalStorage} transaction,
 * so a failed decryption changes nothing and two operations never interleave. Refusals are
 * the SDK's typed errors: `TamperedError`, `ReplayError`, `NoSessionError`,
 * `ImpersonationError`, `IdentityChangedError`, `UnknownPreKeyError`.
 *
 * @example
 * const bob = await libsignalSessions.open({ identity: bobId, storage: new MemorySignalStorage() })
 * await bob.generatePreKeys()
 * const bundle = await bob.createPreKeyBundle()          // publish it
 * const sealed = await alice.seal(bob.address, utf8('hi'), { bundle })
 * const { sender, plaintext } = await bob.openSealed(sealed)
 */
export interface SignalSession {
  /** This device's address: the identity's text ID and the device ID. */
  readonly address: SignalAddress
  readonly identity: Identity
  readonly storage: SignalStorage
  readonly registrationId: number

  /** Makes one-time pre-keys (default 100) and, the first time or with `rotate`, a signed and a Kyber pre-key. */
  generatePreKeys(options?: { oneTimeCount?: number; rotate?: boolean }): Promise<GeneratedPreKeys>
  /** One-time pre-keys not used yet. */
  countOneTimePreKeys(): Promise<number>
  /** Deletes one-time pre-keys used longer ago than `graceMs` (default {@link USED_PRE_KEY_GRACE_MS}). */
  purgeUsedPreKeys(graceMs?: number): Promise<number>
  /**
   * Signs a bundle of the current pre-keys with up to `oneTimeCount` (at most 16) unused
   * one-time pre-keys. `seq` defaults to the clock's milliseconds, so it grows.
   */
  createPreKeyBundle(options?: { seq?: number; oneTimeCount?: number }): Promise<PreKeyBundle>
  /** True when there is a session with `address` that can send. */
  hasSession(address: SignalAddress): Promise<boolean>
  /** The identity key trusted for `address` (33 bytes), once a session exists. */
  trustedIdentityKey(address: SignalAddress): Promise<Bytes | undefined>
  /** The changed key of `address` waiting for {@link acceptIdentityChange}, if any. */
  pendingIdentityKey(address: SignalAddress): Promise<Bytes | undefined>
  /** Trusts the changed identity key of `address` (after the user verified it). */
  acceptIdentityChange(address: SignalAddress): Promise<Bytes | undefined>
  /**
   * Forgets `address`: its session, its trusted and pending identity keys, and what the key
   * policy accepted for it (a device revoked, or device 1 of an account recovered).
   * `persist`, when given, runs in the same transaction.
   */
  forget(address: SignalAddress, persist?: (tx: SignalStorage) => Promise<void>): Promise<void>
  /**
   * Starts a session with `address` from its bundle (verified first: record signature,
   * pre-key signatures, and that the bundle is signed by the address's key).
   */
  processPreKeyBundle(address: SignalAddress, bundle: PreKeyBundle): Promise<void>
  /**
   * Encrypts `plaintext` for `recipient`. Without a session it starts one from `bundle`, or
   * from `fetchBundle`; the first messages are `preKey` messages until the recipient answers.
   * Throws `NoSessionError` when there is neither a session nor a bundle, and
   * `IdentityChangedError` while a changed identity key of the recipient awaits acceptance.
   * `persist` runs inside the transaction that advances the session.
   */
  encrypt(
    recipient: SignalAddress,
    plaintext: Uint8Array,
    options?: EncryptOptions<SignalCiphertext>,
  ): Promise<SignalCiphertext>
  /** Encrypts and seals to the recipient's identity key (a mailbox envelope). */
  seal(
    recipient: SignalAddress,
    plaintext: Uint8Array,
    options?: EncryptOptions<Bytes>,
  ): Promise<Bytes>
  /**
   * Decrypts a Signal message from `sender` (whose identity the caller already knows, as on
   * an authenticated direct link). A refused message changes no state; `persist` runs inside
   * the transaction that advances the session, and throwing there undoes it.
   */
  decrypt(
    sender: SignalAddress,
    message: SignalCiphertext,
    options?: DecryptOptions<Bytes>,
  ): Promise<Bytes>
  /**
   * Opens a sealed message and decrypts it under the claimed sender's session, which proves
   * the sender. `persist` as for {@link decrypt}.
   */
  openSealed(sealed: Uint8Array, options?: DecryptOptions<OpenedMessage>): Promise<OpenedMessage>

  // Sender keys (docs/PROTOCOL.md, "Groups"): one chain per group and sending device.

  /**
   * This device's distribution message for its chain `distributionId` (16 bytes), making the
   * chain the first time. Give it to each member device through the pairwise session.
   */
  createGroupKey(distributionId: Uint8Array, options?: EncryptOptions<Bytes>): Promise<Bytes>
  /**
   * Takes `sender`'s distribution message (which came through the pairwise session with
   * `sender`, so it is theirs): its group messages then decrypt. Returns its distribution ID.
   * Throws `TamperedError` for bytes that are not one.
   */
  processGroupKey(
    sender: SignalAddress,
    distribution: Uint8Array,
    options?: DecryptOptions<Bytes> & {
      /** Runs inside this transaction view (a `persist` hook's) instead of its own. */
      within?: SignalStorage
    },
  ): Promise<Bytes>
  /** Encrypts once under this device's chain `distributionId`: the same bytes go to every member device. */
  groupEncrypt(
    distributionId: Uint8Array,
    plaintext: Uint8Array,
    options?: EncryptOptions<Bytes>,
  ): Promise<Bytes>
  /**
   * Decrypts a group message of `sender` (known from a link, or from a seal). Refusals:
   * `NoSenderKeyError` (its chain has not arrived: keep it, try again when it does),
   * `ReplayError` (seen before), `TamperedError` (altered, or not made by the chain's owner).
   */
  groupDecrypt(
    sender: SignalAddress,
    message: Uint8Array,
    options?: DecryptOptions<Bytes>,
  ): Promise<Bytes>
  /** Seals a group message to `recipient`'s trusted identity key (a mailbox envelope; inner type 7). */
  sealGroupMessage(recipient: SignalAddress, message: Uint8Array): Promise<Bytes>
  /** The distribution ID (16 bytes) a group message names, read without decrypting; `TamperedError` if it is none. */
  groupDistributionId(message: Uint8Array): Bytes
}

/**
 * Opens Signal sessions: the port through which the core reaches a Signal Protocol
 * implementation (Node: `libsignalSessions` of `@passage/sdk/node`, on libsignal).
 */
export interface SignalProvider {
  open(options: SignalSessionOptions): Promise<SignalSession>
}
