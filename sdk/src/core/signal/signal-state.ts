import { BinaryReader } from '../wire/binary.js'
import { toBytes, type Bytes } from '../wire/bytes.js'
import { addressKey, signalAddressOfKey, type SignalAddress } from './signal-address.js'
import { SignalNamespace as NS, type SignalStorage } from './signal-storage.js'

// The Signal state that is plain storage (trusted and pending identity keys, one-time pre-key
// bookkeeping): the same for every Signal provider, so it lives in the core.

/**
 * Decides whether `publicKey` may be the identity key of `address` at all, before any
 * trust-on-first-use. The default, {@link accountKeyPolicy}, holds every address to its
 * account ID (the ID is the hash of the key), so nobody can claim someone else's ID.
 */
export type IdentityKeyPolicy = (address: SignalAddress, publicKey: Uint8Array) => boolean

/**
 * Every device of an account presents the account's identity key (as in Signal, linked
 * devices share it), and the account ID is the hash of that key: any other key is refused.
 */
export const accountKeyPolicy: IdentityKeyPolicy = (address, publicKey) =>
  signalAddressOfKey(publicKey, address.deviceId).name === address.name

/** Why {@link SignalIdentityStore} last refused a key. */
export type IdentityRefusal =
  | { kind: 'impersonation'; address: SignalAddress; publicKey: Bytes }
  | { kind: 'identity-changed'; address: SignalAddress; publicKey: Bytes }

/**
 * The trusted identity key of `address` (33 bytes), if any.
 */
export async function trustedIdentityKey(
  storage: SignalStorage,
  address: SignalAddress,
): Promise<Bytes | undefined> {
  const bytes = await storage.get(NS.identity, addressKey(address))
  return bytes ? toBytes(bytes) : undefined
}

/** The changed identity key of `address` waiting for acceptance, if any. */
export async function pendingIdentityKey(
  storage: SignalStorage,
  address: SignalAddress,
): Promise<Bytes | undefined> {
  const bytes = await storage.get(NS.identityPending, addressKey(address))
  return bytes ? toBytes(bytes) : undefined
}

/**
 * Trusts the changed key recorded for `address` (the user verified it) and drops the session
 * made with the old key. Returns the accepted key, or `undefined` when nothing was pending.
 */
export async function acceptIdentityChange(
  storage: SignalStorage,
  address: SignalAddress,
): Promise<Bytes | undefined> {
  return storage.transaction(async (tx) => {
    const pending = await tx.get(NS.identityPending, addressKey(address))
    if (!pending) return undefined
    await tx.put(NS.identity, addressKey(address), pending)
    await tx.delete(NS.identityPending, addressKey(address))
    await tx.delete(NS.session, addressKey(address))
    return toBytes(pending)
  })
}

/** One-time pre-keys not used yet: replenish and republish the bundle when this runs low. */
export async function countOneTimePreKeys(storage: SignalStorage): Promise<number> {
  return (await unusedPreKeyIds(storage)).length
}

/** IDs of the one-time pre-keys not used yet, ascending. */
export async function unusedPreKeyIds(storage: SignalStorage): Promise<number[]> {
  const used = new Set(await storage.list(NS.preKeyUsed))
  return (await storage.list(NS.preKey))
    .filter((id) => !used.has(id))
    .map(Number)
    .sort((a, b) => a - b)
}

/** Deletes one-time pre-keys used before `now - graceMs`; returns how many. */
export async function purgeUsedPreKeys(
  storage: SignalStorage,
  now: number,
  graceMs: number,
): Promise<number> {
  return storage.transaction(async (tx) => {
    let purged = 0
    for (const id of await tx.list(NS.preKeyUsed)) {
      const bytes = await tx.get(NS.preKeyUsed, id)
      const usedAt = bytes ? new BinaryReader(bytes).u64('usedAt') : 0
      if (usedAt <= now - graceMs) {
        await tx.delete(NS.preKey, id)
        await tx.delete(NS.preKeyUsed, id)
        purged++
      }
    }
    return purged
  })
}
