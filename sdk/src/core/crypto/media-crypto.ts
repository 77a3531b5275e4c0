import type { Bytes } from '../wire/bytes.js'

/**
 * The bulk cryptography of attachments (docs/PROTOCOL.md, "Attachments"), passed in so the
 * core loads no native code: Node uses `node:crypto` (`nodeMediaCrypto` of
 * `@passage/sdk/node`); a browser or React Native app wraps WebCrypto's `crypto.subtle`
 * (every method may return a promise for that reason).
 */
export interface MediaCrypto {
  /** AES-256-CBC with PKCS#7 padding. */
  aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Bytes | Promise<Bytes>
  /** The inverse of {@link aesCbcEncrypt}; throws when the padding is wrong. */
  aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Bytes | Promise<Bytes>
  /** HMAC-SHA256 of the concatenation of `parts`. */
  hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Bytes | Promise<Bytes>
  /** SHA-256 of the concatenation of `parts`. */
  sha256(...parts: Uint8Array[]): Bytes | Promise<Bytes>
}
