import {
  decodeSignedRecord,
  encodeSignedRecord,
  equalBytes,
  ReplayError,
  type Bytes,
  type RecordStore,
  type SignedRecord,
} from '@passage/sdk'
import { CompiledQuery, type Kysely } from 'kysely'
import type { Database } from './schema.js'

/**
 * {@link RecordStore} in the `dht_records` table (the record in its wire form, one row per
 * key), on Postgres and PGlite. `put()` is one `INSERT … ON CONFLICT … DO UPDATE … WHERE
 * seq <` statement, so of two concurrent puts the higher `seq` wins; when nothing was
 * written, the stored row says whether it was a retry (same seq and signature) or a replay.
 */
export class PostgresRecordStore implements RecordStore {
  constructor(private readonly db: Kysely<Database>) {}

  async put(key: Bytes, record: SignedRecord): Promise<number> {
    const { rows } = await this.db.executeQuery<{ seq: number }>(
      CompiledQuery.raw(PUT_SQL, [
        bytea(key),
        record.seq,
        bytea(record.signature),
        bytea(encodeSignedRecord(record)),
      ]),
    )
    if (rows.length > 0) return record.seq
    const old = await this.db
      .selectFrom('dht_records')
      .select(['seq', 'signature'])
      .where('key', '=', bytea(key))
      .executeTakeFirst()
    if (!old) throw new Error('record vanished during put')
    const seq = Number(old.seq)
    if (seq > record.seq) throw new ReplayError('a record with a higher seq is stored')
    if (equalBytes(old.signature, record.signature)) return seq
    throw new ReplayError('another record with the same seq is stored')
  }

  async get(key: Bytes): Promise<SignedRecord | undefined> {
    const row = await this.db
      .selectFrom('dht_records')
      .select('record')
      .where('key', '=', bytea(key))
      .executeTakeFirst()
    return row && decodeSignedRecord(row.record)
  }
}

function bytea(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

const PUT_SQL = `
  insert into dht_records (key, seq, signature, record)
  values ($1::bytea, $2::bigint, $3::bytea, $4::bytea)
  on conflict (key) do update set
    seq = excluded.seq,
    signature = excluded.signature,
    record = excluded.record
  where dht_records.seq < excluded.seq
  returning seq`
