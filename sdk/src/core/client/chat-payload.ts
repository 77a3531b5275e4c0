import { MalformedError } from '../errors.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { fromUtf8, utf8, type Bytes } from '../wire/bytes.js'

/** Version byte of the chat payload (docs/PROTOCOL.md, "Chat messages"). */
export const CHAT_PAYLOAD_VERSION = 1
/** A message ID: 16 random bytes, shown as 32 hex characters. */
export const MESSAGE_ID_BYTES = 16
/** Largest text: 4000 UTF-8 bytes (a long chat message; the envelope stays far below 64 KiB). */
export const MAX_TEXT_BYTES = 4000
/** Most message IDs one receipt acknowledges (16 B each: 3.2 kB, one bucket). */
export const MAX_RECEIPT_IDS = 200
/**
 * Padded sizes: a plaintext is padded with zeros to the smallest bucket that holds it, so a
 * storage node or an observer of a link learns the size class, not the length of the text.
 */
export const PADDING_BUCKETS = [64, 128, 256, 512, 1024, 2048, 4096] as const

/** Payload kinds. New kinds take new numbers (groups, GIFs later). */
export const ChatPayloadKind = {
  text: 1,
  receipt: 2,
} as const
export type ChatPayloadKind = (typeof ChatPayloadKind)[keyof typeof ChatPayloadKind]

/** What a receipt says about the messages it lists. */
export const ReceiptKind = {
  delivered: 1,
  read: 2,
} as const
export type ReceiptKind = (typeof ReceiptKind)[keyof typeof ReceiptKind]

/** The decoded plaintext inside a Signal message between two clients. */
export type ChatPayload =
  | { kind: 'text'; id: Bytes; sentAt: number; text: string }
  | { kind: 'receipt'; id: Bytes; sentAt: number; receipt: 'delivered' | 'read'; ids: Bytes[] }

/**
 * Encodes a chat payload, padded to a {@link PADDING_BUCKETS} size (beyond 4096 bytes: the
 * next multiple of 4096):
 *
 * ```
 * u8 version (1) | u8 kind | 16 id | u64 sentAt ms
 * kind 1 text:    u16 length | UTF-8 text
 * kind 2 receipt: u8 receiptKind (1 delivered, 2 read) | u16 count | count × 16 id
 * zeros to the bucket size
 * ```
 */
export function encodeChatPayload(payload: ChatPayload): Bytes {
  const w = new BinaryWriter()
    .u8(CHAT_PAYLOAD_VERSION)
    .u8(payload.kind === 'text' ? ChatPayloadKind.text : ChatPayloadKind.receipt)
    .fixed(payload.id, MESSAGE_ID_BYTES, 'id')
    .u64(payload.sentAt)
  if (payload.kind === 'text') {
    const text = utf8(payload.text)
    if (text.byteLength === 0) throw new MalformedError('a message needs some text')
    if (text.byteLength > MAX_TEXT_BYTES) {
      throw new MalformedError(`a message is at most ${MAX_TEXT_BYTES} UTF-8 bytes`)
    }
    w.bytes16(text, 'text')
  } else {
    if (payload.ids.length === 0 || payload.ids.length > MAX_RECEIPT_IDS) {
      throw new MalformedError(`a receipt lists 1 to ${MAX_RECEIPT_IDS} message IDs`)
    }
    w.u8(payload.receipt === 'delivered' ? ReceiptKind.delivered : ReceiptKind.read)
    w.u16(payload.ids.length)
    for (const id of payload.ids) w.fixed(id, MESSAGE_ID_BYTES, 'receipt id')
  }
  const body = w.finish()
  const out = new Uint8Array(paddedSize(body.byteLength)) as Bytes
  out.set(body)
  return out
}

/** The bucket size a body of `length` bytes is padded to. */
export function paddedSize(length: number): number {
  for (const bucket of PADDING_BUCKETS) if (length <= bucket) return bucket
  return Math.ceil(length / 4096) * 4096
}

/**
 * Decodes a chat payload. Throws {@link MalformedError} for an unknown version or kind, a
 * truncated body, invalid UTF-8, non-zero padding or a size that is not a bucket size.
 */
export function decodeChatPayload(bytes: Uint8Array): ChatPayload {
  if (paddedSize(bytes.byteLength) !== bytes.byteLength) {
    throw new MalformedError('a chat payload is padded to a bucket size')
  }
  const r = new BinaryReader(bytes)
  const version = r.u8('version')
  if (version !== CHAT_PAYLOAD_VERSION) {
    throw new MalformedError(`unknown chat payload version ${version}`)
  }
  const kind = r.u8('kind')
  const id = r.fixed(MESSAGE_ID_BYTES, 'id')
  const sentAt = r.u64('sentAt')
  let payload: ChatPayload
  if (kind === ChatPayloadKind.text) {
    const raw = r.bytes16('text')
    if (raw.byteLength === 0 || raw.byteLength > MAX_TEXT_BYTES) {
      throw new MalformedError('text length out of range')
    }
    payload = { kind: 'text', id, sentAt, text: fromUtf8(raw, 'text') }
  } else if (kind === ChatPayloadKind.receipt) {
    const receiptKind = r.u8('receiptKind')
    if (receiptKind !== ReceiptKind.delivered && receiptKind !== ReceiptKind.read) {
      throw new MalformedError(`unknown receipt kind ${receiptKind}`)
    }
    const count = r.u16('count')
    if (count === 0 || count > MAX_RECEIPT_IDS)
      throw new MalformedError('receipt count out of range')
    const ids: Bytes[] = []
    for (let i = 0; i < count; i++) ids.push(r.fixed(MESSAGE_ID_BYTES, 'receipt id'))
    payload = {
      kind: 'receipt',
      id,
      sentAt,
      receipt: receiptKind === ReceiptKind.delivered ? 'delivered' : 'read',
      ids,
    }
  } else {
    throw new MalformedError(`unknown chat payload kind ${kind}`)
  }
  const padding = r.fixed(r.remaining, 'padding')
  if (padding.some((b) => b !== 0)) throw new MalformedError('padding must be zeros')
  return payload
}
