import type { KeyProvider } from '../crypto/key-provider.js'
import { MalformedError, TamperedError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import { PUBLIC_KEY_BYTES } from '../identity/node-id.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { concatBytes, equalBytes, toBytes, utf8, type Bytes } from '../wire/bytes.js'
import { checkDeviceId } from './signal-address.js'

/** libsignal's Signal message types, as carried in sealed messages. */
export const SignalMessageType = {
  /** A message on an established session (libsignal `CiphertextMessageType.Whisper`). */
  whisper: 2,
  /** A first message that also sets the session up (libsignal `CiphertextMessageType.PreKey`). */
  preKey: 3,
  /** A group message under the sender's chain (libsignal `CiphertextMessageType.SenderKey`). */
  senderKey: 7,
} as const
export type SignalMessageType = (typeof SignalMessageType)[keyof typeof SignalMessageType]

/** First byte of a sealed message (the outer layout). */
export const SEALED_VERSION = 1
/** First byte of the sealed content (the inner layout, visible only to the recipient). */
export const SEALED_CONTENT_VERSION = 1
/** First byte of the sealed content of a device that does not hold the account key (docs/PROTOCOL.md, "Devices"). */
export const SEALED_CONTENT_VERSION_DEVICES = 2
/** HPKE `info`: binds the key schedule to this use, so no other HPKE ciphertext opens as one. */
export const SEALED_INFO = utf8('passage/sealed/v1')
/** libsignal's HPKE suite byte: base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM. */
export const HPKE_SUITE_X25519_SHA256_AES256GCM = 1
/** Outer overhead: version, suite, encapsulated key (32), AES-GCM tag (16). */
export const SEALED_OVERHEAD_BYTES = 1 + 1 + 32 + 16
/** Inner overhead before the Signal ciphertext: version, sender key, device, type. */
export const SEALED_CONTENT_HEADER_BYTES = 1 + PUBLIC_KEY_BYTES + 1 + 1

/**
 * What a sealed message carries. The sender fields are a **claim** until the Signal message
 * decrypts under the claimed sender's session (`SignalSession.openSealed` does both).
 */
export interface SealedContent {
  /** The claimed sender device's identity key (33 bytes). */
  senderPublicKey: Bytes
  senderDeviceId: number
  /**
   * The claimed sender's account key, when it is not {@link senderPublicKey} (a device other
   * than 1): then the content has version 2. Absent: the account key is the device key.
   */
  senderAccountKey?: Bytes
  type: SignalMessageType
  /** The Signal message (libsignal's serialized PreKeySignalMessage or SignalMessage). */
  ciphertext: Bytes
}

/**
 * The inner bytes: `0x01 || senderPublicKey(33) || senderDevice(1) || type(1) || ciphertext`,
 * or for a device that does not hold the account key
 * `0x02 || accountKey(33) || senderDevice(1) || deviceKey(33) || type(1) || ciphertext`.
 */
export function encodeSealedContent(content: SealedContent): Bytes {
  checkDeviceId(content.senderDeviceId)
  checkType(content.type)
  const account = content.senderAccountKey
  const w = new BinaryWriter()
  if (account && !(content.senderDeviceId === 1 && equalBytes(account, content.senderPublicKey))) {
    w.u8(SEALED_CONTENT_VERSION_DEVICES)
      .fixed(account, PUBLIC_KEY_BYTES, 'senderAccountKey')
      .u8(content.senderDeviceId)
      .fixed(content.senderPublicKey, PUBLIC_KEY_BYTES, 'senderPublicKey')
  } else {
    w.u8(SEALED_CONTENT_VERSION)
      .fixed(content.senderPublicKey, PUBLIC_KEY_BYTES, 'senderPublicKey')
      .u8(content.senderDeviceId)
  }
  return w.u8(content.type).raw(content.ciphertext).finish()
}

/** Parses the inner bytes (throws {@link MalformedError}). */
export function decodeSealedContent(bytes: Uint8Array): SealedContent {
  const r = new BinaryReader(bytes)
  const version = r.u8('version')
  if (version !== SEALED_CONTENT_VERSION && version !== SEALED_CONTENT_VERSION_DEVICES) {
    throw new MalformedError(`unknown sealed content version ${version}`)
  }
  const first = readKey(
    r,
    version === SEALED_CONTENT_VERSION ? 'senderPublicKey' : 'senderAccountKey',
  )
  const senderDeviceId = r.u8('senderDeviceId')
  checkDeviceId(senderDeviceId)
  const senderPublicKey = version === SEALED_CONTENT_VERSION ? first : readKey(r, 'senderPublicKey')
  if (version === SEALED_CONTENT_VERSION_DEVICES && senderDeviceId === 1) {
    throw new MalformedError('device 1 holds the account key: its sealed content has version 1')
  }
  const type = r.u8('type')
  checkType(type)
  if (r.remaining === 0) throw new MalformedError('a sealed message carries a Signal message')
  return {
    senderPublicKey,
    senderDeviceId,
    ...(version === SEALED_CONTENT_VERSION_DEVICES ? { senderAccountKey: first } : {}),
    type,
    ciphertext: r.fixed(r.remaining, 'ciphertext'),
  }
}

function readKey(r: BinaryReader, what: string): Bytes {
  const key = r.fixed(PUBLIC_KEY_BYTES, what)
  if (key[0] !== 0x05) throw new MalformedError(`${what} must start with 0x05`)
  return key
}

function checkType(type: number): asserts type is SignalMessageType {
  if (
    type !== SignalMessageType.whisper &&
    type !== SignalMessageType.preKey &&
    type !== SignalMessageType.senderKey
  ) {
    throw new MalformedError(`unknown Signal message type ${type}`)
  }
}

function associatedData(recipientPublicKey: Uint8Array): Bytes {
  return concatBytes(Uint8Array.of(SEALED_VERSION), recipientPublicKey)
}

/**
 * Seals `content` to the recipient's identity key with HPKE (RFC 9180, base mode): only the
 * holder of the recipient's private key learns the sender; whoever stores or relays it sees
 * a version byte, a fresh ephemeral key and ciphertext.
 */
export function sealMessage(
  recipientPublicKey: Uint8Array,
  content: SealedContent,
  keys: Pick<KeyProvider, 'seal'>,
): Bytes {
  const recipient = toBytes(recipientPublicKey)
  const sealed = keys.seal(
    recipient,
    encodeSealedContent(content),
    SEALED_INFO,
    associatedData(recipient),
  )
  return concatBytes(Uint8Array.of(SEALED_VERSION), sealed)
}

/**
 * Opens a sealed message addressed to `recipient`. Throws {@link TamperedError} when it does
 * not open (altered, or sealed to someone else) and {@link MalformedError} for a bad layout.
 * The returned sender is only claimed: decrypt the Signal message under that sender's session
 * to prove it.
 */
export function openSealedMessage(recipient: Identity, sealed: Uint8Array): SealedContent {
  const bytes = toBytes(sealed)
  if (bytes.byteLength < SEALED_OVERHEAD_BYTES + SEALED_CONTENT_HEADER_BYTES + 1) {
    throw new MalformedError('too short for a sealed message')
  }
  if (bytes[0] !== SEALED_VERSION)
    throw new MalformedError(`unknown sealed message version ${bytes[0]}`)
  if (bytes[1] !== HPKE_SUITE_X25519_SHA256_AES256GCM) {
    throw new MalformedError(`unknown HPKE suite ${bytes[1]}`)
  }
  let inner: Bytes
  try {
    inner = recipient.open(bytes.subarray(1), SEALED_INFO, associatedData(recipient.publicKey))
  } catch (cause) {
    throw new TamperedError(
      'the sealed message does not open: altered, or sealed to someone else',
      {
        cause,
      },
    )
  }
  return decodeSealedContent(inner)
}
