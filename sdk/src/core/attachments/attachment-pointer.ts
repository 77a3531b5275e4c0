import { MalformedError } from '../errors.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { fromUtf8, utf8, type Bytes } from '../wire/bytes.js'
import {
  ATTACHMENT_DIGEST_BYTES,
  ATTACHMENT_KEYS_BYTES,
  attachmentCiphertextSize,
  checkAttachmentSize,
} from './attachment-cipher.js'

/** Version byte of the pointer (docs/PROTOCOL.md, "Attachments"). */
export const ATTACHMENT_POINTER_VERSION = 1
/** Ciphertext bytes per chunk: one DHT envelope (64 KiB), one link frame. */
export const ATTACHMENT_CHUNK_BYTES = 65_536
/** A chunk's ID: its envelope ID in the capability mailbox. */
export const CHUNK_ID_BYTES = 16
/** The capability key's private half (Curve25519). */
export const CAPABILITY_KEY_BYTES = 32
/** Largest still preview a pointer carries (a tiny PNG or GIF). */
export const MAX_PREVIEW_BYTES = 16_384
/** Longest caption, in UTF-8 bytes (as a text). */
export const MAX_CAPTION_BYTES = 4000
/** Flag: the chunks are in the DHT, in the capability mailbox, until `expiresAt`. */
export const POINTER_FLAG_DHT = 0x01

/** What a recipient needs to fetch, check and decrypt an attachment, and show it meanwhile. */
export interface AttachmentPointer {
  /** True: the chunks are in the capability mailbox until `expiresAt`; false: only the sender has them. */
  inDht: boolean
  /** Plaintext bytes, 1 to 8 MiB. */
  size: number
  /** A MIME type such as `image/gif`: printable ASCII, 1 to 255 bytes. */
  contentType: string
  fileName?: string
  /** AES-256 key ‖ HMAC-SHA256 key. */
  keys: Bytes
  /** SHA-256 of the ciphertext. */
  digest: Bytes
  /** The capability key's private half: whoever holds it reads the chunks from the DHT. */
  capability: Bytes
  /** When the DHT copy expires, ms since the epoch (0 when not in the DHT). */
  expiresAt: number
  width?: number
  height?: number
  frames?: number
  durationMs?: number
  /** The chunks' IDs, in order (their envelope IDs in the capability mailbox). */
  chunkIds: Bytes[]
  preview?: Bytes
  caption?: string
}

/** How many chunks a plaintext of `size` bytes travels in. */
export function chunkCountOf(size: number): number {
  return Math.ceil(attachmentCiphertextSize(size) / ATTACHMENT_CHUNK_BYTES)
}

/**
 * Encodes a pointer:
 *
 * ```
 * u8 version (1) | u8 flags (bit 0: in the DHT) | u32 size | bytes8 contentType | bytes8 fileName
 * | 64 keys | 32 digest | 32 capability private key | u64 expiresAt
 * | u16 width | u16 height | u16 frames | u32 durationMs        (0: unknown)
 * | u16 chunkCount | chunkCount × 16 chunk ID | bytes16 preview | bytes16 caption
 * ```
 */
export function encodeAttachmentPointer(p: AttachmentPointer): Bytes {
  checkAttachmentSize(p.size)
  const type = checkContentType(p.contentType)
  const name = utf8(p.fileName ?? '')
  if (name.byteLength > 255) throw new MalformedError('a file name is at most 255 UTF-8 bytes')
  if (p.chunkIds.length !== chunkCountOf(p.size)) {
    throw new MalformedError('the chunk count does not match the size')
  }
  const preview = p.preview ?? new Uint8Array(0)
  if (preview.byteLength > MAX_PREVIEW_BYTES) {
    throw new MalformedError(`a preview is at most ${MAX_PREVIEW_BYTES} bytes`)
  }
  const caption = utf8(p.caption ?? '')
  if (caption.byteLength > MAX_CAPTION_BYTES) {
    throw new MalformedError(`a caption is at most ${MAX_CAPTION_BYTES} UTF-8 bytes`)
  }
  const w = new BinaryWriter()
    .u8(ATTACHMENT_POINTER_VERSION)
    .u8(p.inDht ? POINTER_FLAG_DHT : 0)
    .u32(p.size)
    .bytes8(type, 'content type')
    .bytes8(name, 'file name')
    .fixed(p.keys, ATTACHMENT_KEYS_BYTES, 'keys')
    .fixed(p.digest, ATTACHMENT_DIGEST_BYTES, 'digest')
    .fixed(p.capability, CAPABILITY_KEY_BYTES, 'capability key')
    .u64(p.inDht ? p.expiresAt : 0)
    .u16(p.width ?? 0)
    .u16(p.height ?? 0)
    .u16(p.frames ?? 0)
    .u32(p.durationMs ?? 0)
    .u16(p.chunkIds.length)
  for (const id of p.chunkIds) w.fixed(id, CHUNK_ID_BYTES, 'chunk ID')
  return w.bytes16(preview, 'preview').bytes16(caption, 'caption').finish()
}

/** Decodes a pointer; throws {@link MalformedError} for anything {@link encodeAttachmentPointer} would not write. */
export function decodeAttachmentPointer(bytes: Uint8Array): AttachmentPointer {
  const r = new BinaryReader(bytes)
  const version = r.u8('version')
  if (version !== ATTACHMENT_POINTER_VERSION) {
    throw new MalformedError(`unknown attachment pointer version ${version}`)
  }
  const flags = r.u8('flags')
  if ((flags & ~POINTER_FLAG_DHT) !== 0) throw new MalformedError(`unknown pointer flags ${flags}`)
  const size = r.u32('size')
  checkAttachmentSize(size)
  const contentType = fromUtf8(r.bytes8('content type'), 'content type')
  checkContentType(contentType)
  const fileName = fromUtf8(r.bytes8('file name'), 'file name')
  const keys = r.fixed(ATTACHMENT_KEYS_BYTES, 'keys')
  const digest = r.fixed(ATTACHMENT_DIGEST_BYTES, 'digest')
  const capability = r.fixed(CAPABILITY_KEY_BYTES, 'capability key')
  const expiresAt = r.u64('expiresAt')
  const inDht = (flags & POINTER_FLAG_DHT) !== 0
  if (inDht === (expiresAt === 0))
    throw new MalformedError('expiresAt is set exactly when in the DHT')
  const width = r.u16('width')
  const height = r.u16('height')
  const frames = r.u16('frames')
  const durationMs = r.u32('durationMs')
  const count = r.u16('chunk count')
  if (count !== chunkCountOf(size))
    throw new MalformedError('the chunk count does not match the size')
  const chunkIds: Bytes[] = []
  for (let i = 0; i < count; i++) chunkIds.push(r.fixed(CHUNK_ID_BYTES, 'chunk ID'))
  const preview = r.bytes16('preview')
  if (preview.byteLength > MAX_PREVIEW_BYTES) throw new MalformedError('the preview is too large')
  const captionBytes = r.bytes16('caption')
  if (captionBytes.byteLength > MAX_CAPTION_BYTES)
    throw new MalformedError('the caption is too long')
  const caption = fromUtf8(captionBytes, 'caption')
  r.end('attachment pointer')
  return {
    inDht,
    size,
    contentType,
    ...(fileName ? { fileName } : {}),
    keys,
    digest,
    capability,
    expiresAt,
    ...(width ? { width } : {}),
    ...(height ? { height } : {}),
    ...(frames ? { frames } : {}),
    ...(durationMs ? { durationMs } : {}),
    chunkIds,
    ...(preview.byteLength > 0 ? { preview } : {}),
    ...(caption ? { caption } : {}),
  }
}

/** A MIME type's bytes: printable ASCII without spaces, 1 to 255 of them. */
function checkContentType(type: string): Bytes {
  if (!/^[\x21-\x7e]{1,255}$/.test(type)) {
    throw new MalformedError(
      'a content type is 1 to 255 printable ASCII characters, like image/gif',
    )
  }
  return utf8(type)
}
