import type { AbortSignalLike } from '../runtime/host.js'
import type { MessageId } from './types.js'

/**
 * Where an attachment is: `uploading` (the sender puts its chunks in the DHT), `available`
 * (to fetch), `downloading`, `downloaded` (its ciphertext is in the home), `expired` (its DHT
 * copy expired before it was fetched: ask for a resend), `tampered` (no good copy anywhere),
 * `failed` (the sender's upload failed, or no route to the chunks now).
 */
export type AttachmentState =
  'uploading' | 'available' | 'downloading' | 'downloaded' | 'expired' | 'tampered' | 'failed'

/** An attachment as a message shows it (docs/PROTOCOL.md, "Attachments"). */
export interface AttachmentInfo {
  /** The attachment's ID: the hex of its digest's first 16 bytes. */
  id: string
  contentType: string
  fileName?: string
  /** Plaintext bytes. */
  size: number
  caption?: string
  width?: number
  height?: number
  frames?: number
  durationMs?: number
  /** A small still, when the sender gave one. */
  preview?: Uint8Array
  state: AttachmentState
  /** When its DHT copy expires, ms since the epoch; 0: only its sender holds it (over a link). */
  expiresAt: number
}

/** What `PassageClient.sendAttachment` sends. */
export interface AttachmentInput {
  /** The file, 1 byte to 8 MiB. */
  bytes: Uint8Array
  /** Its MIME type, e.g. `image/gif`. */
  contentType: string
  fileName?: string
  /** Shown as the message's text (at most 4000 UTF-8 bytes). */
  caption?: string
  width?: number
  height?: number
  frames?: number
  durationMs?: number
  /** A small still (a tiny PNG or GIF), at most 16 KiB. */
  preview?: Uint8Array
}

/** Progress of an attachment's transfer (see `ClientEvents.attachment`). */
export interface AttachmentEvent {
  messageId: MessageId
  /** `up`: this device puts its chunks in the DHT; `down`: it fetches them. */
  direction: 'up' | 'down'
  /** Bytes done so far, of `total` (ciphertext bytes). */
  done: number
  total: number
  state: AttachmentState
}

/** Attachments' transfers (see `PassageClient.attachments`). */
export interface AttachmentManager {
  /**
   * The plaintext of a message's attachment: decrypted from the home when held, else pulled
   * (from the sender over a direct link, or from the DHT), checked chunk by chunk and as a
   * whole, kept as ciphertext, then decrypted. Rejects with `ExpiredError` (ask for a resend),
   * `TamperedError` (no good copy), `UnreachableError` (no route now), `NotFoundError`.
   */
  fetch(messageId: MessageId, opts?: { signal?: AbortSignalLike }): Promise<Uint8Array>
  /** Asks the sender of an expired attachment to put it in the DHT again. */
  requestResend(messageId: MessageId): Promise<void>
}
