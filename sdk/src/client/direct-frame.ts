import { MalformedError } from '../errors.js'
import { ENVELOPE_ID_BYTES } from '../dht/messages.js'
import { concatBytes, type Bytes } from '../wire/bytes.js'

/**
 * The payloads a client sends over a direct link (docs/PROTOCOL.md, "Chat messages"):
 * - `0x01 || sealed`: a sealed message, exactly as it would sit in the recipient's mailbox;
 * - `0x02 || envelopeId (16)`: "stored": the recipient persisted that message (or had it).
 */
export const DirectFrameType = { sealed: 1, stored: 2 } as const

export type DirectFrame = { type: 'sealed'; sealed: Bytes } | { type: 'stored'; envelopeId: Bytes }

export function encodeDirectFrame(frame: DirectFrame): Bytes {
  return frame.type === 'sealed'
    ? concatBytes(Uint8Array.of(DirectFrameType.sealed), frame.sealed)
    : concatBytes(Uint8Array.of(DirectFrameType.stored), frame.envelopeId)
}

export function decodeDirectFrame(bytes: Uint8Array): DirectFrame {
  const type = bytes[0]
  const rest = bytes.slice(1) as Bytes
  if (type === DirectFrameType.sealed && rest.byteLength > 0)
    return { type: 'sealed', sealed: rest }
  if (type === DirectFrameType.stored && rest.byteLength === ENVELOPE_ID_BYTES) {
    return { type: 'stored', envelopeId: rest }
  }
  throw new MalformedError('not a direct chat frame')
}
