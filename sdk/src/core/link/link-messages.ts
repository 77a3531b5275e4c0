import { MalformedError } from '../errors.js'
import { checkDeviceId } from '../signal/signal-address.js'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../identity/node-id.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { concatBytes, utf8, type Bytes } from '../wire/bytes.js'

/** Version byte of the link handshake (docs/PROTOCOL.md, "Direct links (TCP)"). */
export const LINK_VERSION = 1
/** Version byte of the hello of a device that does not hold its account key (docs/PROTOCOL.md, "Devices"). */
export const LINK_VERSION_DEVICES = 2
/** Proof signatures cover this prefix, so they are useless as any other signature. */
export const LINK_SIGNING_DOMAIN = utf8('passage/link/v1\0')
/** The prefix of proofs when either hello has version 2: the transcript then binds accounts and devices. */
export const LINK_SIGNING_DOMAIN_DEVICES = utf8('passage/link/v2\0')
/** Bytes of each side's fresh handshake nonce. */
export const LINK_NONCE_BYTES = 32

/** The first byte of every frame body on a link. */
export const LinkFrameType = {
  hello: 1,
  proof: 2,
  data: 3,
} as const
export type LinkFrameType = (typeof LinkFrameType)[keyof typeof LinkFrameType]

/** Which end of the TCP connection signs: the dialer (connect) or the listener (accept). */
export const LinkRole = {
  dialer: 1,
  listener: 2,
} as const
export type LinkRole = (typeof LinkRole)[keyof typeof LinkRole]

/** The account a device speaks for, and which of its devices it is. */
export interface LinkAccount {
  /** The account key (33 bytes). */
  publicKey: Bytes
  deviceId: number
}

export interface LinkHello {
  version: number
  /** The sender's identity public key (33 bytes): its device key. */
  publicKey: Bytes
  /** 32 fresh random bytes. */
  nonce: Bytes
  /** Version 2 only: the account the device belongs to (version 1: its own key, device 1). */
  account?: LinkAccount
}

export type LinkFrame =
  | { type: typeof LinkFrameType.hello; hello: LinkHello }
  | { type: typeof LinkFrameType.proof; signature: Bytes }
  | { type: typeof LinkFrameType.data; payload: Bytes }

/**
 * hello body: `0x01 | u8 version (1) | publicKey33 | nonce32` (67 bytes), or with version 2
 * `0x01 | u8 version (2) | deviceKey33 | nonce32 | accountKey33 | u8 deviceId` (101 bytes).
 */
export function encodeLinkHello(hello: LinkHello): Bytes {
  const w = new BinaryWriter()
    .u8(LinkFrameType.hello)
    .u8(hello.version)
    .fixed(hello.publicKey, PUBLIC_KEY_BYTES, 'publicKey')
    .fixed(hello.nonce, LINK_NONCE_BYTES, 'nonce')
  if (hello.version === LINK_VERSION_DEVICES) {
    if (!hello.account) throw new MalformedError('a version 2 hello names its account')
    checkDeviceId(hello.account.deviceId)
    w.fixed(hello.account.publicKey, PUBLIC_KEY_BYTES, 'accountKey').u8(hello.account.deviceId)
  }
  return w.finish()
}

/** The account a hello speaks for: its own for version 1 (device 1), the named one for version 2. */
export function helloAccount(hello: LinkHello): LinkAccount {
  return hello.account ?? { publicKey: hello.publicKey, deviceId: 1 }
}

/** proof body: `0x02 | signature64` (65 bytes). */
export function encodeLinkProof(signature: Uint8Array): Bytes {
  return new BinaryWriter()
    .u8(LinkFrameType.proof)
    .fixed(signature, SIGNATURE_BYTES, 'signature')
    .finish()
}

/** data body: `0x03 | payload` (the payload is opaque: a Signal message for the client). */
export function encodeLinkData(payload: Uint8Array): Bytes {
  return concatBytes(Uint8Array.of(LinkFrameType.data), payload)
}

/** Parses one frame body; throws {@link MalformedError} for anything unknown or mis-sized. */
export function decodeLinkFrame(body: Uint8Array): LinkFrame {
  const reader = new BinaryReader(body)
  const type = reader.u8('frame type')
  switch (type) {
    case LinkFrameType.hello: {
      const version = reader.u8('version')
      if (version !== LINK_VERSION && version !== LINK_VERSION_DEVICES) {
        throw new MalformedError(`unknown link version ${version}`)
      }
      const publicKey = reader.fixed(PUBLIC_KEY_BYTES, 'publicKey')
      if (publicKey[0] !== 0x05) throw new MalformedError('publicKey must start with 0x05')
      const nonce = reader.fixed(LINK_NONCE_BYTES, 'nonce')
      if (version === LINK_VERSION) {
        reader.end('hello')
        return { type, hello: { version, publicKey, nonce } }
      }
      const accountKey = reader.fixed(PUBLIC_KEY_BYTES, 'accountKey')
      if (accountKey[0] !== 0x05) throw new MalformedError('accountKey must start with 0x05')
      const deviceId = reader.u8('deviceId')
      checkDeviceId(deviceId)
      reader.end('hello')
      return {
        type,
        hello: { version, publicKey, nonce, account: { publicKey: accountKey, deviceId } },
      }
    }
    case LinkFrameType.proof: {
      const signature = reader.fixed(SIGNATURE_BYTES, 'signature')
      reader.end('proof')
      return { type, signature }
    }
    case LinkFrameType.data:
      return { type, payload: reader.fixed(reader.remaining, 'payload') }
    default:
      throw new MalformedError(`unknown link frame type ${type}`)
  }
}

/** Both sides' hellos, in the fixed order of the transcript: dialer first. */
export interface LinkTranscript {
  dialerNonce: Uint8Array
  listenerNonce: Uint8Array
  dialerPublicKey: Uint8Array
  listenerPublicKey: Uint8Array
  /** Set when either hello had version 2: both sides' accounts (version 1: own key, device 1). */
  accounts?: { dialer: LinkAccount; listener: LinkAccount }
}

/**
 * What `role` signs to prove its identity:
 * `"passage/link/v1\0" || u8 role || dialerNonce || listenerNonce || dialerPublicKey ||
 * listenerPublicKey` (147 bytes). The role byte stops a peer from reflecting our own proof.
 */
export function linkSigningInput(role: LinkRole, transcript: LinkTranscript): Bytes {
  const { accounts } = transcript
  const w = new BinaryWriter()
    .raw(accounts ? LINK_SIGNING_DOMAIN_DEVICES : LINK_SIGNING_DOMAIN)
    .u8(role)
    .fixed(transcript.dialerNonce, LINK_NONCE_BYTES, 'dialerNonce')
    .fixed(transcript.listenerNonce, LINK_NONCE_BYTES, 'listenerNonce')
    .fixed(transcript.dialerPublicKey, PUBLIC_KEY_BYTES, 'dialerPublicKey')
    .fixed(transcript.listenerPublicKey, PUBLIC_KEY_BYTES, 'listenerPublicKey')
  if (accounts) {
    // "passage/link/v2\0" || role || nonces || device keys || dialer account, device ||
    // listener account, device (215 bytes): a proof binds the account claims too.
    w.fixed(accounts.dialer.publicKey, PUBLIC_KEY_BYTES, 'dialerAccountKey')
      .u8(accounts.dialer.deviceId)
      .fixed(accounts.listener.publicKey, PUBLIC_KEY_BYTES, 'listenerAccountKey')
      .u8(accounts.listener.deviceId)
  }
  return w.finish()
}
