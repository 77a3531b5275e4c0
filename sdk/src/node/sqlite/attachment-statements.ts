import type BetterSqlite3 from 'better-sqlite3'
import type { AttachmentDraft, StoredAttachment } from '../../core/client/ports.js'
import type { AttachmentState } from '../../core/client/types.js'
import { toBytes, type Bytes } from '../../core/wire/bytes.js'
import { AttachmentFiles, FileDraft } from './attachment-files.js'
import type { ClientDatabase } from './migrations.js'

/**
 * The `ciphertext` column of a row whose ciphertext is a file: empty (no ciphertext is empty),
 * so a row says whether a file holds it without a look at the disk. NULL: none held.
 */
const IN_FILE = new Uint8Array(0)

type Row = Omit<ClientDatabase['attachments'], 'pointer' | 'ciphertext'> & {
  pointer: Buffer
  ciphertext?: Buffer | null
}

/**
 * The SQL of attachments (tables `attachments` and `attachment_chunks`, migration
 * `0008_attachments`): prepared once, run on the store's single connection, inside its
 * transactions for the writes (as {@link SqliteClientStatements}). A row's ciphertext is a
 * file of the home ({@link AttachmentFiles}), written before the row's transaction commits,
 * and the `ciphertext` column is then empty; it holds the bytes only of rows kept before files
 * (still read as they are).
 */
export class AttachmentStatements {
  private readonly cache = new Map<string, BetterSqlite3.Statement>()
  private readonly files: AttachmentFiles

  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    homeDir: string,
  ) {
    this.files = new AttachmentFiles(homeDir)
  }

  private stmt(sql: string): BetterSqlite3.Statement {
    let statement = this.cache.get(sql)
    if (!statement) {
      statement = this.sqlite.prepare(sql)
      this.cache.set(sql, statement)
    }
    return statement
  }

  /** Lets go of the files' resources (the home closes). */
  close(): void {
    this.files.close()
  }

  /** A file to write a fetched ciphertext into as it comes (none for an ID that names no file). */
  draft(messageId: string): FileDraft | undefined {
    return AttachmentFiles.holds(messageId) ? this.files.draft() : undefined
  }

  save(a: StoredAttachment, draft?: AttachmentDraft): void {
    let column: Uint8Array | null = a.ciphertext ?? null
    if (draft) {
      if (!(draft instanceof FileDraft) || !AttachmentFiles.holds(a.messageId)) {
        throw new TypeError('not an attachment draft of this home')
      }
      this.files.keep(a.messageId, draft)
      column = IN_FILE
    } else if (column && column.byteLength > 0 && AttachmentFiles.holds(a.messageId)) {
      // What this device sent is flushed to the disk; a fetched copy can be fetched again.
      this.files.write(a.messageId, column, a.direction === 'out')
      column = IN_FILE
    }
    this.stmt(
      `insert into attachments (message_id, contact_id, direction, sender, pointer, state, ciphertext, updated_at)
       values (?, ?, ?, ?, ?, ?, ?, ?)
       on conflict (message_id) do update set pointer = excluded.pointer, state = excluded.state,
       ciphertext = coalesce(excluded.ciphertext, attachments.ciphertext), updated_at = excluded.updated_at`,
    ).run(a.messageId, a.contactId, a.direction, a.sender, a.pointer, a.state, column, a.updatedAt)
  }

  saveChunk(messageId: string, index: number, data: Bytes): void {
    this.stmt(
      `insert into attachment_chunks (message_id, idx, data) values (?, ?, ?)
       on conflict (message_id, idx) do nothing`,
    ).run(messageId, index, data)
  }

  dropChunks(messageId: string): void {
    this.stmt('delete from attachment_chunks where message_id = ?').run(messageId)
  }

  get(messageId: string): StoredAttachment | undefined {
    const row = this.stmt('select * from attachments where message_id = ?').get(messageId) as
      Row | undefined
    if (!row) return undefined
    if (row.ciphertext?.byteLength === 0) {
      // Held as a file (lost at rest by a crash of the OS: none).
      const file = this.files.read(messageId)
      const stored = toStored({ ...row, ciphertext: null })
      return file ? { ...stored, ciphertext: file } : stored
    }
    return toStored(row)
  }

  /** Forgets a row's ciphertext (damaged, or refused): its file, or its column. */
  dropCiphertext(messageId: string): void {
    if (AttachmentFiles.holds(messageId)) this.files.remove(messageId)
    this.stmt('update attachments set ciphertext = null where message_id = ?').run(messageId)
  }

  /** Forgets every attachment of a conversation: rows, chunks kept for a resume, files. */
  dropConversation(contactId: string): void {
    const rows = this.stmt('select message_id from attachments where contact_id = ?').all(
      contactId,
    ) as { message_id: string }[]
    for (const { message_id: id } of rows) {
      if (AttachmentFiles.holds(id)) this.files.remove(id)
      this.dropChunks(id)
    }
    this.stmt('delete from attachments where contact_id = ?').run(contactId)
  }

  many(messageIds: string[]): StoredAttachment[] {
    const out: StoredAttachment[] = []
    const statement = this.stmt(
      `select message_id, contact_id, direction, sender, pointer, state, updated_at
       from attachments where message_id = ?`,
    )
    for (const id of messageIds) {
      const row = statement.get(id) as Row | undefined
      if (row) out.push(toStored(row))
    }
    return out
  }

  chunks(messageId: string): Map<number, Bytes> {
    const rows = this.stmt(
      'select idx, data from attachment_chunks where message_id = ? order by idx',
    ).all(messageId) as { idx: number; data: Buffer }[]
    return new Map(rows.map((r) => [r.idx, toBytes(r.data)]))
  }
}

function toStored(row: Row): StoredAttachment {
  return {
    messageId: row.message_id,
    contactId: row.contact_id,
    direction: row.direction === 'out' ? 'out' : 'in',
    sender: row.sender,
    pointer: toBytes(row.pointer),
    state: row.state as AttachmentState,
    ...(row.ciphertext ? { ciphertext: toBytes(row.ciphertext) } : {}),
    updatedAt: row.updated_at,
  }
}
