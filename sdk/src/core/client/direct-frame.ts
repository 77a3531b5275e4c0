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
 *   "Devices"); answered "stored" with the {@link directMessageId} of its bytes.
 */
export const DirectFrameType = {
  sealed: 1,
  stored: 2,
  bundleRequest: 3,
  bundle: 4,
  signal: 5,
  provision: 6,
} as const

export type DirectFrame =
  | { type: 'sealed'; sealed: Bytes }
  | { type: 'stored'; envelopeId: Bytes }
  | { type: 'bundle-request' }
  | { type: 'bundle'; bundle: Bytes }
  | { type: 'signal'; deviceId: number; messageType: SignalMessageType; message: Bytes }
  | { type: 'provision'; provisioning: Bytes }

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

export function decodeDirectFrame(bytes: Uint8Array): DirectFrame {
  const type = bytes[0]
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
  throw new MalformedError('not a direct chat frame')
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
