import type { KeyProvider, SecretKey } from '../crypto/key-provider.js'
import { MalformedError } from '../errors.js'
import { equalBytes, type Bytes } from '../wire/bytes.js'
import { nodeIdFromPublicKey, type NodeId } from './node-id.js'
import { encodeTextId } from './text-id.js'

/**
 * A Passage identity: a Curve25519 identity key held by a {@link KeyProvider}. Its ID is the
 * hash of the public key ({@link nodeIdFromPublicKey}); its text ID is that hash as 40
 * checksummed characters.
 *
 * @example
 * import { libsignalKeys } from '@passage/sdk/node'
 * const me = Identity.generate(libsignalKeys)
 * const saved = me.serialize()          // keep it secret
 * const again = Identity.deserialize(libsignalKeys, saved)
 * libsignalKeys.verify(me.publicKey, message, me.sign(message)) // true
 */
export class Identity {
  readonly publicKey: Bytes
  readonly id: NodeId
  readonly textId: string

  /**
   * @param secretKey the key (made by `keys`)
   * @param keys the provider that made it; components that hold this identity verify others'
   *   signatures and seal messages with it
   */
  constructor(
    readonly secretKey: SecretKey,
    readonly keys: KeyProvider,
  ) {
    this.publicKey = secretKey.publicKey
    this.id = nodeIdFromPublicKey(this.publicKey)
    this.textId = encodeTextId(this.id)
  }

  static generate(keys: KeyProvider): Identity {
    return new Identity(keys.generate(), keys)
  }

  /** The identity of a 32-byte Curve25519 private key (for test vectors and key import). */
  static fromPrivateKey(keys: KeyProvider, privateKey: Uint8Array): Identity {
    return new Identity(keys.fromPrivateKey(privateKey), keys)
  }

  /** Restores an identity from {@link Identity.serialize}'s bytes. */
  static deserialize(keys: KeyProvider, bytes: Uint8Array): Identity {
    return new Identity(keys.deserialize(bytes), keys)
  }

  /** The key pair as bytes (the provider's format). Secret: store it like a password. */
  serialize(): Bytes {
    return this.secretKey.serialize()
  }

  /** An XEdDSA signature (64 bytes, randomized) over `message`. */
  sign(message: Uint8Array): Bytes {
    return this.secretKey.sign(message)
  }

  /** The X25519 shared secret with `publicKey`; throws `MalformedError` for a bad key. */
  agree(publicKey: Uint8Array): Bytes {
    try {
      return this.secretKey.agree(publicKey)
    } catch (cause) {
      throw new MalformedError('not a Curve25519 public key', { cause })
    }
  }

  /** Opens what was sealed to this identity's key (see {@link KeyProvider.seal}). */
  open(sealed: Uint8Array, info: Uint8Array, associatedData: Uint8Array): Bytes {
    return this.secretKey.open(sealed, info, associatedData)
  }
}

/** True when `id` is the hash of `publicKey`. */
export function idMatchesKey(id: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return equalBytes(id, nodeIdFromPublicKey(publicKey))
  } catch {
    return false
  }
}
