import type { AnnounceJson } from '@passage/sdk'
import type { ColumnType } from 'kysely'

/**
 * The tables of the super-node's database, as Kysely sees them. Columns of type `bigint`
 * (milliseconds, sequence numbers) come back as JS numbers on both backends.
 */
export interface Database {
  announces: AnnouncesTable
  node_identity: NodeIdentityTable
  mailbox_envelopes: MailboxEnvelopesTable
  mailbox_tombstones: MailboxTombstonesTable
  mailbox_counters: MailboxCountersTable
  mailbox_source_bytes: MailboxSourceBytesTable
  dht_records: DhtRecordsTable
  dht_contacts: DhtContactsTable
  storage_probe: StorageProbeTable
}

/** The one row readiness writes (id 1), so that ready means a committed write. */
export interface StorageProbeTable {
  id: number
  /** Wall-clock milliseconds of the last readiness write. */
  written_at: number
}

/** One row per node ID: its latest announce. */
export interface AnnouncesTable {
  /** Lower-case hex of the 20-byte node ID (checked by a constraint). */
  id_hex: string
  seq: number
  timestamp: number
  /** The signed announce, untouched; written as a JSON string, read back as an object. */
  announce: ColumnType<AnnounceJson, string, string>
  observed_host: string
  observed_port: number
  /** Milliseconds since the epoch after which the row is dead. */
  expires_at: number
}

/** A single row (`id = 1`): this server's own libsignal identity key pair. */
export interface NodeIdentityTable {
  id: ColumnType<number, 1, never>
  key_pair: Uint8Array
  /** Milliseconds since the epoch. */
  created_at: number
}

/** One DHT mailbox envelope (opaque ciphertext) stored by this super-node. */
export interface MailboxEnvelopesTable {
  mailbox_key: Uint8Array
  /** 16-byte envelope ID. */
  id: Uint8Array
  data: Uint8Array
  /** `data` length in bytes (quotas sum it without reading `data`). */
  size: number
  /** The sender's IP address (per-source quota). */
  source: string
  stored_at: number
  expires_at: number
}

/** A deleted envelope: not stored again until `expires_at`. */
export interface MailboxTombstonesTable {
  mailbox_key: Uint8Array
  id: Uint8Array
  expires_at: number
}

/** The latest signed record under a DHT record key. */
export interface DhtRecordsTable {
  key: Uint8Array
  seq: number
  signature: Uint8Array
  /** The record in its wire form (`encodeSignedRecord`). */
  record: Uint8Array
}

/** The DHT routing table's verified contacts, saved so a restart can rejoin through them. */
export interface DhtContactsTable {
  id: Uint8Array
  host: string
  port: number
  saved_at: number
}

/**
 * Running totals per mailbox over every stored envelope (expired ones too, until
 * `expire()` removes them): never below the live totals. Kept by the store's statements.
 */
export interface MailboxCountersTable {
  mailbox_key: Uint8Array
  envelopes: number
  bytes: number
}

/** Running total of bytes stored per source address (as {@link MailboxCountersTable}). */
export interface MailboxSourceBytesTable {
  source: string
  bytes: number
}
