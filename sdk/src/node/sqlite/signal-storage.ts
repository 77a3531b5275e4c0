import type BetterSqlite3 from 'better-sqlite3'
import { sql, type Kysely, type Transaction } from 'kysely'
import { PassageError } from '../../core/errors.js'
import type {
  LiveValue,
  LiveValueStorage,
  SignalStorage,
} from '../../core/signal/signal-storage.js'
import { BoundedMap } from '../../core/util/bounded-map.js'
import { toBytes, type Bytes } from '../../core/wire/bytes.js'
import type { ClientDatabase } from './migrations.js'

type Db = Kysely<ClientDatabase> | Transaction<ClientDatabase>

/** Transactions committed together at most: bounds how long other queries wait for the connection. */
const MAX_GROUP_COMMIT = 128
/** Values a transaction view remembers (sessions and identity keys of the peers in a group). */
const MAX_MEMO_ENTRIES = 256

interface Queued {
  fn: (tx: SignalStorage) => Promise<unknown>
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

/**
 * {@link SignalStorage} in the client's SQLite database (table `signal_kv`), so sessions and
 * keys survive restarts. `transaction(fn)` is a real SQLite transaction: Kysely's SQLite
 * dialect holds its single connection for the whole transaction, so transactions (and every
 * other query of the same Kysely instance) run one at a time; a throw rolls everything back.
 *
 * Inside a transaction, {@link sqliteTransactionOf} gives the Kysely transaction of the view,
 * so a `persist` hook can write messages and the outbox in the same commit as the ratchet step.
 *
 * Group commit: transactions that queue up while one runs join its SQLite transaction, each
 * in a savepoint of its own (a throw rolls back that one only), and the whole group commits
 * once, with one fsync. Each `transaction()` call still resolves only after the COMMIT that
 * made it durable, so a caller may acknowledge what it stored as soon as its call resolves.
 *
 * @example
 * const store = await openClientStore(home)
 * const session = await SignalSession.open({ identity, storage: new SqliteSignalStorage(store.db) })
 */
export class SqliteSignalStorage implements SignalStorage {
  private readonly statements: KvStatements | undefined

  /**
   * `sqlite`, the better-sqlite3 handle under `db` (`SqliteClientStore.sqlite`), makes reads
   * and writes inside transactions run as prepared statements instead of Kysely queries: a
   * Signal operation makes about ten of them, and Kysely's compile cost more than SQLite.
   */
  constructor(
    private readonly db: Kysely<ClientDatabase>,
    options: { sqlite?: BetterSqlite3.Database } = {},
  ) {
    this.statements = options.sqlite ? kvStatements(options.sqlite) : undefined
  }

  get(namespace: string, key: string): Promise<Uint8Array | undefined> {
    return getValue(this.db, namespace, key)
  }

  put(namespace: string, key: string, value: Uint8Array): Promise<void> {
    return putValue(this.db, namespace, key, value)
  }

  delete(namespace: string, key: string): Promise<void> {
    return deleteValue(this.db, namespace, key)
  }

  list(namespace: string): Promise<string[]> {
    return listKeys(this.db, namespace)
  }

  private readonly queue: Queued[] = []
  private running = false

  transaction<T>(fn: (tx: SignalStorage) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject })
      if (!this.running) void this.runGroup()
    })
  }

  /** Runs queued transactions, joined in one SQLite transaction, until the queue is empty. */
  private async runGroup(): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0) {
        const done: Array<{ item: Queued; value: unknown }> = []
        let taken = 0
        try {
          await this.db.transaction().execute(async (trx) => {
            const view = new SqliteSignalTransaction(trx, this.statements)
            let item: Queued | undefined
            while (taken < MAX_GROUP_COMMIT && (item = this.queue.shift())) {
              taken++
              await this.savepoint(trx, 'savepoint group_item')
              try {
                const value = await item.fn(view)
                await this.savepoint(trx, 'release group_item')
                view.keep()
                done.push({ item, value })
              } catch (error) {
                await this.savepoint(trx, 'rollback to group_item')
                await this.savepoint(trx, 'release group_item')
                view.forget()
                item.reject(error)
              }
            }
            // The signal_kv writes of the items that succeeded, each key once.
            view.flush()
          })
        } catch (error) {
          // The COMMIT (or a savepoint command) failed: nothing of this group is stored.
          for (const { item } of done) item.reject(error)
          // Not even BEGIN worked (the database closed?): fail what waits rather than spin.
          if (taken === 0) for (const item of this.queue.splice(0)) item.reject(error)
          continue
        }
        for (const { item, value } of done) item.resolve(value)
      }
    } finally {
      this.running = false
    }
  }

  private async savepoint(trx: Transaction<ClientDatabase>, command: string): Promise<void> {
    if (this.statements) this.statements.savepoint(command)
    else await sql.raw(command).execute(trx)
  }
}

/** A `signal_kv` write not yet in SQLite: bytes, `null` (deleted), or a live value. */
interface PendingWrite {
  namespace: string
  key: string
  /** `undefined` while only the live value exists (serialized on first need). */
  value: Bytes | null | undefined
  live?: LiveValue
}

/** The view of a {@link SqliteSignalStorage} transaction; nested transactions join it. */
export class SqliteSignalTransaction implements LiveValueStorage {
  constructor(
    /** The Kysely transaction: write other client tables here to commit with the Signal state. */
    readonly trx: Transaction<ClientDatabase>,
    /**
     * Prepared statements on the same connection. Kysely's SQLite dialect holds its single
     * connection for the whole transaction, so they run inside it.
     */
    private readonly statements?: KvStatements,
  ) {}

  /**
   * With prepared statements: what this transaction read from SQLite (`null`: absent), so a
   * session record (~7 KB) read four times per message comes from SQLite once. Exact, since
   * nobody else writes inside this transaction; write `signal_kv` only through this view.
   */
  private readonly memo = new BoundedMap<string, Bytes | null>(MAX_MEMO_ENTRIES)

  /**
   * With prepared statements, writes wait here and go to SQLite once per key at the end of
   * the group ({@link flush}, before COMMIT): a session record (~7 KB) changes with every
   * message, and a group holds many messages to the same peer. `item` holds the writes of
   * the group item running now (dropped if it fails), `group` those of the items that
   * succeeded.
   */
  private readonly item = new Map<string, PendingWrite>()
  private readonly group = new Map<string, PendingWrite>()

  private pending(memoKey: string): PendingWrite | undefined {
    return this.item.get(memoKey) ?? this.group.get(memoKey)
  }

  get(namespace: string, key: string): Promise<Uint8Array | undefined> {
    if (!this.statements) return getValue(this.trx, namespace, key)
    const memoKey = `${namespace}\0${key}`
    const write = this.pending(memoKey)
    if (write) return Promise.resolve(valueOf(write) ?? undefined)
    const known = this.memo.get(memoKey)
    if (known !== undefined) return Promise.resolve(known ?? undefined)
    const row = this.statements.get.get(namespace, key) as { value: Buffer } | undefined
    const value = row ? ownBytes(row.value) : undefined
    this.memo.set(memoKey, value ?? null)
    return Promise.resolve(value)
  }

  put(namespace: string, key: string, value: Uint8Array): Promise<void> {
    if (!this.statements) return putValue(this.trx, namespace, key, value)
    // A copy: the caller keeps its buffer.
    this.item.set(`${namespace}\0${key}`, { namespace, key, value: toBytes(value) })
    return Promise.resolve()
  }

  delete(namespace: string, key: string): Promise<void> {
    if (!this.statements) return deleteValue(this.trx, namespace, key)
    this.item.set(`${namespace}\0${key}`, { namespace, key, value: null })
    return Promise.resolve()
  }

  /**
   * Stores a live object: readers of this transaction get it back from {@link getLive}; it is
   * serialized only when someone reads the bytes or the group writes it. Without prepared
   * statements it is serialized and put at once.
   */
  putLive(namespace: string, key: string, live: LiveValue): Promise<void> {
    if (!this.statements) return this.put(namespace, key, live.serialize())
    this.item.set(`${namespace}\0${key}`, { namespace, key, value: undefined, live })
    return Promise.resolve()
  }

  /** The live object written under this key in this transaction, if the last write was one. */
  getLive(namespace: string, key: string): unknown {
    return this.pending(`${namespace}\0${key}`)?.live?.object
  }

  /** The running group item succeeded: its writes belong to the group now. */
  keep(): void {
    for (const [memoKey, write] of this.item) this.group.set(memoKey, write)
    this.item.clear()
  }

  /** The running group item failed and rolled back: its writes never happened. */
  forget(): void {
    this.item.clear()
  }

  /** Writes what the group's items wrote, each key once (inside the SQLite transaction). */
  flush(): void {
    const statements = this.statements
    if (!statements) return
    this.keep()
    for (const write of this.group.values()) {
      const value = valueOf(write)
      if (value === null) statements.delete.run(write.namespace, write.key)
      else statements.put.run(write.namespace, write.key, asBuffer(value))
    }
    this.group.clear()
    this.memo.clear()
  }

  list(namespace: string): Promise<string[]> {
    if (!this.statements) return listKeys(this.trx, namespace)
    const rows = this.statements.list.all(namespace) as Array<{ key: string }>
    const keys = new Set(rows.map((r) => r.key))
    for (const writes of [this.group, this.item]) {
      for (const write of writes.values()) {
        if (write.namespace !== namespace) continue
        if (write.value === null) keys.delete(write.key)
        else keys.add(write.key)
      }
    }
    return Promise.resolve([...keys])
  }

  transaction<T>(fn: (tx: SignalStorage) => Promise<T>): Promise<T> {
    return fn(this)
  }
}

/**
 * The Kysely transaction behind a storage view handed to a `persist` hook. Throws when the
 * view is not a {@link SqliteSignalStorage} transaction.
 */
export function sqliteTransactionOf(tx: SignalStorage): Transaction<ClientDatabase> {
  if (!(tx instanceof SqliteSignalTransaction)) {
    throw new PassageError('PASSAGE_ERR_STORE', 'not inside a SQLite Signal storage transaction')
  }
  return tx.trx
}

/** The `signal_kv` statements, prepared once per database. */
interface KvStatements {
  get: BetterSqlite3.Statement
  put: BetterSqlite3.Statement
  delete: BetterSqlite3.Statement
  list: BetterSqlite3.Statement
  /** Runs `savepoint group_item`, `release group_item` or `rollback to group_item`. */
  savepoint: (command: string) => void
}

const prepared = new WeakMap<BetterSqlite3.Database, KvStatements>()

function kvStatements(sqlite: BetterSqlite3.Database): KvStatements {
  let statements = prepared.get(sqlite)
  if (!statements) {
    const savepoints = new Map(
      ['savepoint group_item', 'release group_item', 'rollback to group_item'].map((command) => [
        command,
        sqlite.prepare(command),
      ]),
    )
    statements = {
      get: sqlite.prepare('select value from signal_kv where namespace = ? and key = ?'),
      put: sqlite.prepare(
        'insert into signal_kv (namespace, key, value) values (?, ?, ?) on conflict (namespace, key) do update set value = excluded.value',
      ),
      delete: sqlite.prepare('delete from signal_kv where namespace = ? and key = ?'),
      list: sqlite.prepare('select key from signal_kv where namespace = ?'),
      savepoint: (command) => void savepoints.get(command)!.run(),
    }
    prepared.set(sqlite, statements)
  }
  return statements
}

/** The bytes of a pending write (`null`: deleted); a live value is serialized once. */
function valueOf(write: PendingWrite): Bytes | null {
  if (write.value === undefined) write.value = write.live!.serialize()
  return write.value
}

/**
 * better-sqlite3 returns every blob in a Buffer of its own (never a slice of Node's pool), so
 * it can serve as plain {@link Bytes} without a copy: session records are about 7 KB, read
 * twice per Signal operation. Anything else is copied.
 */
function ownBytes(value: Buffer): Bytes {
  if (value.byteOffset === 0 && value.buffer.byteLength === value.byteLength) {
    return new Uint8Array(value.buffer as ArrayBuffer, 0, value.byteLength)
  }
  return toBytes(value)
}

function asBuffer(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

async function getValue(db: Db, namespace: string, key: string): Promise<Uint8Array | undefined> {
  const row = await db
    .selectFrom('signal_kv')
    .select('value')
    .where('namespace', '=', namespace)
    .where('key', '=', key)
    .executeTakeFirst()
  return row ? toBytes(row.value) : undefined
}

async function putValue(db: Db, namespace: string, key: string, value: Uint8Array): Promise<void> {
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  await db
    .insertInto('signal_kv')
    .values({ namespace, key, value: bytes })
    .onConflict((c) => c.columns(['namespace', 'key']).doUpdateSet({ value: bytes }))
    .execute()
}

async function deleteValue(db: Db, namespace: string, key: string): Promise<void> {
  await db
    .deleteFrom('signal_kv')
    .where('namespace', '=', namespace)
    .where('key', '=', key)
    .execute()
}

async function listKeys(db: Db, namespace: string): Promise<string[]> {
  const rows = await db
    .selectFrom('signal_kv')
    .select('key')
    .where('namespace', '=', namespace)
    .execute()
  return rows.map((r) => r.key)
}
