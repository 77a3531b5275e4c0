// A pre-key bundle payload of a sound layout for DHT tests: its keys are random and its
// signatures zero, since a DHT node checks a bundle's layout, not its keys (the reader does).
import { encodePreKeyBundlePayload, type Bytes } from '@passage/sdk'

/** 33 random bytes shaped as a public key (`0x05` first). */
export function randomPublicKey(): Bytes {
  const key = crypto.getRandomValues(new Uint8Array(33)) as Bytes
  key[0] = 0x05
  return key
}

/** A bundle payload (record type 2) that parses; `registrationId` tells two apart. */
export function bundlePayload(registrationId = 4242): Bytes {
  return encodePreKeyBundlePayload({
    deviceId: 1,
    registrationId,
    signedPreKeyId: 7,
    signedPreKey: randomPublicKey(),
    signedPreKeySignature: new Uint8Array(64) as Bytes,
    kyberPreKeyId: 8,
    kyberPreKeyHash: new Uint8Array(32) as Bytes,
    kyberPreKeySignature: new Uint8Array(64) as Bytes,
    oneTimePreKeys: [{ id: 1, publicKey: randomPublicKey() }],
  })
}
