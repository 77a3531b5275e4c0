import { sha256 } from '@noble/hashes/sha2.js'
import { MalformedError } from '../errors.js'
import { ENVELOPE_ID_BYTES } from '../dht/messages.js'
import { checkDeviceId } from '../signal/signal-address.js'
import { SignalMessageType } from '../signal/sealed-message.js'
import { concatBytes, utf8, type Bytes } from '../wire/bytes.js'

/**
 * The payloads a client sends over a direct link (docs/PROTOCOL.md, "Chat messages"):
 * - `0x01 || sealed`: a sealed message, exactly as it would sit in the recipient's mailbox
 *   (sent by earlier versions; still accepted);
 * - `0x02 || id (16)`: "stored": the recipient persisted that message (or had it); the ID is
 *   the envelope ID of a sealed message, or the {@link directMessageId} of a Signal message;
 * - `0x03`: "send me your pre-key bundle" (peers on a LAN with no DHT);
 * - `0x04 || bundle`: a pre-key bundle on the wire (`bytes16 record || bytes16 kyberKey`);
 * - `0x05 || senderDevice (1) || type (1) || message`: a Signal message, not sealed: the link
 *   already proved who sent it, and the recipient decrypts it under that peer's session;
 * - `0x06 || provisioning`: a provisioning message for a device being linked (docs/PROTOCOL.md,
 *   "Devices"); answered "stored" with the {@link directMessageId} of its bytes;
 * - `0x07 || messageId (16) || u16 index`: "send me chunk `index` of that message's attachment";
 * - `0x08 || messageId (16) || u16 index || chunk`: the chunk (1 to 65536 bytes);
 * - `0x09 || messageId (16) || u16 index`: "I do not have it" (docs/PROTOCOL.md, "Attachments").
 */
export const DirectFrameType = {
  sealed: 1,
  stored: 2,
  bundleRequest: 3,
  bundle: 4,
  signal: 5,
  provision: 6,
  chunkRequest: 7,
  chunk: 8,
  chunkMissing: 9,
} as const

/** Largest chunk a `chunk` frame carries (one DHT envelope). */
const MAX_CHUNK_FRAME_BYTES = 65_536
/** A chunk frame's head: message ID and index. */
const CHUNK_HEAD_BYTES = 18

export type DirectFrame =
  | { type: 'sealed'; sealed: Bytes }
  | { type: 'stored'; envelopeId: Bytes }
  | { type: 'bundle-request' }
  | { type: 'bundle'; bundle: Bytes }
  | { type: 'signal'; deviceId: number; messageType: SignalMessageType; message: Bytes }
  | { type: 'provision'; provisioning: Bytes }
  | { type: 'chunk-request'; message: Bytes; index: number }
  | { type: 'chunk'; message: Bytes; index: number; chunk: Bytes }
  | { type: 'chunk-missing'; message: Bytes; index: number }

/** Domain of {@link directMessageId}. */
const DIRECT_ID_DOMAIN = utf8('passage/direct-id/v1\0')

/**
 * The ID a "stored" answer names for a Signal message sent on a link:
 * `SHA-256("passage/direct-id/v1\0" || message)[0..16)`.
 */
export function directMessageId(message: Uint8Array): Bytes {
  return sha256(concatBytes(DIRECT_ID_DOMAIN, message)).slice(0, ENVELOPE_ID_BYTES) as Bytes
}

export function encodeDirectFrame(frame: DirectFrame): Bytes {
  switch (frame.type) {
    case 'sealed':
      return concatBytes(Uint8Array.of(DirectFrameType.sealed), frame.sealed)
    case 'stored':
      return concatBytes(Uint8Array.of(DirectFrameType.stored), frame.envelopeId)
    case 'bundle-request':
      return Uint8Array.of(DirectFrameType.bundleRequest) as Bytes
    case 'bundle':
      return concatBytes(Uint8Array.of(DirectFrameType.bundle), frame.bundle)
    case 'provision':
      return concatBytes(Uint8Array.of(DirectFrameType.provision), frame.provisioning)
    case 'chunk-request':
      return chunkHead(DirectFrameType.chunkRequest, frame.message, frame.index)
    case 'chunk-missing':
      return chunkHead(DirectFrameType.chunkMissing, frame.message, frame.index)
    case 'chunk':
      return concatBytes(...encodeChunkFrameParts(frame.message, frame.index, frame.chunk))
    case 'signal':
      checkDeviceId(frame.deviceId)
      checkMessageType(frame.messageType)
      if (frame.message.byteLength === 0) throw new MalformedError('an empty Signal message')
      return concatBytes(
        Uint8Array.of(DirectFrameType.signal, frame.deviceId, frame.messageType),
        frame.message,
      )
  }
}

/**
 * A `chunk` frame (`08`) as two pieces, its head and the chunk itself, for
 * {@link Link.sendParts}: the same bytes as {@link encodeDirectFrame} gives, without copying
 * the chunk.
 */
export function encodeChunkFrameParts(
  message: Uint8Array,
  index: number,
  chunk: Uint8Array,
): [Bytes, Uint8Array] {
  if (chunk.byteLength === 0 || chunk.byteLength > MAX_CHUNK_FRAME_BYTES) {
    throw new MalformedError('a chunk is 1 to 65536 bytes')
  }
  return [chunkHead(DirectFrameType.chunk, message, index), chunk]
}

export function decodeDirectFrame(bytes: Uint8Array): DirectFrame {
  const type = bytes[0]
  if (type === DirectFrameType.chunk) return decodeChunk(bytes.subarray(1))
  const rest = bytes.slice(1) as Bytes
  if (type === DirectFrameType.sealed && rest.byteLength > 0)
    return { type: 'sealed', sealed: rest }
  if (type === DirectFrameType.stored && rest.byteLength === ENVELOPE_ID_BYTES) {
    return { type: 'stored', envelopeId: rest }
  }
  if (type === DirectFrameType.bundleRequest && rest.byteLength === 0) {
    return { type: 'bundle-request' }
  }
  if (type === DirectFrameType.bundle && rest.byteLength > 0)
    return { type: 'bundle', bundle: rest }
  if (type === DirectFrameType.signal && rest.byteLength > 2) {
    const deviceId = rest[0]!
    const messageType = rest[1]!
    checkDeviceId(deviceId)
    checkMessageType(messageType)
    return { type: 'signal', deviceId, messageType, message: rest.slice(2) as Bytes }
  }
  if (type === DirectFrameType.provision && rest.byteLength > 0) {
    return { type: 'provision', provisioning: rest }
  }
  if (type === DirectFrameType.chunkRequest || type === DirectFrameType.chunkMissing) {
    if (rest.byteLength !== CHUNK_HEAD_BYTES)
      throw new MalformedError('a chunk request is 18 bytes')
    const head = { message: rest.slice(0, 16) as Bytes, index: (rest[16]! << 8) | rest[17]! }
    return type === DirectFrameType.chunkRequest
      ? { type: 'chunk-request', ...head }
      : { type: 'chunk-missing', ...head }
  }
  throw new MalformedError('not a direct chat frame')
}

/**
 * A `chunk` frame's body (after the type byte). The chunk is a view of the frame, not a copy:
 * its reader checks it and copies it once, into the ciphertext it assembles.
 */
function decodeChunk(rest: Uint8Array): DirectFrame {
  const size = rest.byteLength - CHUNK_HEAD_BYTES
  if (size < 1 || size > MAX_CHUNK_FRAME_BYTES)
    throw new MalformedError('a chunk is 1 to 65536 bytes')
  return {
    type: 'chunk',
    message: rest.slice(0, 16) as Bytes,
    index: (rest[16]! << 8) | rest[17]!,
    chunk: rest.subarray(CHUNK_HEAD_BYTES) as Bytes,
  }
}

function chunkHead(type: number, message: Uint8Array, index: number): Bytes {
  if (message.byteLength !== 16) throw new MalformedError('a message ID is 16 bytes')
  if (!Number.isInteger(index) || index < 0 || index > 0xffff) {
    throw new MalformedError('a chunk index is a u16')
  }
  const out = new Uint8Array(1 + CHUNK_HEAD_BYTES)
  out[0] = type
  out.set(message, 1)
  out[17] = index >> 8
  out[18] = index & 0xff
  return out
}

function checkMessageType(type: number): asserts type is SignalMessageType {
  if (
    type !== SignalMessageType.whisper &&
    type !== SignalMessageType.preKey &&
    type !== SignalMessageType.senderKey
  ) {
    throw new MalformedError(`unknown Signal message type ${type}`)
  }
}
