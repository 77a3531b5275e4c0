import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type CompiledQuery,
  type Dialect,
  Kysely,
  type LogEvent,
  PostgresDialect,
  sql,
} from 'kysely'
import pg from 'pg'
import { migrateToLatest } from './migrate.js'
import { PGliteDialect } from './pglite-dialect.js'
import { openDurablePGlite } from './pglite-durability.js'
import type { Database } from './schema.js'

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
}

/** An open, migrated database. */
export interface OpenedDatabase {
  db: Kysely<Database>
  kind: DatabaseKind
  /** Closes the pool or the embedded database; waits for running queries. Idempotent. */
  close(): Promise<void>
  /** Resolves when the storage answers a trivial query; rejects otherwise (for `/readyz`). */
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
  const unlock = await lockDataFolder(folder)
  try {
    const pglite = await openDurablePGlite(folder)
    const opened = await openDatabaseWithDialect(new PGliteDialect({ pglite }), 'pglite', options)
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
  options: Pick<OpenDatabaseOptions, 'logger' | 'onQuery'> = {},
): Promise<OpenedDatabase> {
  const onQuery = options.onQuery
  const db = new Kysely<Database>({
    dialect,
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
    throw error
  }
  let closing: Promise<void> | undefined
  return {
    db,
    kind,
    close: () => (closing ??= db.destroy()),
    ping: async () => {
      await sql`select 1`.execute(db)
    },
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
  // An idle client losing its server must not crash the process; the next query fails instead.
  pool.on('error', (error) => logger?.error({ err: error }, 'storage connection lost'))
  return new PostgresDialect({ pool })
}

/** Lock files this process holds (a PID 1 in a restarted container is not "alive"). */
const heldLocks = new Set<string>()

/**
 * PGlite has no lock of its own: two processes on one folder would corrupt it. Takes
 * `<folder>.lock` (our PID inside), or fails if a live process holds it; a lock left by a
 * dead process is taken over.
 */
async function lockDataFolder(folder: string): Promise<() => Promise<void>> {
  const lockPath = `${folder}.lock`
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx' })
      heldLocks.add(lockPath)
      return async () => {
        heldLocks.delete(lockPath)
        await rm(lockPath, { force: true })
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const pid = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10)
      const ours = pid === process.pid
      if (heldLocks.has(lockPath) || (!ours && pid > 0 && isAlive(pid))) {
        throw new Error(
          `the data folder ${folder} is in use (by process ${pid}); stop that server, or ` +
            `use another data folder (PASSAGE_DATA_DIR). If no server runs, delete ${lockPath}`,
        )
      }
      await rm(lockPath, { force: true }) // left by a process that is gone
    }
  }
  throw new Error(`could not lock the data folder ${folder} (${lockPath} keeps reappearing)`)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
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
