import { IdentityKeyPair, PrivateKey, PublicKey } from '@signalapp/libsignal-client'
import type { KeyProvider, SecretKey } from '../../core/crypto/key-provider.js'
import { MalformedError, PassageError } from '../../core/errors.js'
import type { Identity } from '../../core/identity/identity.js'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../../core/identity/node-id.js'
import { toBytes, type Bytes } from '../../core/wire/bytes.js'

/** An identity key held as a libsignal key pair. */
class LibsignalSecretKey implements SecretKey {
  readonly publicKey: Bytes

  constructor(readonly keyPair: IdentityKeyPair) {
    this.publicKey = toBytes(keyPair.publicKey.serialize())
  }

  sign(message: Uint8Array): Bytes {
    return toBytes(this.keyPair.privateKey.sign(toBytes(message)))
  }

  agree(publicKey: Uint8Array): Bytes {
    return toBytes(this.keyPair.privateKey.agree(PublicKey.deserialize(toBytes(publicKey))))
  }

  open(sealed: Uint8Array, info: Uint8Array, associatedData: Uint8Array): Bytes {
    return toBytes(
      this.keyPair.privateKey.open(toBytes(sealed), toBytes(info), toBytes(associatedData)),
    )
  }

  serialize(): Bytes {
    return toBytes(this.keyPair.serialize())
  }

  exportPrivateKey(): Bytes {
    return toBytes(this.keyPair.privateKey.serialize())
  }
}

/**
 * Identity keys on libsignal (`@signalapp/libsignal-client`, native): XEdDSA signatures,
 * X25519 agreement, HPKE sealing. Stateless; one for the whole process.
 *
 * @example
 * const alice = Identity.generate(libsignalKeys)
 */
export const libsignalKeys: KeyProvider = {
  generate: () => new LibsignalSecretKey(IdentityKeyPair.generate()),

  deserialize(bytes) {
    try {
      return new LibsignalSecretKey(IdentityKeyPair.deserialize(toBytes(bytes)))
    } catch (cause) {
      throw new MalformedError('not a serialized identity key pair', { cause })
    }
  },

  fromPrivateKey(privateKey) {
    try {
      const key = PrivateKey.deserialize(toBytes(privateKey))
      return new LibsignalSecretKey(new IdentityKeyPair(key.getPublicKey(), key))
    } catch (cause) {
      throw new MalformedError('not a 32-byte Curve25519 private key', { cause })
    }
  },

  verify(publicKey, message, signature) {
    if (publicKey.byteLength !== PUBLIC_KEY_BYTES || signature.byteLength !== SIGNATURE_BYTES) {
      return false
    }
    try {
      return PublicKey.deserialize(toBytes(publicKey)).verify(toBytes(message), toBytes(signature))
    } catch {
      return false
    }
  },

  seal(recipientPublicKey, plaintext, info, associatedData) {
    let key: PublicKey
    try {
      key = PublicKey.deserialize(toBytes(recipientPublicKey))
    } catch (cause) {
      throw new MalformedError('the recipient key is not a public key', { cause })
    }
    return toBytes(key.seal(toBytes(plaintext), toBytes(info), toBytes(associatedData)))
  },
}

/**
 * The libsignal key pair behind an identity made by {@link libsignalKeys}: what libsignal's own
 * stores hand to its session code. Throws for an identity of another provider.
 */
export function libsignalKeyPair(identity: Identity): IdentityKeyPair {
  if (!(identity.secretKey instanceof LibsignalSecretKey)) {
    throw new PassageError(
      'PASSAGE_ERR_KEYS',
      'the libsignal Signal provider needs an identity made by libsignalKeys',
    )
  }
  return identity.secretKey.keyPair
}
