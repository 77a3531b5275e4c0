import { mkdir, open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import {
  CompiledQuery,
  type Dialect,
  Kysely,
  type LogEvent,
  PGliteDialect,
  PostgresDialect,
} from 'kysely'
import { UnavailableError } from '@passage/sdk'
import pg from 'pg'
import { migrateToLatest } from './migrate.js'
import { lockFile } from './folder-lock.js'
import { openDurablePGlite } from './pglite-durability.js'
import type { Database } from './schema.js'
import { StorageHealth, storageError, withStorageFaults } from './storage-faults.js'

export type { Database } from './schema.js'

/** Connections in the Postgres pool: enough for a 2-core server, light on the database. */
const POOL_MAX_CONNECTIONS = 8
/** Give up connecting after this long, so `/readyz` answers instead of hanging. */
const CONNECT_TIMEOUT_MS = 5_000
/** Close pooled connections idle this long. */
const IDLE_TIMEOUT_MS = 30_000
/** A statement running longer fails instead of holding a request and a connection. */
const STATEMENT_TIMEOUT_MS = 10_000
/** Postgres type OID of int8 (`bigint`). */
const INT8_OID = 20

/** Which engine holds the data: a Postgres server (`DATABASE_URL`) or embedded PGlite. */
export type DatabaseKind = 'postgres' | 'pglite'

/** The statement kind of a query, a bounded label for metrics. */
export type QueryOperation = 'select' | 'insert' | 'update' | 'delete' | 'other'

/** The part of a pino logger the storage uses. */
export interface DatabaseLogger {
  info(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** `postgres://…`: use that server. Absent or empty: embedded PGlite in `dataDir`. */
  databaseUrl?: string | undefined
  /** The data folder; PGlite keeps its files in `<dataDir>/pglite` (created if missing). */
  dataDir: string
  logger?: DatabaseLogger | undefined
  /**
   * Called after every query (also failed ones and migrations) with its duration, for the
   * storage query duration histogram.
   */
  onQuery?:
    ((durationSeconds: number, kind: DatabaseKind, operation: QueryOperation) => void) | undefined
  /**
   * Called for every storage fault a caller saw (a lost connection, a full or failing disk),
   * after it was turned into `UnavailableError`, and for every retry of a query that lost its
   * connection, for the storage fault counters.
   */
  onFault?: ((event: StorageFaultEvent) => void) | undefined
}

/** A storage fault as counted: `fault` reached a caller, `retried`/`retry_failed` a resend. */
export type StorageFaultEvent = 'fault' | 'retried' | 'retry_failed'

/** An open, migrated database. */
export interface OpenedDatabase {
  db: Kysely<Database>
  kind: DatabaseKind
  /** Closes the pool or the embedded database; waits for running queries. Idempotent. */
  close(): Promise<void>
  /**
   * Resolves when the storage takes a real write (a committed upsert of one row); rejects
   * with the reason otherwise (for `/readyz`): reading alone passes on a full disk.
   */
  ping(): Promise<void>
}

/**
 * Opens the super-node's storage and runs the migrations: Postgres through a `pg` pool when
 * `databaseUrl` is set, otherwise embedded PGlite in `<dataDir>/pglite`. Same SQL on both.
 *
 * @example
 * const storage = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: './data' })
 * const announces = new PostgresAnnounceStore(storage.db)
 * // …
 * await storage.close()
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<OpenedDatabase> {
  if (options.databaseUrl) {
    return openDatabaseWithDialect(
      postgresDialect(options.databaseUrl, options.logger),
      'postgres',
      options,
    )
  }
  const folder = join(options.dataDir, 'pglite')
  await mkdir(folder, { recursive: true })
  const unlock = await lockFile(
    `${folder}.lock`,
    `the data folder ${folder}`,
    'use another data folder (PASSAGE_DATA_DIR)',
  )
  try {
    const pglite = await openDurablePGlite(folder)
    const opened = await openDatabaseWithDialect(new PGliteDialect({ pglite }), 'pglite', {
      ...options,
      diskProbe: () => probeDiskRoom(`${folder}.probe`),
    })
    let closing: Promise<void> | undefined
    const close = async () => {
      await opened.close()
      await unlock()
    }
    return { ...opened, close: () => (closing ??= close()) }
  } catch (error) {
    await unlock()
    throw error
  }
}

/**
 * {@link openDatabase} over a dialect of your own (tests share one PGlite this way): runs
 * the migrations, wires `onQuery`. Closing destroys the dialect's driver.
 */
export async function openDatabaseWithDialect(
  dialect: Dialect,
  kind: DatabaseKind,
  options: Pick<OpenDatabaseOptions, 'logger' | 'onQuery' | 'onFault'> & {
    /** Rejects when the disk under the data has no room (embedded PGlite's folder). */
    diskProbe?: () => Promise<void>
  } = {},
): Promise<OpenedDatabase> {
  const { onQuery, onFault, logger, diskProbe } = options
  const health = new StorageHealth()
  const db = new Kysely<Database>({
    dialect: withStorageFaults(dialect, {
      retryLostConnections: kind === 'postgres',
      health,
      ignoreWrite: (text) => text === PROBE_SQL,
      onFault: (error) => {
        onFault?.('fault')
        logger?.error({ err: error, storage: kind }, 'storage fault: answering "unavailable"')
      },
      onRetry: (ok) => onFault?.(ok ? 'retried' : 'retry_failed'),
    }),
    ...(onQuery && {
      log: (event: LogEvent) =>
        onQuery(event.queryDurationMillis / 1000, kind, queryOperation(event.query)),
    }),
  })
  try {
    const { applied } = await migrateToLatest(db)
    options.logger?.info({ storage: kind, applied }, 'storage ready')
  } catch (error) {
    await db.destroy()
    // Opening is not serving: the caller gets the driver's own error (ECONNREFUSED, a bad
    // password), not "try again shortly".
    throw error instanceof UnavailableError && error.cause !== undefined ? error.cause : error
  }
  let closing: Promise<void> | undefined
  return {
    db,
    kind,
    close: () => (closing ??= db.destroy()),
    ping: async () => {
      await db.executeQuery(CompiledQuery.raw(PROBE_SQL, [Date.now()]))
      health.probed()
      if (diskProbe) {
        try {
          await diskProbe()
        } catch (error) {
          throw storageError(error)
        }
      }
      const failing = health.failing()
      if (failing !== undefined) {
        throw new UnavailableError(`storage unavailable (${failing}); try again shortly`)
      }
    },
  }
}

/** Readiness's own write: one row, upserted (its success alone does not clear a fault). */
const PROBE_SQL = `insert into storage_probe (id, written_at) values (1, $1)
  on conflict (id) do update set written_at = excluded.written_at`

/** Room a disk must have for readiness: a WAL page and a few data pages. */
const DISK_PROBE_BYTES = 64 * 1024

/**
 * Writes, syncs and removes {@link DISK_PROBE_BYTES} beside the data: rejects (ENOSPC, EIO,
 * EROFS) when the file system could not take the next writes. Postgres reuses the space of an
 * existing page and preallocates its WAL, so a full disk only shows when a table must grow.
 */
async function probeDiskRoom(path: string): Promise<void> {
  const file = await open(path, 'w')
  try {
    await file.write(Buffer.alloc(DISK_PROBE_BYTES))
    await file.sync()
  } finally {
    await file.close()
    await rm(path, { force: true })
  }
}

function postgresDialect(connectionString: string, logger: DatabaseLogger | undefined): Dialect {
  const pool = new pg.Pool({
    connectionString,
    max: POOL_MAX_CONNECTIONS,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    application_name: 'passage-server',
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID && format !== 'binary'
          ? (value: string) => Number(value)
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  })
  // A client losing its server must not crash the process. The pool listens on idle clients
  // only; a client in use (a query running when an operator's pg_terminate_backend or a
  // network cut hits) emits 'error' too, so every client gets a listener of its own. The
  // query then fails (as "unavailable", sent again once on a fresh connection) and the pool
  // drops the broken client when it comes back.
  pool.on('error', (error) => logger?.error({ err: error }, 'storage connection lost'))
  pool.on('connect', (client) => {
    client.on('error', (error) => logger?.error({ err: error }, 'storage connection lost'))
  })
  return new PostgresDialect({ pool })
}

const OPERATIONS_BY_NODE: Record<string, QueryOperation> = {
  SelectQueryNode: 'select',
  InsertQueryNode: 'insert',
  UpdateQueryNode: 'update',
  DeleteQueryNode: 'delete',
}

function queryOperation(query: CompiledQuery): QueryOperation {
  const fromNode = OPERATIONS_BY_NODE[query.query.kind]
  if (fromNode) return fromNode
  const verb = /^\s*(select|insert|update|delete)\b/i.exec(query.sql)?.[1]
  return (verb?.toLowerCase() as QueryOperation | undefined) ?? 'other'
}
