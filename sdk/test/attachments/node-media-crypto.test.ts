// nodeMediaCrypto's AES-256-CBC decryption checks PKCS#7 itself (OpenSSL's padding is off, so
// the plaintext comes back in one buffer): the same plaintexts as OpenSSL's own padding, the
// same refusals.
import { createCipheriv, randomBytes } from 'node:crypto'
import t from 'tap'
import { toHex } from '@passage/sdk'
import { nodeMediaCrypto } from '@passage/sdk/node'

const key = randomBytes(32)
const iv = randomBytes(16)

/** AES-256-CBC with no padding of its own: `blocks` exactly as given. */
function rawEncrypt(blocks: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-256-cbc', key, iv).setAutoPadding(false)
  return Buffer.concat([cipher.update(blocks), cipher.final()])
}

t.test('every length from 0 to 48 bytes round-trips, as OpenSSL pads it', async (t) => {
  for (let n = 0; n <= 48; n++) {
    const plaintext = randomBytes(n)
    const cipher = createCipheriv('aes-256-cbc', key, iv)
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
    const ours = await nodeMediaCrypto.aesCbcEncrypt(key, iv, plaintext)
    t.equal(toHex(ours), toHex(ciphertext), `${n} bytes encrypt as OpenSSL does`)
    const back = await nodeMediaCrypto.aesCbcDecrypt(key, iv, ciphertext)
    t.equal(toHex(back), toHex(plaintext), `${n} bytes`)
  }
})

t.test('a wrong PKCS#7 padding is refused', async (t) => {
  const refused = (name: string, last: number[]) => {
    const block = randomBytes(32)
    block.set(last, 32 - last.length)
    t.throws(() => nodeMediaCrypto.aesCbcDecrypt(key, iv, rawEncrypt(block)), /padding/, name)
  }
  refused('a last byte of 0', [0])
  refused('a last byte over 16', [17])
  refused('padding bytes that differ (ends 9, 3, 3: claims 3)', [9, 3, 3])
  refused('a full block claimed, one byte off', [...new Array(15).fill(16), 15].reverse())
  const full = new Uint8Array(32).fill(16)
  t.equal(
    (nodeMediaCrypto.aesCbcDecrypt(key, iv, rawEncrypt(full)) as Uint8Array).byteLength,
    16,
    'a whole block of 16s: 16 bytes of plaintext',
  )
  t.throws(() => nodeMediaCrypto.aesCbcDecrypt(key, iv, randomBytes(20)), /16-byte blocks/)
  t.throws(() => nodeMediaCrypto.aesCbcDecrypt(key, iv, new Uint8Array(0)), /16-byte blocks/)
})
