import type { AnnounceJson } from '@passage/sdk'
import type { StoredAnnounce } from '../db/announce-store.js'

/** A live peer as the API shows it (see `peerSchema`). */
export type Peer = AnnounceJson & { observed: { host: string; port: number }; expiresAt: number }

/** The API form of a stored announce: the signed fields untouched, plus what was observed. */
export function toPeer(entry: StoredAnnounce): Peer {
  return { ...entry.announce, observed: entry.observed, expiresAt: entry.expiresAt }
}
