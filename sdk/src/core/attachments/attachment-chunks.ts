import type { MediaCrypto } from '../crypto/media-crypto.js'
import { utf8, type Bytes } from '../wire/bytes.js'
import { ATTACHMENT_CHUNK_BYTES, CHUNK_ID_BYTES } from './attachment-pointer.js'

const ENVELOPE_ID_DOMAIN = utf8('passage/envelope/v1\0')

/** The `index`-th chunk of a ciphertext (a view, not a copy). */
export function chunkOf(ciphertext: Uint8Array, index: number): Uint8Array {
  const start = index * ATTACHMENT_CHUNK_BYTES
  return ciphertext.subarray(start, Math.min(start + ATTACHMENT_CHUNK_BYTES, ciphertext.byteLength))
}

/**
 * A chunk's ID: its envelope ID in the capability mailbox,
 * `SHA-256("passage/envelope/v1\0" ‖ mailboxKey ‖ chunk)[0..16)` (docs/PROTOCOL.md,
 * "Mailboxes"), so the replicas check it as they check any envelope and a recipient checks
 * every chunk as it arrives, over a link or from the DHT. Computed with the media crypto
 * (native SHA-256), not the JavaScript one.
 */
export async function chunkIdOf(
  crypto: MediaCrypto,
  mailboxKey: Uint8Array,
  chunk: Uint8Array,
): Promise<Bytes> {
  const digest = await crypto.sha256(ENVELOPE_ID_DOMAIN, mailboxKey, chunk)
  return digest.slice(0, CHUNK_ID_BYTES)
}

/** The IDs of every chunk of `ciphertext`, in order. */
export async function chunkIdsOf(
  crypto: MediaCrypto,
  mailboxKey: Uint8Array,
  ciphertext: Uint8Array,
): Promise<Bytes[]> {
  const ids: Bytes[] = []
  const count = Math.ceil(ciphertext.byteLength / ATTACHMENT_CHUNK_BYTES)
  for (let i = 0; i < count; i++)
    ids.push(await chunkIdOf(crypto, mailboxKey, chunkOf(ciphertext, i)))
  return ids
}
