// `@passage/sdk/home`: a home's identity, read without loading the client (Kysely, the
// network, libsignal's sessions). `passage id` starts in a quarter of the time this way, and
// with `readHomeCard` it loads no crypto library at all (libsignal is imported only when a key
// must be read).
import { join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import type { KeyProvider } from '../core/crypto/key-provider.js'
import { NoIdentityError } from '../core/errors.js'
import { byContactName, contactView, isListedContact } from '../core/client/contact-view.js'
import type { HomeIdentity } from '../core/client/ports.js'
import type { ChatContact } from '../core/client/types.js'
import type { Bytes } from '../core/wire/bytes.js'
import { CLIENT_DB_FILE, homeFileExists } from './sqlite/home-file.js'
import { isCurrentSchema } from './sqlite/schema-version.js'
import { SqliteClientStatements } from './sqlite/statements.js'
import { storedIdentity, type StoredIdentity } from './sqlite/stored-identity.js'

/** How long a read waits for another process's write lock (a second `passage` running). */
const BUSY_TIMEOUT_MS = 5_000

// What a command that only shows the identity needs beside the card, without loading the
// whole core (`@passage/sdk` is some hundred modules: about 100 ms of a cold start).
export { encodeContactUri } from '../core/identity/contact-uri.js'
export { toBase64Url } from '../core/wire/bytes.js'

/** A home's identity and where the home is. */
export interface HomeInfo extends StoredIdentity {
  /** The home folder, absolute. */
  home: string
}

/** What a home shows of its identity: public parts only (see {@link readHomeCard}). */
export interface HomeCard extends Omit<StoredIdentity, 'identity'> {
  /** This device's public key (33 bytes): the account key on device 1. */
  publicKey: Bytes
  /** The home folder, absolute. */
  home: string
}

/** The libsignal key provider, loaded when first needed (a native module: ~100 ms). */
async function defaultKeys(): Promise<KeyProvider> {
  return (await import('./libsignal/key-provider.js')).libsignalKeys
}

/**
 * The public side of an existing home's identity (text ID, keys, name, device), read from the
 * database without a crypto library: the public key is kept beside the secret one. A home made
 * before that was kept has its key derived (libsignal loaded) until a client opens it once.
 * Errors as {@link readHome}.
 */
export async function readHomeCard(dir: string): Promise<HomeCard> {
  const home = resolve(dir)
  const stored = await readIdentityRow(home)
  if (!stored?.publicKey) {
    const { identity, ...rest } = stored
      ? { ...storedIdentity(await defaultKeys(), stored), home }
      : await readHome(home)
    return { ...rest, publicKey: identity.publicKey, home }
  }
  return {
    publicKey: stored.publicKey,
    accountKey: stored.accountPublicKey ?? stored.publicKey,
    textId: stored.textId,
    deviceId: stored.deviceId,
    createdAt: stored.createdAt,
    ...(stored.name !== undefined ? { name: stored.name } : {}),
    home,
  }
}

/**
 * The identity row of a home, read directly; `undefined` when this shortcut cannot read it (an
 * older schema: the full way migrates it). Throws `NoIdentityError` when there is no home.
 */
async function readIdentityRow(home: string): Promise<HomeIdentity | undefined> {
  return readHomeDatabase(home, (db) => new SqliteClientStatements(db).identity())?.value
}

/**
 * Runs `read` on a home's database, opened read-only (waiting out another process's write
 * lock), and closes it: `{ value }`, or `undefined` when this shortcut cannot read the
 * database (an older schema: the full way migrates it). Throws `NoIdentityError` when there
 * is no home.
 */
function readHomeDatabase<T>(
  home: string,
  read: (db: Database.Database) => T,
): { value: T } | undefined {
  const file = join(home, CLIENT_DB_FILE)
  if (!homeFileExists(home, file)) throw noIdentity(home)
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true })
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
      return { value: read(db) }
    } finally {
      db.close()
    }
  } catch {
    return undefined
  }
}

/**
 * The contacts of an existing home, as `client.contacts.list()` gives them with no network
 * (every route `mailbox`), read without loading the client: `passage contacts list` starts as
 * quickly as `passage id`. A home whose schema is not the current one is opened the full way
 * (its migrations run). Throws `NoIdentityError` when there is no home.
 */
export async function readHomeContacts(dir: string): Promise<ChatContact[]> {
  const home = resolve(dir)
  // One read transaction: the counts belong to the rows read. Undefined: the full way below
  // (another schema, or a database this shortcut cannot read, and the full way says why).
  const read = readHomeDatabase(home, (db) =>
    isCurrentSchema(db)
      ? db.transaction(() => {
          const statements = new SqliteClientStatements(db)
          const unread = statements.unreadCounts()
          return {
            identity: statements.identity() !== undefined,
            contacts: statements
              .contacts()
              .filter(isListedContact)
              .map((row) => contactView(row, unread.get(row.id) ?? 0)),
          }
        })()
      : undefined,
  )?.value
  if (read) {
    if (!read.identity) throw noIdentity(home)
    return read.contacts.sort(byContactName)
  }
  const { createNodeClient } = await import('./create-node-client.js')
  const client = await createNodeClient({ home, network: false })
  try {
    return await client.contacts.list()
  } finally {
    await client.close()
  }
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
export async function readHome(dir: string, keys?: KeyProvider): Promise<HomeInfo> {
  const home = resolve(dir)
  const read = readHomeDatabase(home, (db) => new SqliteClientStatements(db).identity())
  if (!read) {
    // An older schema (or a database this shortcut cannot read): the full way migrates it.
    return (await import('./home.js')).readHomeMigrating(home, keys ?? (await defaultKeys()))
  }
  if (!read.value) throw noIdentity(home)
  return { ...storedIdentity(keys ?? (await defaultKeys()), read.value), home }
}

function noIdentity(home: string): NoIdentityError {
  return new NoIdentityError(
    `there is no identity in ${home} yet; run \`passage init\` to create one`,
  )
}
