// `@passage/sdk/home`: a home's identity, read without loading the client (Kysely, the
// network, libsignal's sessions). `passage id` starts in a quarter of the time this way.
import { join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import type { KeyProvider } from '../core/crypto/key-provider.js'
import { NoIdentityError } from '../core/errors.js'
import type { HomeIdentity } from '../core/client/ports.js'
import { libsignalKeys } from './libsignal/key-provider.js'
import { CLIENT_DB_FILE, homeFileExists } from './sqlite/home-file.js'
import { SqliteClientStatements } from './sqlite/statements.js'
import { storedIdentity, type StoredIdentity } from './sqlite/stored-identity.js'

/** How long a read waits for another process's write lock (a second `passage` running). */
const BUSY_TIMEOUT_MS = 5_000

/** A home's identity and where the home is. */
export interface HomeInfo extends StoredIdentity {
  /** The home folder, absolute. */
  home: string
}

/**
 * The identity of an existing home, creating nothing: `NoIdentityError` (which says to run
 * `passage init`) when there is none, `HomeUnreadableError` when this user may not read it.
 * Reads the database directly; a home whose schema predates the identity columns is opened
 * the full way (its migrations run).
 *
 * @example
 * const { textId } = await readHome(join(homedir(), '.passage'))
 */
export async function readHome(dir: string, keys: KeyProvider = libsignalKeys): Promise<HomeInfo> {
  const home = resolve(dir)
  const file = join(home, CLIENT_DB_FILE)
  if (!homeFileExists(home, file)) throw noIdentity(home)
  let stored: HomeIdentity | undefined
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true })
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
      stored = new SqliteClientStatements(db).identity()
    } finally {
      db.close()
    }
  } catch {
    // An older schema (or a database this shortcut cannot read): the full way migrates it.
    return (await import('./home.js')).readHomeMigrating(home, keys)
  }
  if (!stored) throw noIdentity(home)
  return { ...storedIdentity(keys, stored), home }
}

function noIdentity(home: string): NoIdentityError {
  return new NoIdentityError(
    `there is no identity in ${home} yet; run \`passage init\` to create one`,
  )
}
