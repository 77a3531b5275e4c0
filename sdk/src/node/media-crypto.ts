import { createCipheriv, createDecipheriv, createHash, createHmac } from 'node:crypto'
import type { MediaCrypto } from '../core/crypto/media-crypto.js'
import { toBytes, type Bytes } from '../core/wire/bytes.js'

/** {@link MediaCrypto} on `node:crypto` (OpenSSL: AES-NI and SHA extensions where the CPU has them). */
export const nodeMediaCrypto: MediaCrypto = {
  aesCbcEncrypt(key, iv, plaintext): Bytes {
    const cipher = createCipheriv('aes-256-cbc', key, iv)
    return joined(cipher.update(plaintext), cipher.final())
  },
  aesCbcDecrypt(key, iv, ciphertext): Bytes {
    const decipher = createDecipheriv('aes-256-cbc', key, iv)
    return joined(decipher.update(ciphertext), decipher.final())
  },
  hmacSha256(key, ...parts): Bytes {
    const mac = createHmac('sha256', key)
    for (const part of parts) mac.update(part)
    return toBytes(mac.digest())
  },
  sha256(...parts): Bytes {
    const hash = createHash('sha256')
    for (const part of parts) hash.update(part)
    return toBytes(hash.digest())
  },
}

function joined(a: Buffer, b: Buffer): Bytes {
  if (b.byteLength === 0) return new Uint8Array(a.buffer as ArrayBuffer, a.byteOffset, a.byteLength)
  const out = Buffer.concat([a, b])
  return new Uint8Array(out.buffer as ArrayBuffer, out.byteOffset, out.byteLength)
}
