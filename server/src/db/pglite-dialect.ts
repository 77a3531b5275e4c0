import type { PGlite } from '@electric-sql/pglite'
import {
  CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'

/** Options of {@link PGliteDialect}. */
export interface PGliteDialectConfig {
  /**
   * An open PGlite database, which the dialect then owns and closes on `destroy()`; or a
   * {@link SharedPGlite} that several dialects use in turn and that the dialect never closes.
   */
  pglite: PGlite | SharedPGlite
  /**
   * The schema this dialect works in (`set search_path` whenever it takes its turn). Give
   * every dialect on one {@link SharedPGlite} its own; leave unset for a PGlite of its own.
   */
  searchPath?: string
}

/**
 * One PGlite used by several Kysely instances (tests use one per process, a schema per
 * test): they take turns on its single connection. `pglite` may be swapped for a new
 * instance over the same data folder (a restart) while holding a turn.
 */
export class SharedPGlite {
  /** The session's search_path as last set through a dialect (unknown after a swap). */
  searchPath: string | undefined
  private tail: Promise<void> = Promise.resolve()

  constructor(public pglite: PGlite) {}

  /** Waits for the connection; call the returned function to hand it on. */
  async acquire(): Promise<() => void> {
    const previous = this.tail
    let release!: () => void
    this.tail = new Promise((resolve) => (release = resolve))
    await previous
    return release
  }
}

/**
 * A Kysely dialect over embedded PGlite. PGlite is one Postgres backend in one process, so
 * the driver hands out a single connection, one holder at a time: a transaction keeps it
 * from BEGIN to COMMIT and other queries wait for it. (So inside `db.transaction()` use
 * only `trx`: a query on `db` there would wait for the transaction forever.)
 *
 * @example
 * const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite: await PGlite.create(dir) }) })
 */
export class PGliteDialect implements Dialect {
  constructor(private readonly config: PGliteDialectConfig) {}

  createDriver(): Driver {
    const { pglite, searchPath } = this.config
    return pglite instanceof SharedPGlite
      ? new PGliteDriver(pglite, searchPath, false)
      : new PGliteDriver(new SharedPGlite(pglite), searchPath, true)
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler()
  }

  createAdapter(): DialectAdapter {
    return new PostgresAdapter()
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new PostgresIntrospector(db)
  }
}

class PGliteDriver implements Driver {
  private readonly connection: PGliteConnection
  private release: (() => void) | undefined

  constructor(
    private readonly shared: SharedPGlite,
    private readonly searchPath: string | undefined,
    private readonly ownsInstance: boolean,
  ) {
    this.connection = new PGliteConnection(shared)
  }

  async init(): Promise<void> {
    await this.shared.pglite.waitReady
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.shared.acquire()
    try {
      if (this.searchPath !== undefined && this.shared.searchPath !== this.searchPath) {
        await this.shared.pglite.query(
          `set search_path to "${this.searchPath.replace(/"/g, '""')}"`,
        )
        this.shared.searchPath = this.searchPath
      }
    } catch (error) {
      release()
      throw error
    }
    this.release = release
    return this.connection
  }

  async beginTransaction(
    connection: DatabaseConnection,
    settings: TransactionSettings,
  ): Promise<void> {
    const mode = [
      settings.isolationLevel ? `isolation level ${settings.isolationLevel}` : '',
      settings.accessMode ?? '',
    ].join(' ')
    await connection.executeQuery(CompiledQuery.raw(`start transaction ${mode}`.trim()))
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'))
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'))
  }

  async releaseConnection(): Promise<void> {
    const release = this.release
    this.release = undefined
    release?.()
  }

  async destroy(): Promise<void> {
    if (!this.ownsInstance) return
    const release = await this.shared.acquire()
    try {
      if (!this.shared.pglite.closed) await this.shared.pglite.close()
    } finally {
      release()
    }
  }
}

class PGliteConnection implements DatabaseConnection {
  constructor(private readonly shared: SharedPGlite) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.shared.pglite.query<R>(compiledQuery.sql, [
      ...compiledQuery.parameters,
    ])
    const changed = ['INSERT', 'UPDATE', 'DELETE', 'MERGE'].includes(
      (result as { command?: string }).command ?? '',
    )
    return {
      rows: result.rows,
      ...(changed ? { numAffectedRows: BigInt(result.affectedRows ?? 0) } : {}),
    }
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('PGliteDialect does not support streaming queries')
  }
}
