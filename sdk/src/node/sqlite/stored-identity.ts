import type { HomeIdentity } from '../../core/client/ports.js'
import type { KeyProvider } from '../../core/crypto/key-provider.js'
import { Identity } from '../../core/identity/identity.js'
import type { Bytes } from '../../core/wire/bytes.js'

/** The identity kept in a home, with what was recorded when it was made. */
export interface StoredIdentity {
  /** This device's identity (device 1: the account key). */
  identity: Identity
  /** The account's key: the identity's own on device 1. */
  accountKey: Bytes
  /** The account's text ID (what contacts add; the device's own while waiting to be linked). */
  textId: string
  /** 1 holds the account key; 0 while waiting to be linked. */
  deviceId: number
  /** A display name the owner chose (`passage init --name`), shown in its `passage:` URI. */
  name?: string
  /** When the identity was created, ms since the epoch. */
  createdAt: number
}

/** The identity a home's row describes, its key read with `keys`. */
export function storedIdentity(keys: KeyProvider, row: HomeIdentity): StoredIdentity {
  const identity = Identity.deserialize(keys, row.secretKey)
  return {
    identity,
    accountKey: row.accountPublicKey ?? identity.publicKey,
    textId: row.textId,
    deviceId: row.deviceId,
    createdAt: row.createdAt,
    ...(row.name !== undefined ? { name: row.name } : {}),
  }
}
