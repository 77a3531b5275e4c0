import type BetterSqlite3 from 'better-sqlite3'
import type { ClientDatabase } from './migrations.js'

type MessageRow = ClientDatabase['messages']
type OutboxRow = ClientDatabase['outbox']

/** Delivery states in order; a message's state only moves forward. */
const STATES = ['pending', 'sent', 'stored', 'delivered', 'read'] as const

/**
 * The client's hot-path writes as prepared better-sqlite3 statements: a chat message makes a
 * handful of them on each side, and Kysely's query building cost several times what SQLite
 * took. Call them **only inside a transaction** of the store's Kysely instance (for example in
 * a `SignalStorage.transaction` or a `persist` hook): Kysely's SQLite dialect holds the single
 * connection for the whole transaction, so they run inside it; anywhere else they would land
 * in whatever transaction happens to be open.
 */
export class SqliteClientStatements {
  private readonly insertMessageStatement: BetterSqlite3.Statement
  private readonly insertOutboxStatement: BetterSqlite3.Statement
  private readonly setOutboxSignalStatement: BetterSqlite3.Statement
  private readonly deleteOutboxStatement: BetterSqlite3.Statement
  private readonly upsertSenderStatement: BetterSqlite3.Statement
  private readonly advance = new Map<string, BetterSqlite3.Statement>()

  constructor(private readonly sqlite: BetterSqlite3.Database) {
    this.insertMessageStatement = sqlite.prepare(
      `insert into messages (id, contact_id, direction, body, sent_at, received_at, state, read, route, notified)
       values (@id, @contact_id, @direction, @body, @sent_at, @received_at, @state, @read, @route, @notified)
       on conflict (id) do nothing`,
    )
    this.insertOutboxStatement = sqlite.prepare(
      `insert into outbox (id, contact_id, plaintext, sealed, signal, message_id, created_at, attempts, next_attempt_at)
       values (@id, @contact_id, @plaintext, @sealed, @signal, @message_id, @created_at, @attempts, @next_attempt_at)`,
    )
    this.setOutboxSignalStatement = sqlite.prepare('update outbox set signal = ? where id = ?')
    this.deleteOutboxStatement = sqlite.prepare('delete from outbox where id = ?')
    this.upsertSenderStatement = sqlite.prepare(
      `insert into contacts (id, public_key, name, added_at, last_seen_at, flagged)
       values (?, ?, null, ?, ?, null)
       on conflict (id) do update set last_seen_at = excluded.last_seen_at`,
    )
  }

  /** Inserts a message; false when one with its ID exists (nothing changes then). */
  insertMessage(row: MessageRow): boolean {
    return this.insertMessageStatement.run(row).changes > 0
  }

  insertOutbox(entry: OutboxRow): void {
    this.insertOutboxStatement.run(entry)
  }

  setOutboxSignal(id: string, signal: Uint8Array): void {
    this.setOutboxSignalStatement.run(
      Buffer.from(signal.buffer, signal.byteOffset, signal.byteLength),
      id,
    )
  }

  deleteOutbox(id: string): void {
    this.deleteOutboxStatement.run(id)
  }

  /** Adds the sender of a message as a contact, or notes when it was last seen. */
  upsertSender(id: string, publicKey: Uint8Array, now: number): void {
    this.upsertSenderStatement.run(
      id,
      Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength),
      now,
      now,
    )
  }

  /**
   * Moves a message's state forward to `state` (never back), setting its route when it has
   * none. True when it changed.
   */
  advanceState(messageId: string, state: string, route: string | null): boolean {
    let statement = this.advance.get(state)
    if (!statement) {
      const rank = STATES.indexOf(state as (typeof STATES)[number])
      const lower = STATES.slice(0, Math.max(rank, 0))
      if (lower.length === 0) return false
      statement = this.sqlite.prepare(
        `update messages set state = ?, read = ${state === 'read' ? '1' : 'read'},
         route = coalesce(route, ?) where id = ? and state in (${lower.map((s) => `'${s}'`).join(', ')})`,
      )
      this.advance.set(state, statement)
    }
    return statement.run(state, route, messageId).changes > 0
  }
}
