import { chmodSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { Kysely, SqliteDialect, type SqliteDatabase } from 'kysely'
import { Migrator } from 'kysely/migration'
import { systemClock, type Clock } from '../../core/runtime/clock.js'
import {
  AlreadyExistsError,
  MalformedError,
  NoIdentityError,
  PassageError,
} from '../../core/errors.js'
import type { Identity } from '../../core/identity/identity.js'
import type { KeyProvider } from '../../core/crypto/key-provider.js'
import type { HomeIdentity } from '../../core/client/ports.js'
import { BoundedMap } from '../../core/util/bounded-map.js'
import { libsignalKeys } from '../libsignal/key-provider.js'
import { CLIENT_MIGRATIONS, type ClientDatabase } from './migrations.js'
import { SERVERS_KEY, SqliteClientStatements } from './statements.js'
import { storedIdentity, type StoredIdentity } from './stored-identity.js'
import { CLIENT_DB_FILE, homeFileExists } from './home-file.js'

export { CLIENT_DB_FILE }
/** How long a write waits for another process holding the database (5 s: a second `passage` running). */
const BUSY_TIMEOUT_MS = 5_000
/** Home folder and database hold the secret key: owner only. */
const HOME_MODE = 0o700
const DB_FILE_MODE = 0o600
/** Prepared statements kept per database, by SQL text (Kysely prepares every query anew). */
const MAX_CACHED_STATEMENTS = 512 // the client's queries are a few dozen shapes; `in (…)` lists vary

/**
 * Opens (creating it when needed) the client database in `homeDir` and brings its schema up
 * to date. The folder is created owner-only; the file holds the secret key. With
 * `create: false` a home that does not exist yet is refused ({@link NoIdentityError}) and
 * nothing is created.
 *
 * @example
 * const store = await openClientStore(join(homedir(), '.passage'))
 * const me = (await store.loadIdentity())?.identity
 * await store.close()
 */
export async function openClientStore(
  homeDir: string,
  options: { clock?: Clock; create?: boolean } = {},
): Promise<SqliteClientStore> {
  const home = resolve(homeDir)
  const file = join(home, CLIENT_DB_FILE)
  if (options.create === false && !homeFileExists(home, file)) {
    throw new NoIdentityError(
      `there is no identity in ${home} yet; run \`passage init\` to create one`,
    )
  }
  if (options.create !== false) homeFileExists(home, file) // refuses an unreadable home
  mkdirSync(home, { recursive: true, mode: HOME_MODE })
  const database = new Database(file)
  try {
    chmodSync(file, DB_FILE_MODE)
    database.pragma('journal_mode = WAL')
    database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    database.pragma('foreign_keys = ON')
  } catch (error) {
    database.close()
    throw error
  }
  const store = new SqliteClientStore(
    new Kysely<ClientDatabase>({
      dialect: new SqliteDialect({ database: cachingStatements(database) }),
    }),
    { path: file, homeDir: home, clock: options.clock ?? systemClock, sqlite: database },
  )
  try {
    await store.migrate()
  } catch (error) {
    await store.close()
    throw error
  }
  return store
}

export type { StoredIdentity } from './stored-identity.js'

/**
 * A client's home on SQLite: the database file in the home folder (owner-only: it holds the
 * secret key), its migrations, the identity and settings. {@link SqliteClientRepository}
 * keeps the client's tables in it. Open it with {@link openClientStore}.
 */
export class SqliteClientStore {
  /** The database file. */
  readonly path: string
  /** The home folder that holds it. */
  readonly homeDir: string
  /**
   * The better-sqlite3 handle under {@link db}, for prepared statements on hot paths. Use it
   * only inside a Kysely transaction of {@link db} (which holds the single connection), or
   * for reads: a write outside would land in whatever transaction is open.
   */
  readonly sqlite: Database.Database
  /** Every query of the home, prepared once (see {@link locked}). */
  readonly statements: SqliteClientStatements
  readonly clock: Clock

  constructor(
    /** The Kysely handle, for later stores of the same database (sessions, contacts…). */
    readonly db: Kysely<ClientDatabase>,
    options: { path: string; homeDir: string; clock: Clock; sqlite: Database.Database },
  ) {
    this.path = options.path
    this.homeDir = options.homeDir
    this.clock = options.clock
    this.sqlite = options.sqlite
    this.statements = new SqliteClientStatements(options.sqlite)
  }

  /** Runs the pending migrations; {@link openClientStore} calls it. */
  async migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.db,
      provider: { getMigrations: () => Promise.resolve(CLIENT_MIGRATIONS) },
    })
    const { error } = await migrator.migrateToLatest()
    if (error) {
      throw new PassageError(
        'PASSAGE_ERR_STORE',
        `could not update the database ${this.path}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      )
    }
  }

  /**
   * Runs `fn` (prepared statements) while holding the database's single connection, so it
   * never runs inside someone else's open transaction.
   */
  locked<T>(fn: (statements: SqliteClientStatements) => T): Promise<T> {
    return this.db.connection().execute(async () => fn(this.statements))
  }

  /** The identity of this home, with the provider that reads its key (libsignal by default). */
  async loadIdentity(keys: KeyProvider = libsignalKeys): Promise<StoredIdentity | undefined> {
    const stored = await this.locked((s) => s.identity())
    if (!stored) return undefined
    const loaded = storedIdentity(keys, stored)
    // A home made before the public key was kept: keep it now (`readHomeCard` then needs no keys).
    if (!stored.publicKey) {
      await this.locked((s) => s.setIdentityPublicKey(loaded.identity.publicKey))
    }
    return loaded
  }

  async saveIdentity(
    identity: Identity,
    options: { force?: boolean; name?: string; createdAt?: number } = {},
  ): Promise<StoredIdentity> {
    const stored: HomeIdentity = {
      secretKey: identity.serialize(),
      publicKey: identity.publicKey,
      textId: identity.textId,
      createdAt: options.createdAt ?? this.clock.now(),
      deviceId: 1,
      ...(options.name !== undefined ? { name: options.name } : {}),
    }
    await this.writeIdentity(stored, options.force === true)
    return {
      identity,
      accountKey: identity.publicKey,
      textId: identity.textId,
      deviceId: 1,
      createdAt: stored.createdAt,
      ...(stored.name !== undefined ? { name: stored.name } : {}),
    }
  }

  /**
   * Saves the home's identity; throws {@link AlreadyExistsError} when it has one, unless
   * `force` (the old secret key is then lost for good).
   */
  async writeIdentity(stored: HomeIdentity, force = false): Promise<void> {
    // A plain insert, so two processes racing to create an identity cannot both win.
    const existing = await this.locked((s) => {
      if (force) s.replaceIdentity(stored)
      else if (!s.insertIdentity(stored)) return s.identityTextId() ?? 'unknown'
      return undefined
    })
    if (existing !== undefined) {
      throw new AlreadyExistsError(
        `${this.homeDir} already has an identity (${existing}); replacing it loses it for good: use --force (force: true) to replace it`,
      )
    }
  }

  async getSetting<T = unknown>(key: string): Promise<T | undefined> {
    const text = await this.locked((s) => s.setting(key))
    if (text === undefined) return undefined
    try {
      return JSON.parse(text) as T
    } catch (cause) {
      throw new MalformedError(`the setting ${key} in ${this.path} is not JSON`, { cause })
    }
  }

  async setSetting(key: string, value: unknown): Promise<void> {
    const text = JSON.stringify(value)
    if (text === undefined) throw new MalformedError(`the setting ${key} has no JSON form`)
    const now = this.clock.now()
    await this.locked((s) => s.setSetting(key, text, now))
  }

  async deleteSetting(key: string): Promise<void> {
    await this.locked((s) => s.deleteSetting(key))
  }

  async rememberedServers(): Promise<string[]> {
    return serversIn(await this.locked((s) => s.setting(SERVERS_KEY)))
  }

  async rememberServer(url: string): Promise<void> {
    const now = this.clock.now()
    await this.db.transaction().execute(async () => addServer(this.statements, url, now))
  }

  /**
   * Forgets a remembered super-node (`passage servers remove`): a URL given once with a typo
   * is not tried forever. True when it was remembered.
   */
  async forgetServer(url: string): Promise<boolean> {
    const now = this.clock.now()
    return this.db.transaction().execute(async () => removeServer(this.statements, url, now))
  }

  async close(): Promise<void> {
    await this.db.destroy()
  }
}

/**
 * The database as Kysely's SQLite dialect sees it, with prepared statements reused by SQL text:
 * preparing took about as long as running the query on the chat hot paths. Safe because the
 * dialect runs one query at a time on its single connection (a stream holds it throughout).
 */
function cachingStatements(database: Database.Database): SqliteDatabase {
  const statements = new BoundedMap<string, Database.Statement>(MAX_CACHED_STATEMENTS)
  return {
    close: () => database.close(),
    prepare: (sql: string) => statements.getOrSet(sql, () => database.prepare(sql)),
  }
}

/** The URLs of the servers setting (JSON text), ignoring anything else in it. */
export function serversIn(text: string | undefined): string[] {
  if (text === undefined) return []
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return []
  }
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
}

/** Removes `url` from the remembered servers; inside a transaction. True when it was there. */
export function removeServer(
  statements: SqliteClientStatements,
  url: string,
  now: number,
): boolean {
  const servers = serversIn(statements.setting(SERVERS_KEY))
  const kept = servers.filter((s) => s !== url)
  if (kept.length === servers.length) return false
  statements.setSetting(SERVERS_KEY, JSON.stringify(kept), now)
  return true
}

/** Adds `url` to the remembered servers (no duplicates); inside a transaction. */
export function addServer(statements: SqliteClientStatements, url: string, now: number): void {
  const servers = serversIn(statements.setting(SERVERS_KEY))
  if (!servers.includes(url))
    statements.setSetting(SERVERS_KEY, JSON.stringify([...servers, url]), now)
}
