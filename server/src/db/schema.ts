import type { AnnounceJson } from '@passage/sdk'
import type { ColumnType } from 'kysely'

/**
 * The tables of the super-node's database, as Kysely sees them. Columns of type `bigint`
 * (milliseconds, sequence numbers) come back as JS numbers on both backends.
 */
export interface Database {
  announces: AnnouncesTable
  node_identity: NodeIdentityTable
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
