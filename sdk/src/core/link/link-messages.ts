import { MalformedError } from '../errors.js'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../identity/node-id.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { concatBytes, utf8, type Bytes } from '../wire/bytes.js'

/** Version byte of the link handshake (docs/PROTOCOL.md, "Direct links (TCP)"). */
export const LINK_VERSION = 1
/** Proof signatures cover this prefix, so they are useless as any other signature. */
export const LINK_SIGNING_DOMAIN = utf8('passage/link/v1\0')
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

export interface LinkHello {
  version: number
  /** The sender's identity public key (33 bytes). */
  publicKey: Bytes
  /** 32 fresh random bytes. */
  nonce: Bytes
}

export type LinkFrame =
  | { type: typeof LinkFrameType.hello; hello: LinkHello }
  | { type: typeof LinkFrameType.proof; signature: Bytes }
  | { type: typeof LinkFrameType.data; payload: Bytes }

/** hello body: `0x01 | u8 version | publicKey33 | nonce32` (67 bytes). */
export function encodeLinkHello(hello: LinkHello): Bytes {
  return new BinaryWriter()
    .u8(LinkFrameType.hello)
    .u8(hello.version)
    .fixed(hello.publicKey, PUBLIC_KEY_BYTES, 'publicKey')
    .fixed(hello.nonce, LINK_NONCE_BYTES, 'nonce')
    .finish()
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
      if (version !== LINK_VERSION) throw new MalformedError(`unknown link version ${version}`)
      const publicKey = reader.fixed(PUBLIC_KEY_BYTES, 'publicKey')
      if (publicKey[0] !== 0x05) throw new MalformedError('publicKey must start with 0x05')
      const nonce = reader.fixed(LINK_NONCE_BYTES, 'nonce')
      reader.end('hello')
      return { type, hello: { version, publicKey, nonce } }
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
}

/**
 * What `role` signs to prove its identity:
 * `"passage/link/v1\0" || u8 role || dialerNonce || listenerNonce || dialerPublicKey ||
 * listenerPublicKey` (147 bytes). The role byte stops a peer from reflecting our own proof.
 */
export function linkSigningInput(role: LinkRole, transcript: LinkTranscript): Bytes {
  return new BinaryWriter()
    .raw(LINK_SIGNING_DOMAIN)
    .u8(role)
    .fixed(transcript.dialerNonce, LINK_NONCE_BYTES, 'dialerNonce')
    .fixed(transcript.listenerNonce, LINK_NONCE_BYTES, 'listenerNonce')
    .fixed(transcript.dialerPublicKey, PUBLIC_KEY_BYTES, 'dialerPublicKey')
    .fixed(transcript.listenerPublicKey, PUBLIC_KEY_BYTES, 'listenerPublicKey')
    .finish()
}
