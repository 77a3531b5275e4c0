import type { Identity } from '../../core/identity/identity.js'

/** The identity kept in a client's home, with what was recorded when it was made. */
export interface StoredIdentity {
  identity: Identity
  /** A display name the owner chose (`passage init --name`), shown in its `passage:` URI. */
  name?: string
  /** When the identity was created, ms since the epoch. */
  createdAt: number
}

/**
 * A client's local state: one per home folder (`~/.passage`). Implemented on SQLite by
 * `SqliteClientStore`; this interface is what the rest of the SDK and the CLI depend on.
 */
export interface ClientStore {
  /** The identity of this home, `undefined` when none was created yet. */
  loadIdentity(): Promise<StoredIdentity | undefined>
  /**
   * Saves the identity of this home. Throws `AlreadyExistsError` when one exists, unless
   * `force` (which replaces it: the old secret key is lost for good).
   */
  saveIdentity(
    identity: Identity,
    options?: { force?: boolean; name?: string; createdAt?: number },
  ): Promise<StoredIdentity>
  /** A setting (JSON value), `undefined` when unset. */
  getSetting<T = unknown>(key: string): Promise<T | undefined>
  setSetting(key: string, value: unknown): Promise<void>
  deleteSetting(key: string): Promise<void>
  /** The super-node URLs this client remembers, in the order they were first used. */
  rememberedServers(): Promise<string[]>
  /** Adds a super-node URL to {@link rememberedServers} (no duplicates). */
  rememberServer(url: string): Promise<void>
  close(): Promise<void>
}
