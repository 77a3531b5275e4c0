import { sha256 } from '@noble/hashes/sha2.js'
import type { KeyProvider } from '../crypto/key-provider.js'
import { mailboxKeyFor } from '../dht/keys.js'
import { Identity } from '../identity/identity.js'
import { concatBytes, utf8, type Bytes } from '../wire/bytes.js'

/**
 * Group mailboxes (docs/PROTOCOL.md, "Group mailboxes"): a sending device's chain for a group
 * has a random 32-byte seed, given with the chain to the member devices; each UTC day of the
 * chain has its own mailbox, whose key pair every holder of the seed derives. A group text
 * goes there once for every member device that holds the seed, instead of once per device.
 */
export const GROUP_MAILBOX_SEED_BYTES = 32
/** Days are UTC days since the Unix epoch, of the text's `sentAt`. */
export const GROUP_MAILBOX_DAY_MS = 86_400_000
/**
 * A reader also reads the day before (after) its last read (now) when that read (now) is this
 * close to midnight: a sender's clock a little off puts its text on the next or previous day.
 */
export const GROUP_MAILBOX_SKEW_MS = 3_600_000
/** Days read at most per chain in one fetch (a member back after the 30-day TTL reads them all). */
export const GROUP_MAILBOX_MAX_DAYS = 32

const DOMAIN = utf8('passage/group-mailbox/v1\0')

/** The day of a time (ms since the epoch). */
export function groupMailboxDay(ms: number): number {
  return Math.floor(ms / GROUP_MAILBOX_DAY_MS)
}

/**
 * The private key of a chain's mailbox for one day:
 * `SHA-256("passage/group-mailbox/v1\0" ‖ seed ‖ u32 day)`, a Curve25519 private key.
 */
export function groupMailboxPrivateKey(seed: Uint8Array, day: number): Bytes {
  if (seed.byteLength !== GROUP_MAILBOX_SEED_BYTES)
    throw new Error('a group mailbox seed is 32 bytes')
  if (!Number.isInteger(day) || day < 0 || day > 0xffffffff) throw new Error('day out of range')
  const d = new Uint8Array(4)
  new DataView(d.buffer).setUint32(0, day)
  return sha256(concatBytes(DOMAIN, seed, d)) as Bytes
}

/** The identity that owns (signs the reads of) a chain's mailbox for one day. */
export function groupMailboxIdentity(keys: KeyProvider, seed: Uint8Array, day: number): Identity {
  return Identity.fromPrivateKey(keys, groupMailboxPrivateKey(seed, day))
}

/** The DHT mailbox key of a chain's mailbox for one day. */
export function groupMailboxKey(keys: KeyProvider, seed: Uint8Array, day: number): Bytes {
  return mailboxKeyFor(groupMailboxIdentity(keys, seed, day).publicKey)
}

/**
 * The days a reader reads, from the time of its last complete read (or, first, of the chain's
 * arrival) to now: each day touched, widened by {@link GROUP_MAILBOX_SKEW_MS} both ways, at
 * most the last {@link GROUP_MAILBOX_MAX_DAYS}.
 */
export function groupMailboxDays(from: number, now: number): number[] {
  const last = groupMailboxDay(now + GROUP_MAILBOX_SKEW_MS)
  const first = Math.max(
    groupMailboxDay(Math.min(from, now) - GROUP_MAILBOX_SKEW_MS),
    last - GROUP_MAILBOX_MAX_DAYS + 1,
    0,
  )
  const days: number[] = []
  for (let d = first; d <= last; d++) days.push(d)
  return days
}
