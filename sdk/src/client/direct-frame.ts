import { MalformedError } from '../errors.js'
import { ENVELOPE_ID_BYTES } from '../dht/messages.js'
import { concatBytes, type Bytes } from '../wire/bytes.js'

/**
 * The payloads a client sends over a direct link (docs/PROTOCOL.md, "Chat messages"):
 * - `0x01 || sealed`: a sealed message, exactly as it would sit in the recipient's mailbox;
 * - `0x02 || envelopeId (16)`: "stored": the recipient persisted that message (or had it);
 * - `0x03`: "send me your pre-key bundle" (peers on a LAN with no DHT);
 * - `0x04 || bundle`: a pre-key bundle on the wire (`bytes16 record || bytes16 kyberKey`).
 */
export const DirectFrameType = { sealed: 1, stored: 2, bundleRequest: 3, bundle: 4 } as const

export type DirectFrame =
  | { type: 'sealed'; sealed: Bytes }
  | { type: 'stored'; envelopeId: Bytes }
  | { type: 'bundle-request' }
  | { type: 'bundle'; bundle: Bytes }

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
  throw new MalformedError('not a direct chat frame')
}
