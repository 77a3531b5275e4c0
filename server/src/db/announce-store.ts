import type { AnnounceJson, PeerAddress } from '@passage/sdk'

/** One live announce as stored: the signed JSON plus what the server observed. */
export interface StoredAnnounce {
  /** The signed announce exactly as the node sent it (verifiable by anyone). */
  announce: AnnounceJson
  /** Hex of the 20-byte node ID (for XOR ordering and lookups). */
  idHex: string
  /** The address the announce came from, as this server saw it. */
  observed: { host: string; port: number }
  /** Milliseconds since the epoch after which the announce is dead. */
  expiresAt: number
}

/** The outcome of {@link AnnounceStore.put}. */
export type PutResult = 'stored' | 'replay'

/**
 * Durable storage of live announces (one row per node ID). Implemented by
 * `PostgresAnnounceStore` over Postgres (`pg`) and over the embedded default (PGlite).
 */
export interface AnnounceStore {
  /**
   * Stores `entry` if its `seq` is greater than the stored one for the same ID (or there is
   * none, or the stored one has expired); otherwise returns `'replay'` and changes nothing.
   * Atomic: two concurrent puts of the same seq store one and refuse the other.
   * `now` (ms) decides whether the stored one has expired; it defaults to the store's clock.
   */
  put(entry: StoredAnnounce, now?: number): Promise<PutResult>
  /** The live announce of one ID (hex), or undefined. */
  get(idHex: string, now: number): Promise<StoredAnnounce | undefined>
  /** Up to `limit` live announces closest to `nearHex` by XOR, closest first. */
  closest(nearHex: string, limit: number, now: number): Promise<StoredAnnounce[]>
  /** Up to `limit` live announces chosen at random. */
  sample(limit: number, now: number): Promise<StoredAnnounce[]>
  /** How many announces are live. */
  countLive(now: number): Promise<number>
  /** Deletes expired announces; returns how many. */
  sweep(now: number): Promise<number>
}

export type { PeerAddress }
