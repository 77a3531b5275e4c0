import type { Bytes } from '../wire/bytes.js'

/** Default time an envelope is kept when the sender does not say: 14 days (Session's TTL). */
export const DEFAULT_ENVELOPE_TTL_MS = 14 * 24 * 3600_000
/** Longest time an envelope may be kept: 30 days. */
export const MAX_ENVELOPE_TTL_MS = 30 * 24 * 3600_000
/** A delete leaves a tombstone this long so a late republish cannot bring the envelope back. */
export const TOMBSTONE_TTL_MS = MAX_ENVELOPE_TTL_MS

/** One stored envelope: opaque ciphertext for the owner of `mailboxKey`. */
export interface StoredEnvelope {
  mailboxKey: Bytes
  /** {@link envelopeIdOf}(mailboxKey, data): 16 bytes. */
  id: Bytes
  data: Bytes
  /** The sender's IP address (for the per-source quota). */
  source: string
  storedAt: number
  expiresAt: number
}

/** What {@link MailboxStore.list} returns per envelope. */
export interface EnvelopeSummary {
  id: Bytes
  size: number
  expiresAt: number
}

/** Limits checked atomically with an insert. */
export interface MailboxQuota {
  /** Envelopes per mailbox (SimpleX keeps 128 per queue). */
  maxCount: number
  /** Bytes per mailbox. */
  maxBytes: number
  /** Bytes stored on behalf of one source IP, over all mailboxes. */
  maxSourceBytes: number
}

/**
 * Defaults: 10,000 envelopes or 16 MiB per mailbox, 64 MiB per source address. The bytes
 * bound the storage; the count is high enough that a busy group (a text envelope is about
 * 0.5 KB: a 50-member group writing 330 texts a day) does not fill a member's mailbox in the
 * 30 days its envelopes live (docs/PROTOCOL.md, "Groups").
 */
export const DEFAULT_MAILBOX_QUOTA: MailboxQuota = {
  maxCount: 10_000,
  maxBytes: 16 * 1024 * 1024,
  maxSourceBytes: 64 * 1024 * 1024,
}

/**
 * `stored`: inserted now; `duplicate`: already there (a retry: success);
 * `deleted`: the owner deleted it already (success for the sender, not stored again);
 * `mailbox-full` and `source-full`: refused by a quota.
 */
export type PutOutcome = 'stored' | 'duplicate' | 'deleted' | 'mailbox-full' | 'source-full'

/**
 * Where a DHT node keeps mailbox envelopes. The SDK has {@link MemoryMailboxStore}; the
 * server implements it on Postgres. Every implementation passes `mailboxStoreConformance`
 * (sdk/test/mailbox/conformance.ts). Envelopes past `expiresAt` are invisible to every
 * read even before {@link MailboxStore.expire} removes them.
 */
export interface MailboxStore {
  /**
   * Inserts unless a quota (counted over unexpired envelopes) would be exceeded. Must be
   * atomic and durable before it resolves: the node acknowledges the sender afterwards.
   */
  put(envelope: StoredEnvelope, quota: MailboxQuota, now: number): Promise<PutOutcome>
  /** Whether an unexpired envelope with this ID is stored. */
  has(mailboxKey: Bytes, id: Bytes, now: number): Promise<boolean>
  /** Unexpired envelope summaries ordered by ID, strictly after `after` when given. */
  list(mailboxKey: Bytes, now: number, limit: number, after?: Bytes): Promise<EnvelopeSummary[]>
  get(mailboxKey: Bytes, id: Bytes, now: number): Promise<StoredEnvelope | undefined>
  /**
   * Deletes these envelopes and leaves tombstones (until `now` + {@link TOMBSTONE_TTL_MS})
   * so they are not stored again. Idempotent. Returns how many were present.
   */
  delete(mailboxKey: Bytes, ids: Bytes[], now: number): Promise<number>
  /** Removes expired envelopes and tombstones; returns how many envelopes expired. */
  expire(now: number): Promise<number>
  /** Mailbox keys holding unexpired envelopes (for handover/republish), at most `limit`. */
  mailboxes(now: number, limit: number): Promise<Bytes[]>
  /** Unexpired envelopes and bytes stored. */
  stats(now: number): Promise<{ envelopes: number; bytes: number }>
}
