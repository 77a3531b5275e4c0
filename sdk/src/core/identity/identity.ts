import { IdentityKeyPair, PrivateKey, PublicKey } from '@signalapp/libsignal-client'
import { BadSignatureError, MalformedError } from '../errors.js'
import { equalBytes, toBytes, type Bytes } from '../wire/bytes.js'
import { nodeIdFromPublicKey, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, type NodeId } from './node-id.js'
import { encodeTextId } from './text-id.js'

/**
 * A Passage identity: a libsignal identity key pair (Curve25519). Its ID is the hash of the
 * public key ({@link nodeIdFromPublicKey}); its text ID is that hash as 40 checksummed
 * characters.
 *
 * @example
 * const me = Identity.generate()
 * const saved = me.serialize()          // keep it secret
 * const again = Identity.deserialize(saved)
 * verifySignature(me.publicKey, message, me.sign(message))
 */
export class Identity {
  readonly publicKey: Bytes
  readonly id: NodeId
  readonly textId: string

  private constructor(readonly keyPair: IdentityKeyPair) {
    this.publicKey = toBytes(keyPair.publicKey.serialize())
    this.id = nodeIdFromPublicKey(this.publicKey)
    this.textId = encodeTextId(this.id)
  }

  static generate(): Identity {
    return new Identity(IdentityKeyPair.generate())
  }

  /** The identity of a 32-byte Curve25519 private key (for test vectors and key import). */
  static fromPrivateKey(privateKey: Uint8Array): Identity {
    try {
      const key = PrivateKey.deserialize(toBytes(privateKey))
      return new Identity(new IdentityKeyPair(key.getPublicKey(), key))
    } catch (cause) {
      throw new MalformedError('not a 32-byte Curve25519 private key', { cause })
    }
  }

  /** Restores an identity from {@link Identity.serialize}'s bytes. */
  static deserialize(bytes: Uint8Array): Identity {
    try {
      return new Identity(IdentityKeyPair.deserialize(toBytes(bytes)))
    } catch (cause) {
      throw new MalformedError('not a serialized identity key pair', { cause })
    }
  }

  /** The key pair as bytes (libsignal's format). Secret: store it like a password. */
  serialize(): Bytes {
    return toBytes(this.keyPair.serialize())
  }

  /** An XEdDSA signature (64 bytes, randomized) over `message`. */
  sign(message: Uint8Array): Bytes {
    return toBytes(this.keyPair.privateKey.sign(toBytes(message)))
  }
}

/** True when `signature` is `publicKey`'s signature over `message`; false for any bad input. */
export function isValidSignature(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (publicKey.byteLength !== PUBLIC_KEY_BYTES || signature.byteLength !== SIGNATURE_BYTES) {
    return false
  }
  try {
    return PublicKey.deserialize(toBytes(publicKey)).verify(toBytes(message), toBytes(signature))
  } catch {
    return false
  }
}

/** Throws {@link BadSignatureError} unless the signature verifies. */
export function verifySignature(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): void {
  if (!isValidSignature(publicKey, message, signature)) throw new BadSignatureError()
}

/** True when `id` is the hash of `publicKey`. */
export function idMatchesKey(id: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return equalBytes(id, nodeIdFromPublicKey(publicKey))
  } catch {
    return false
  }
}
