import { chmodSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { Kysely, Migrator, SqliteDialect, type SqliteDatabase } from 'kysely'
import { systemClock, type Clock } from '../../core/runtime/clock.js'
import { AlreadyExistsError, MalformedError, PassageError } from '../../core/errors.js'
import { Identity } from '../../core/identity/identity.js'
import { libsignalKeys } from '../libsignal/key-provider.js'
import { toBytes } from '../../core/wire/bytes.js'
import { CLIENT_MIGRATIONS, type ClientDatabase } from './migrations.js'
import type { ClientStore, StoredIdentity } from './client-store.js'

/** The database file inside a home folder. */
export const CLIENT_DB_FILE = 'passage.sqlite'
/** How long a write waits for another process holding the database (5 s: a second `passage` running). */
const BUSY_TIMEOUT_MS = 5_000
/** The settings key of the remembered super-node URLs. */
const SERVERS_KEY = 'servers'
/** Home folder and database hold the secret key: owner only. */
const HOME_MODE = 0o700
const DB_FILE_MODE = 0o600
/** Prepared statements kept per database, by SQL text (Kysely prepares every query anew). */
const MAX_CACHED_STATEMENTS = 512 // the client's queries are a few dozen shapes; `in (…)` lists vary

/**
 * Opens (creating it when needed) the client database in `homeDir` and brings its schema up
 * to date. The folder is created owner-only; the file holds the secret key.
 *
 * @example
 * const store = await openClientStore(join(homedir(), '.passage'))
 * const me = (await store.loadIdentity())?.identity
 * await store.close()
 */
export async function openClientStore(
  homeDir: string,
  options: { clock?: Clock } = {},
): Promise<SqliteClientStore> {
  const home = resolve(homeDir)
  mkdirSync(home, { recursive: true, mode: HOME_MODE })
  const file = join(home, CLIENT_DB_FILE)
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

/** {@link ClientStore} on SQLite (better-sqlite3 through Kysely). Open it with {@link openClientStore}. */
export class SqliteClientStore implements ClientStore {
  /** The database file. */
  readonly path: string
  /** The home folder that holds it. */
  readonly homeDir: string
  /**
   * The better-sqlite3 handle under {@link db}, for prepared statements on hot paths. Use it
   * only inside a Kysely transaction of {@link db} (which holds the single connection), or
   * for reads: a write outside would land in whatever transaction is open.
   */
  readonly sqlite: Database.Database | undefined
  private readonly clock: Clock

  constructor(
    /** The Kysely handle, for later stores of the same database (sessions, contacts…). */
    readonly db: Kysely<ClientDatabase>,
    options: { path: string; homeDir: string; clock: Clock; sqlite?: Database.Database },
  ) {
    this.path = options.path
    this.homeDir = options.homeDir
    this.clock = options.clock
    this.sqlite = options.sqlite
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

  async loadIdentity(): Promise<StoredIdentity | undefined> {
    const row = await this.db
      .selectFrom('identity')
      .select(['key_pair', 'name', 'created_at'])
      .where('slot', '=', 1)
      .executeTakeFirst()
    if (!row) return undefined
    const identity = Identity.deserialize(libsignalKeys, toBytes(new Uint8Array(row.key_pair)))
    return {
      identity,
      createdAt: row.created_at,
      ...(row.name !== null ? { name: row.name } : {}),
    }
  }

  async saveIdentity(
    identity: Identity,
    options: { force?: boolean; name?: string; createdAt?: number } = {},
  ): Promise<StoredIdentity> {
    const row = {
      slot: 1,
      key_pair: identity.serialize(),
      text_id: identity.textId,
      name: options.name ?? null,
      created_at: options.createdAt ?? this.clock.now(),
    }
    if (options.force) {
      await this.db
        .insertInto('identity')
        .values(row)
        .onConflict((c) =>
          c.column('slot').doUpdateSet({
            key_pair: row.key_pair,
            text_id: row.text_id,
            name: row.name,
            created_at: row.created_at,
          }),
        )
        .execute()
    } else {
      // A plain insert, so two processes racing to create an identity cannot both win.
      const inserted = await this.db
        .insertInto('identity')
        .values(row)
        .onConflict((c) => c.column('slot').doNothing())
        .executeTakeFirst()
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) {
        const existing = await this.db.selectFrom('identity').select('text_id').executeTakeFirst()
        throw new AlreadyExistsError(
          `${this.homeDir} already has an identity (${existing?.text_id ?? 'unknown'}); replacing it loses it for good: use --force (force: true) to replace it`,
        )
      }
    }
    return {
      identity,
      createdAt: row.created_at,
      ...(row.name !== null ? { name: row.name } : {}),
    }
  }

  async getSetting<T = unknown>(key: string): Promise<T | undefined> {
    const row = await this.db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', key)
      .executeTakeFirst()
    if (!row) return undefined
    try {
      return JSON.parse(row.value) as T
    } catch (cause) {
      throw new MalformedError(`the setting ${key} in ${this.path} is not JSON`, { cause })
    }
  }

  async setSetting(key: string, value: unknown): Promise<void> {
    const text = JSON.stringify(value)
    if (text === undefined) throw new MalformedError(`the setting ${key} has no JSON form`)
    const now = this.clock.now()
    await this.db
      .insertInto('settings')
      .values({ key, value: text, updated_at: now })
      .onConflict((c) => c.column('key').doUpdateSet({ value: text, updated_at: now }))
      .execute()
  }

  async deleteSetting(key: string): Promise<void> {
    await this.db.deleteFrom('settings').where('key', '=', key).execute()
  }

  async rememberedServers(): Promise<string[]> {
    const value = await this.getSetting<unknown>(SERVERS_KEY)
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
  }

  async rememberServer(url: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('settings')
        .select('value')
        .where('key', '=', SERVERS_KEY)
        .executeTakeFirst()
      const parsed: unknown = row ? JSON.parse(row.value) : []
      const servers = Array.isArray(parsed) ? parsed.filter((v) => typeof v === 'string') : []
      if (servers.includes(url)) return
      const text = JSON.stringify([...servers, url])
      const now = this.clock.now()
      await trx
        .insertInto('settings')
        .values({ key: SERVERS_KEY, value: text, updated_at: now })
        .onConflict((c) => c.column('key').doUpdateSet({ value: text, updated_at: now }))
        .execute()
    })
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
  const statements = new Map<string, Database.Statement>()
  return {
    close: () => database.close(),
    prepare: (sql: string) => {
      let statement = statements.get(sql)
      if (!statement) {
        if (statements.size >= MAX_CACHED_STATEMENTS) statements.clear()
        statement = database.prepare(sql)
        statements.set(sql, statement)
      }
      return statement
    },
  }
}
