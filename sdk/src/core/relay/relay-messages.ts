import { MalformedError } from '../errors.js'
import { NODE_ID_BYTES, PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../identity/node-id.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { fromUtf8, utf8, type Bytes } from '../wire/bytes.js'

/** Version byte of the relay handshake (docs/PROTOCOL.md, "Relay through a super-node"). */
export const RELAY_VERSION = 1
/** Request signatures cover this prefix, so they are useless as any other signature. */
export const RELAY_SIGNING_DOMAIN = utf8('passage/relay/v1\0')
/** Bytes of the relay's fresh challenge nonce. */
export const RELAY_NONCE_BYTES = 32
/** Bytes of the token naming one pending relayed link. */
export const RELAY_TOKEN_BYTES = 16
/** Largest relay handshake frame body: the longest is a `connect` (118 bytes) or a refusal. */
export const MAX_RELAY_FRAME_BYTES = 512
/** Longest reason text in a `refused` frame. */
export const MAX_RELAY_REASON_BYTES = 200

/** The first byte of every relay handshake frame body. */
export const RelayFrameType = {
  challenge: 1,
  register: 2,
  connect: 3,
  accept: 4,
  ok: 5,
  incoming: 6,
  refused: 7,
} as const
export type RelayFrameType = (typeof RelayFrameType)[keyof typeof RelayFrameType]

/** Why a relay refused a request (the byte of a `refused` frame). */
export const RelayRefusal = {
  malformed: 1,
  badSignature: 2,
  notRegistered: 3,
  limit: 4,
  timeout: 5,
  full: 6,
  unknownToken: 7,
} as const
export type RelayRefusal = (typeof RelayRefusal)[keyof typeof RelayRefusal]

/** The name of each refusal code (metrics labels, messages). */
export const RELAY_REFUSAL_NAMES: Record<RelayRefusal, string> = {
  1: 'malformed',
  2: 'bad_signature',
  3: 'not_registered',
  4: 'limit',
  5: 'timeout',
  6: 'full',
  7: 'unknown_token',
}

/** A client's signed request: register (be reachable), connect (to a registered peer), accept. */
export type RelayRequest =
  | { type: typeof RelayFrameType.register; publicKey: Bytes; signature: Bytes }
  | { type: typeof RelayFrameType.connect; publicKey: Bytes; target: Bytes; signature: Bytes }
  | { type: typeof RelayFrameType.accept; publicKey: Bytes; token: Bytes; signature: Bytes }

/** A request without its signature: what is signed (after the domain, relay ID and nonce). */
export type RelayRequestHead = RelayRequest extends infer R
  ? R extends RelayRequest
    ? Omit<R, 'signature'>
    : never
  : never

export type RelayFrame =
  | { type: typeof RelayFrameType.challenge; version: number; relayId: Bytes; nonce: Bytes }
  | RelayRequest
  | { type: typeof RelayFrameType.ok }
  | { type: typeof RelayFrameType.incoming; token: Bytes; from: Bytes }
  | { type: typeof RelayFrameType.refused; code: number; reason: string }

/** challenge body: `0x01 | u8 version (1) | relayId20 | nonce32` (54 bytes). */
export function encodeRelayChallenge(relayId: Uint8Array, nonce: Uint8Array): Bytes {
  return new BinaryWriter()
    .u8(RelayFrameType.challenge)
    .u8(RELAY_VERSION)
    .fixed(relayId, NODE_ID_BYTES, 'relayId')
    .fixed(nonce, RELAY_NONCE_BYTES, 'nonce')
    .finish()
}

/** A request body without its signature: what is signed after the domain, relay ID and nonce. */
function requestHead(request: RelayRequestHead): BinaryWriter {
  const w = new BinaryWriter()
    .u8(request.type)
    .fixed(request.publicKey, PUBLIC_KEY_BYTES, 'publicKey')
  if (request.type === RelayFrameType.connect) w.fixed(request.target, NODE_ID_BYTES, 'target')
  if (request.type === RelayFrameType.accept) w.fixed(request.token, RELAY_TOKEN_BYTES, 'token')
  return w
}

/**
 * What a client signs for a request: `"passage/relay/v1\0" || relayId20 || nonce32 || body
 * without the signature` (103 bytes for register, 123 for connect, 119 for accept). The
 * relay's ID and its fresh nonce make the signature good for this connection to this relay
 * only: a recorded request cannot be replayed, here or elsewhere.
 */
export function relaySigningInput(
  relayId: Uint8Array,
  nonce: Uint8Array,
  request: RelayRequestHead,
): Bytes {
  return new BinaryWriter()
    .raw(RELAY_SIGNING_DOMAIN)
    .fixed(relayId, NODE_ID_BYTES, 'relayId')
    .fixed(nonce, RELAY_NONCE_BYTES, 'nonce')
    .raw(requestHead(request).finish())
    .finish()
}

/**
 * register body: `0x02 | publicKey33 | signature64` (98 bytes); connect: `0x03 | publicKey33 |
 * target20 | signature64` (118); accept: `0x04 | publicKey33 | token16 | signature64` (114).
 */
export function encodeRelayRequest(request: RelayRequest): Bytes {
  return requestHead(request).fixed(request.signature, SIGNATURE_BYTES, 'signature').finish()
}

/** ok body: `0x05` (1 byte). */
export function encodeRelayOk(): Bytes {
  return Uint8Array.of(RelayFrameType.ok) as Bytes
}

/** incoming body: `0x06 | token16 | from20` (37 bytes): a peer asks for a link to you. */
export function encodeRelayIncoming(token: Uint8Array, from: Uint8Array): Bytes {
  return new BinaryWriter()
    .u8(RelayFrameType.incoming)
    .fixed(token, RELAY_TOKEN_BYTES, 'token')
    .fixed(from, NODE_ID_BYTES, 'from')
    .finish()
}

/** refused body: `0x07 | u8 code | reason` (UTF-8, 0 to 200 bytes). */
export function encodeRelayRefused(code: RelayRefusal, reason: string): Bytes {
  let text = utf8(reason)
  if (text.byteLength > MAX_RELAY_REASON_BYTES) text = text.subarray(0, MAX_RELAY_REASON_BYTES)
  return new BinaryWriter().u8(RelayFrameType.refused).u8(code).raw(text).finish()
}

/** Parses one relay frame body; throws {@link MalformedError} for anything unknown or mis-sized. */
export function decodeRelayFrame(body: Uint8Array): RelayFrame {
  const reader = new BinaryReader(body)
  const type = reader.u8('relay frame type')
  switch (type) {
    case RelayFrameType.challenge: {
      const version = reader.u8('version')
      if (version !== RELAY_VERSION) throw new MalformedError(`unknown relay version ${version}`)
      const relayId = reader.fixed(NODE_ID_BYTES, 'relayId')
      const nonce = reader.fixed(RELAY_NONCE_BYTES, 'nonce')
      reader.end('challenge')
      return { type, version, relayId, nonce }
    }
    case RelayFrameType.register:
    case RelayFrameType.connect:
    case RelayFrameType.accept: {
      const publicKey = reader.fixed(PUBLIC_KEY_BYTES, 'publicKey')
      if (publicKey[0] !== 0x05) throw new MalformedError('publicKey must start with 0x05')
      if (type === RelayFrameType.register) {
        const signature = reader.fixed(SIGNATURE_BYTES, 'signature')
        reader.end('register')
        return { type, publicKey, signature }
      }
      if (type === RelayFrameType.connect) {
        const target = reader.fixed(NODE_ID_BYTES, 'target')
        const signature = reader.fixed(SIGNATURE_BYTES, 'signature')
        reader.end('connect')
        return { type, publicKey, target, signature }
      }
      const token = reader.fixed(RELAY_TOKEN_BYTES, 'token')
      const signature = reader.fixed(SIGNATURE_BYTES, 'signature')
      reader.end('accept')
      return { type, publicKey, token, signature }
    }
    case RelayFrameType.ok:
      reader.end('ok')
      return { type }
    case RelayFrameType.incoming: {
      const token = reader.fixed(RELAY_TOKEN_BYTES, 'token')
      const from = reader.fixed(NODE_ID_BYTES, 'from')
      reader.end('incoming')
      return { type, token, from }
    }
    case RelayFrameType.refused: {
      const code = reader.u8('code')
      if (reader.remaining > MAX_RELAY_REASON_BYTES) throw new MalformedError('reason too long')
      const reason = fromUtf8(reader.fixed(reader.remaining, 'reason'), 'reason')
      return { type, code, reason }
    }
    default:
      throw new MalformedError(`unknown relay frame type ${type}`)
  }
}
