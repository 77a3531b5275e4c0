import { UnavailableError } from '@passage/sdk'
import type {
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely'

// Storage faults seen from the queries: a connection cut (the server restarted, an operator's
// pg_terminate_backend, a network blip), a disk that is full or fails. They are the storage's
// state, not the request's fault: the server answers "unavailable" (HTTP 503, DHT wire error
// 13) and keeps running; a query outside a transaction that lost its connection is sent once
// more on a fresh one (every statement the stores send alone is idempotent: puts are keyed by
// envelope ID, announces and records are upserts, deletes delete).

/** SQLSTATE classes of a lost connection: 08 connection exception, 57P0x shutdown/termination. */
const CONNECTION_STATES = /^(08...|57P0[1-4])$/
/** SQLSTATE classes of a storage that cannot write: 53 insufficient resources, 58 system error. */
const RESOURCE_STATES = /^(53...|58...)$/
/** Socket errors of a lost connection (node's `code`). */
const SOCKET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTCONN',
])
/** File-system errors of a storage that cannot write (embedded PGlite's own files). */
const FILE_CODES = new Set(['ENOSPC', 'EIO', 'EROFS', 'EDQUOT', 'ENOENT', 'EACCES', 'EPERM'])
/** pg's own messages for a connection that went away (they carry no code). */
const CONNECTION_MESSAGES =
  /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Client was closed|Connection terminated due to connection timeout/i
/** PGlite's messages once its engine aborted (a failed write) or closed. */
const ENGINE_MESSAGES = /PGlite is closed|Aborted\(|RuntimeError|unreachable/i

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** True for a lost connection to Postgres: the query may be sent again on a new one. */
export function isConnectionLost(error: unknown): boolean {
  const code = codeOf(error)
  if (code !== undefined && (CONNECTION_STATES.test(code) || SOCKET_CODES.has(code))) return true
  return CONNECTION_MESSAGES.test(messageOf(error))
}

/** True for any storage fault (a lost connection, a full or failing disk, a dead engine). */
export function isStorageFault(error: unknown): boolean {
  if (error instanceof UnavailableError || isConnectionLost(error)) return true
  const code = codeOf(error)
  if (code !== undefined && (RESOURCE_STATES.test(code) || FILE_CODES.has(code))) return true
  return ENGINE_MESSAGES.test(messageOf(error))
}

/**
 * What went wrong, in words fit for a remote client (no file names or SQL: the log has those).
 */
function faultReason(error: unknown): string {
  if (error instanceof UnavailableError) return error.message
  if (codeOf(error) === 'ECONNREFUSED') return 'the database refused the connection'
  if (isConnectionLost(error)) return 'the database connection was lost'
  const code = codeOf(error)
  if (code === '53100' || code === 'ENOSPC' || code === 'EDQUOT') return 'the disk is full'
  if (code === 'EROFS') return 'the file system is read-only'
  if (code !== undefined && (code.startsWith('58') || code === 'EIO')) return 'a disk I/O error'
  if (code?.startsWith('53')) return 'the database is out of resources'
  return 'the storage engine failed'
}

/** The error a caller sees: a storage fault as {@link UnavailableError}, anything else as is. */
export function storageError(error: unknown): unknown {
  if (error instanceof UnavailableError || !isStorageFault(error)) return error
  const unavailable = new UnavailableError(
    `storage unavailable (${faultReason(error)}); try again shortly`,
  )
  ;(unavailable as { cause?: unknown }).cause = error
  return unavailable
}

/** A storage fault is remembered this long for readiness unless a write succeeds meanwhile. */
export const FAULT_MEMORY_MS = 30_000

/** Statements that write (a readiness probe's own write aside). */
const WRITE_SQL = /^\s*(insert|update|delete|call|merge|with|create|alter|drop)\b/i

/**
 * The storage's health as the queries saw it: the last fault, until a real write succeeds
 * after it or {@link FAULT_MEMORY_MS} pass. A full disk still takes reads and small in-place
 * updates (the readiness probe's own row), so readiness asks this too: a put that failed for
 * want of space a moment ago means "not ready", whatever a probe says.
 */
export class StorageHealth {
  private fault: { at: number; reason: string; connection: boolean } | undefined

  constructor(private readonly now: () => number = Date.now) {}

  /** A write succeeded: the storage writes again. */
  wrote(): void {
    this.fault = undefined
  }

  /**
   * The readiness probe's write succeeded: that clears a lost connection (a new one wrote),
   * not a full or failing disk (which still takes the probe's small in-place update).
   */
  probed(): void {
    if (this.fault?.connection) this.fault = undefined
  }

  faulted(error: unknown): void {
    this.fault = {
      at: this.now(),
      reason: faultReason(error),
      connection: isConnectionLost(error),
    }
  }

  /** Why the storage is failing (a recent fault), or undefined. */
  failing(): string | undefined {
    if (this.fault && this.now() - this.fault.at < FAULT_MEMORY_MS) return this.fault.reason
    return undefined
  }
}

/** What the fault layer reports (for logs and metrics). */
export interface StorageFaultEvents {
  /** A storage fault reached a caller (as {@link UnavailableError}). */
  onFault?(error: unknown): void
  /** A query that lost its connection was sent again on a fresh one, and `ok` tells how it went. */
  onRetry?(ok: boolean): void
}

/** Options of {@link withStorageFaults}. */
export interface StorageFaultOptions extends StorageFaultEvents {
  /**
   * Send a query that lost its connection once more on a fresh one (a pool of connections:
   * Postgres). Off for a driver with a single connection (PGlite), where waiting for another
   * connection while holding the only one would never end.
   */
  retryLostConnections?: boolean
  /** Told of every fault and every successful write. */
  health?: StorageHealth
  /** A statement whose success says nothing of the storage's health (the probe's own). */
  ignoreWrite?: (sql: string) => boolean
}

/**
 * A Kysely dialect whose driver turns storage faults into {@link UnavailableError} and sends a
 * query that lost its connection once more on a fresh connection (outside a transaction).
 */
export function withStorageFaults(dialect: Dialect, options: StorageFaultOptions = {}): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new FaultAwareDriver(dialect.createDriver(), options),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  }
}

/** A connection handed out by {@link FaultAwareDriver}: the inner one, and whether it is in a transaction. */
class FaultAwareConnection implements DatabaseConnection {
  inTransaction = false

  constructor(
    readonly inner: DatabaseConnection,
    private readonly driver: FaultAwareDriver,
  ) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return this.driver.execute<R>(this, query)
  }

  streamQuery<R>(query: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize)
  }
}

class FaultAwareDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly events: StorageFaultOptions,
  ) {}

  private fault(error: unknown): unknown {
    const mapped = storageError(error)
    if (mapped !== error || error instanceof UnavailableError) {
      this.events.health?.faulted(error)
      this.events.onFault?.(error)
    }
    return mapped
  }

  private succeeded(query: CompiledQuery): void {
    const { health, ignoreWrite } = this.events
    if (health && WRITE_SQL.test(query.sql) && !ignoreWrite?.(query.sql)) health.wrote()
  }

  async execute<R>(
    connection: FaultAwareConnection,
    query: CompiledQuery,
  ): Promise<QueryResult<R>> {
    try {
      const result = await connection.inner.executeQuery<R>(query)
      this.succeeded(query)
      return result
    } catch (error) {
      const retry =
        this.events.retryLostConnections === true &&
        !connection.inTransaction &&
        isConnectionLost(error)
      if (!retry) throw this.fault(error)
    }
    // The connection is gone (the pool drops it on release); once more on a fresh one.
    let fresh: DatabaseConnection | undefined
    try {
      fresh = await this.inner.acquireConnection()
      const result = await fresh.executeQuery<R>(query)
      this.succeeded(query)
      this.events.onRetry?.(true)
      return result
    } catch (error) {
      this.events.onRetry?.(false)
      throw this.fault(error)
    } finally {
      if (fresh) await this.inner.releaseConnection(fresh).catch(() => {})
    }
  }

  async init(): Promise<void> {
    try {
      await this.inner.init()
    } catch (error) {
      throw this.fault(error)
    }
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    try {
      return new FaultAwareConnection(await this.inner.acquireConnection(), this)
    } catch (error) {
      throw this.fault(error)
    }
  }

  async beginTransaction(
    connection: DatabaseConnection,
    settings: TransactionSettings,
  ): Promise<void> {
    const c = connection as FaultAwareConnection
    // From BEGIN to COMMIT no query on this connection is retried elsewhere. The inner driver
    // gets its own connection (kysely's PGlite driver keeps the transaction on it).
    c.inTransaction = true
    try {
      await this.inner.beginTransaction(c.inner, settings)
    } catch (error) {
      c.inTransaction = false
      throw this.fault(error)
    }
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as FaultAwareConnection
    try {
      await this.inner.commitTransaction(c.inner)
    } catch (error) {
      throw this.fault(error)
    } finally {
      c.inTransaction = false
    }
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as FaultAwareConnection
    try {
      await this.inner.rollbackTransaction(c.inner)
    } catch (error) {
      throw this.fault(error)
    } finally {
      c.inTransaction = false
    }
  }

  async savepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    if (!this.inner.savepoint) throw new Error('savepoints are not supported by this driver')
    await this.inner.savepoint(connection, name, compile)
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    if (!this.inner.rollbackToSavepoint) {
      throw new Error('savepoints are not supported by this driver')
    }
    await this.inner.rollbackToSavepoint(connection, name, compile)
  }

  async releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    if (!this.inner.releaseSavepoint) throw new Error('savepoints are not supported by this driver')
    await this.inner.releaseSavepoint(connection, name, compile)
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection((connection as FaultAwareConnection).inner)
  }

  destroy(): Promise<void> {
    return this.inner.destroy()
  }
}
