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
    // The padding is checked here, not by OpenSSL: its `final()` hands back the last block
    // apart, and joining it to the rest copied the whole plaintext once more.
    if (ciphertext.byteLength === 0 || ciphertext.byteLength % 16 !== 0)
      throw new Error('an AES-CBC ciphertext is a whole number of 16-byte blocks')
    const decipher = createDecipheriv('aes-256-cbc', key, iv).setAutoPadding(false)
    const out = decipher.update(ciphertext)
    decipher.final()
    const pad = out[out.byteLength - 1]!
    let bad = pad === 0 || pad > 16 ? 1 : 0
    for (let i = 1; i <= 16 && bad === 0 && i <= pad; i++) bad |= out[out.byteLength - i]! ^ pad
    if (bad !== 0) throw new Error('bad decrypt: the PKCS#7 padding is wrong')
    return new Uint8Array(out.buffer as ArrayBuffer, out.byteOffset, out.byteLength - pad)
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
