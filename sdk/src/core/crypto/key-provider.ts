import type { Bytes } from '../wire/bytes.js'

/**
 * Checks signatures: all that verifying records, announces, beacons and link proofs takes.
 * Keys are 33-byte Curve25519 public keys (`0x05 || X25519`), signatures 64-byte XEdDSA.
 */
export interface Verifier {
  /** True when `signature` is `publicKey`'s over `message`; false for any bad input, never a throw. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
}

/**
 * A secret identity key, held by a {@link KeyProvider}: the operations that need the private
 * half, and nothing that hands it out (but {@link SecretKey.serialize}, for the home's storage).
 */
export interface SecretKey {
  /** The public key, 33 bytes. */
  readonly publicKey: Bytes
  /** An XEdDSA signature (64 bytes, randomized) over `message`. */
  sign(message: Uint8Array): Bytes
  /** The X25519 shared secret with `publicKey` (32 bytes); throws for a key that is not one. */
  agree(publicKey: Uint8Array): Bytes
  /**
   * Opens what {@link KeyProvider.seal} sealed to this key (HPKE, RFC 9180: base mode,
   * DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM; the suite byte first). Throws when it
   * does not open.
   */
  open(sealed: Uint8Array, info: Uint8Array, associatedData: Uint8Array): Bytes
  /** The key pair in its storage form: secret, keep it like a password. */
  serialize(): Bytes
  /** The 32-byte Curve25519 private key (for the recovery code; `KeyProvider.fromPrivateKey` takes it back). */
  exportPrivateKey(): Bytes
}

/**
 * The cryptography of identity keys, passed in so the core loads no native addon: Node uses
 * libsignal's (`libsignalKeys` of `@passage/sdk/node`); a React Native app brings its own of
 * the same algorithms.
 */
export interface KeyProvider extends Verifier {
  /** A fresh identity key. */
  generate(): SecretKey
  /** A key from {@link SecretKey.serialize}'s bytes; throws `MalformedError` for anything else. */
  deserialize(bytes: Uint8Array): SecretKey
  /** The key of a 32-byte Curve25519 private key (test vectors, key import). */
  fromPrivateKey(privateKey: Uint8Array): SecretKey
  /**
   * Seals `plaintext` to `recipientPublicKey` (see {@link SecretKey.open}); throws
   * `MalformedError` when the key is not a public key.
   */
  seal(
    recipientPublicKey: Uint8Array,
    plaintext: Uint8Array,
    info: Uint8Array,
    associatedData: Uint8Array,
  ): Bytes
}
