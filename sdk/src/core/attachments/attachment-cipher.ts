import type { MediaCrypto } from '../crypto/media-crypto.js'
import { MalformedError, TamperedError, TooLargeError } from '../errors.js'
import type { Bytes } from '../wire/bytes.js'

/** Largest attachment, in plaintext bytes: 8 MiB holds GIPHY's "downsized_large" renditions. */
export const MAX_ATTACHMENT_BYTES = 8 * 1024 * 1024
/** The random key material of one attachment: an AES-256 key, then an HMAC-SHA256 key. */
export const ATTACHMENT_KEYS_BYTES = 64
/** AES-CBC's IV, first in the ciphertext. */
export const ATTACHMENT_IV_BYTES = 16
/** The HMAC-SHA256 tag, last in the ciphertext. */
export const ATTACHMENT_MAC_BYTES = 32
/** SHA-256 of the whole ciphertext. */
export const ATTACHMENT_DIGEST_BYTES = 32
/** Smallest padded size: every small file looks the same (Signal's floor). */
const MIN_PADDED_BYTES = 541

/**
 * The size a plaintext of `size` bytes is padded to before encryption (Signal's buckets):
 * `max(541, floor(1.05 ^ ceil(log_1.05(size))))`, so its length says the size to within 5 %.
 */
export function paddedAttachmentSize(size: number): number {
  checkAttachmentSize(size)
  const bucket = Math.floor(Math.pow(1.05, Math.ceil(Math.log(size) / Math.log(1.05))))
  return Math.max(MIN_PADDED_BYTES, bucket, size)
}

/** The ciphertext length of a plaintext of `size` bytes: IV, CBC with PKCS#7, MAC. */
export function attachmentCiphertextSize(size: number): number {
  const padded = paddedAttachmentSize(size)
  return ATTACHMENT_IV_BYTES + (Math.floor(padded / 16) + 1) * 16 + ATTACHMENT_MAC_BYTES
}

/** Throws {@link TooLargeError} (or `MalformedError` for 0) before any work is done. */
export function checkAttachmentSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new MalformedError('an attachment is at least 1 byte')
  }
  if (size > MAX_ATTACHMENT_BYTES) {
    throw new TooLargeError(
      `an attachment is at most 8 MiB (${MAX_ATTACHMENT_BYTES} bytes); this one has ${size}: send a smaller rendition`,
    )
  }
}

/** An encrypted attachment: what travels, and its SHA-256 (which the pointer carries). */
export interface EncryptedAttachment {
  /** `iv (16) ‖ AES-256-CBC(padded plaintext) ‖ HMAC-SHA256 (32)`. */
  ciphertext: Bytes
  /** SHA-256 of `ciphertext`. */
  digest: Bytes
}

/**
 * Encrypts an attachment as Signal does (docs/PROTOCOL.md, "Attachments"): the plaintext is
 * padded with zeros to {@link paddedAttachmentSize}, encrypted with AES-256-CBC under
 * `keys[0..32)` and a random IV, and authenticated with HMAC-SHA256 under `keys[32..64)` over
 * IV and ciphertext; the digest is SHA-256 of the result.
 */
export async function encryptAttachment(
  crypto: MediaCrypto,
  plaintext: Uint8Array,
  keys: Uint8Array,
  iv: Uint8Array,
): Promise<EncryptedAttachment> {
  checkAttachmentSize(plaintext.byteLength)
  if (keys.byteLength !== ATTACHMENT_KEYS_BYTES)
    throw new MalformedError('attachment keys are 64 bytes')
  if (iv.byteLength !== ATTACHMENT_IV_BYTES) throw new MalformedError('an IV is 16 bytes')
  const padded = new Uint8Array(paddedAttachmentSize(plaintext.byteLength))
  padded.set(plaintext)
  const body = await crypto.aesCbcEncrypt(keys.subarray(0, 32), iv, padded)
  const mac = await crypto.hmacSha256(keys.subarray(32, 64), iv, body)
  const ciphertext = new Uint8Array(ATTACHMENT_IV_BYTES + body.byteLength + ATTACHMENT_MAC_BYTES)
  ciphertext.set(iv)
  ciphertext.set(body, ATTACHMENT_IV_BYTES)
  ciphertext.set(mac, ATTACHMENT_IV_BYTES + body.byteLength)
  return { ciphertext, digest: await crypto.sha256(ciphertext) }
}

/**
 * Checks and decrypts an attachment: its SHA-256 must be `digest`, its MAC must verify, its
 * padding must be zeros; throws {@link TamperedError} otherwise (no byte of it is returned).
 */
export async function decryptAttachment(
  crypto: MediaCrypto,
  ciphertext: Uint8Array,
  keys: Uint8Array,
  digest: Uint8Array,
  size: number,
): Promise<Bytes> {
  await verifyAttachment(crypto, ciphertext, keys, digest, size)
  return decryptVerifiedAttachment(crypto, ciphertext, keys, size)
}

/**
 * Decrypts a ciphertext that {@link verifyAttachment} passed just now (a fetch checks it before
 * keeping it; one pass of SHA-256 and MAC is enough); throws {@link TamperedError} for bad
 * padding. Anything read back from storage goes through {@link decryptAttachment}.
 */
export async function decryptVerifiedAttachment(
  crypto: MediaCrypto,
  ciphertext: Uint8Array,
  keys: Uint8Array,
  size: number,
): Promise<Bytes> {
  const end = ciphertext.byteLength - ATTACHMENT_MAC_BYTES
  const iv = ciphertext.subarray(0, ATTACHMENT_IV_BYTES)
  const body = ciphertext.subarray(ATTACHMENT_IV_BYTES, end)
  let padded: Bytes
  try {
    padded = await crypto.aesCbcDecrypt(keys.subarray(0, 32), iv, body)
  } catch (error) {
    throw new TamperedError('the attachment does not decrypt', { cause: error })
  }
  if (padded.byteLength !== paddedAttachmentSize(size)) {
    throw new TamperedError('the attachment has the wrong padded length')
  }
  for (let i = size; i < padded.byteLength; i++) {
    if (padded[i] !== 0) throw new TamperedError('the attachment padding is not zeros')
  }
  return padded.subarray(0, size)
}

/**
 * Checks an attachment's ciphertext without decrypting it: its length, its SHA-256 against
 * `digest`, its MAC. Throws {@link TamperedError}.
 */
export async function verifyAttachment(
  crypto: MediaCrypto,
  ciphertext: Uint8Array,
  keys: Uint8Array,
  digest: Uint8Array,
  size: number,
): Promise<void> {
  if (ciphertext.byteLength !== attachmentCiphertextSize(size)) {
    throw new TamperedError('the attachment has the wrong length')
  }
  if (!sameBytes(await crypto.sha256(ciphertext), digest)) {
    throw new TamperedError('the attachment does not match its digest')
  }
  const end = ciphertext.byteLength - ATTACHMENT_MAC_BYTES
  const iv = ciphertext.subarray(0, ATTACHMENT_IV_BYTES)
  const body = ciphertext.subarray(ATTACHMENT_IV_BYTES, end)
  const mac = await crypto.hmacSha256(keys.subarray(32, 64), iv, body)
  if (!sameBytes(mac, ciphertext.subarray(end))) {
    throw new TamperedError('the attachment does not authenticate')
  }
}

/** Constant-time comparison (for MACs). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  let diff = 0
  for (let i = 0; i < a.byteLength; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}
