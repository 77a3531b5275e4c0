import {
  toBytes,
  toHex,
  TOMBSTONE_TTL_MS,
  type Bytes,
  type EnvelopeSummary,
  type MailboxQuota,
  type MailboxStore,
  type PutOutcome,
  type StoredEnvelope,
} from '@passage/sdk'
import { CompiledQuery, type Kysely } from 'kysely'
import type { Database } from './schema.js'

/**
 * {@link MailboxStore} in the `mailbox_envelopes` and `mailbox_tombstones` tables, over
 * Kysely: the same SQL on a Postgres server and on embedded PGlite. Every "live" check uses
 * the `now` the caller passes (the DHT node's injected clock), never the database's clock.
 *
 * `put()` is one statement (one round trip, its own transaction) calling the `mailbox_put`
 * PL/pgSQL function: it takes two transaction-scoped advisory locks (the mailbox, then the
 * source address: always in this order, so two puts cannot deadlock), then checks
 * tombstone, duplicate and quotas and inserts, each statement on a fresh snapshot.
 * Concurrent puts into one mailbox or from one source therefore see each other's rows,
 * and a quota is never overshot. The transaction has committed (durably, with Postgres' default
 * `synchronous_commit`) before `put()` resolves, and the DHT node acknowledges the sender
 * only after that: a stored row is exactly an acknowledged envelope.
 *
 * @example
 * const store = new PostgresMailboxStore(database.db)
 * const node = new DhtNode({ identity, socket, mailboxStore: store })
 */
export class PostgresMailboxStore implements MailboxStore {
  constructor(private readonly db: Kysely<Database>) {}

  async put(envelope: StoredEnvelope, quota: MailboxQuota, now: number): Promise<PutOutcome> {
    // One statement (its own transaction): see the `mailbox_put` function in migrations.ts.
    const { rows } = await this.db.executeQuery<{ outcome: PutOutcome }>(
      CompiledQuery.raw(PUT_SQL, [
        bytea(envelope.mailboxKey),
        bytea(envelope.id),
        bytea(envelope.data),
        envelope.source,
        envelope.storedAt,
        envelope.expiresAt,
        now,
        quota.maxCount,
        quota.maxBytes,
        quota.maxSourceBytes,
        lockKey(envelope.mailboxKey),
      ]),
    )
    const outcome = rows[0]?.outcome
    if (outcome === undefined) throw new Error('mailbox put returned no outcome')
    return outcome
  }

  async has(mailboxKey: Bytes, id: Bytes, now: number): Promise<boolean> {
    const row = await this.db
      .selectFrom('mailbox_envelopes')
      .select('expires_at')
      .where('mailbox_key', '=', bytea(mailboxKey))
      .where('id', '=', bytea(id))
      .where('expires_at', '>', now)
      .executeTakeFirst()
    return row !== undefined
  }

  async list(
    mailboxKey: Bytes,
    now: number,
    limit: number,
    after?: Bytes,
  ): Promise<EnvelopeSummary[]> {
    let query = this.db
      .selectFrom('mailbox_envelopes')
      .select(['id', 'size', 'expires_at'])
      .where('mailbox_key', '=', bytea(mailboxKey))
      .where('expires_at', '>', now)
    // bytea compares byte by byte (memcmp), the same order as the SDK's compareBytes.
    if (after) query = query.where('id', '>', bytea(after))
    const rows = await query.orderBy('id').limit(limit).execute()
    return rows.map((r) => ({
      id: toBytes(r.id),
      size: Number(r.size),
      expiresAt: Number(r.expires_at),
    }))
  }

  async get(mailboxKey: Bytes, id: Bytes, now: number): Promise<StoredEnvelope | undefined> {
    const row = await this.db
      .selectFrom('mailbox_envelopes')
      .selectAll()
      .where('mailbox_key', '=', bytea(mailboxKey))
      .where('id', '=', bytea(id))
      .where('expires_at', '>', now)
      .executeTakeFirst()
    if (!row) return undefined
    return {
      mailboxKey: toBytes(row.mailbox_key),
      id: toBytes(row.id),
      data: toBytes(row.data),
      source: row.source,
      storedAt: Number(row.stored_at),
      expiresAt: Number(row.expires_at),
    }
  }

  async delete(mailboxKey: Bytes, ids: Bytes[], now: number): Promise<number> {
    if (ids.length === 0) return 0
    // IDs travel as one comma-separated hex text: the same on pg and PGlite (no array codecs).
    const { rows } = await this.db.executeQuery<{ present: number | string }>(
      CompiledQuery.raw(DELETE_SQL, [
        bytea(mailboxKey),
        ids.map((id) => toHex(id)).join(','),
        now + TOMBSTONE_TTL_MS,
        now,
      ]),
    )
    return Number(rows[0]?.present ?? 0)
  }

  async expire(now: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const { rows } = await trx.executeQuery<{ expired: number | string }>(
        CompiledQuery.raw(EXPIRE_SQL, [now]),
      )
      await trx.deleteFrom('mailbox_counters').where('envelopes', '<=', 0).execute()
      await trx.deleteFrom('mailbox_source_bytes').where('bytes', '<=', 0).execute()
      await trx.deleteFrom('mailbox_tombstones').where('expires_at', '<=', now).execute()
      return Number(rows[0]?.expired ?? 0)
    })
  }

  async mailboxes(now: number, limit: number): Promise<Bytes[]> {
    const rows = await this.db
      .selectFrom('mailbox_envelopes')
      .select('mailbox_key')
      .where('expires_at', '>', now)
      .groupBy('mailbox_key')
      .limit(limit)
      .execute()
    return rows.map((r) => toBytes(r.mailbox_key))
  }

  async stats(now: number): Promise<{ envelopes: number; bytes: number }> {
    const row = await this.db
      .selectFrom('mailbox_envelopes')
      .select((eb) => [
        eb.fn.countAll<number>().as('envelopes'),
        eb.fn.coalesce(eb.fn.sum<number>('size'), eb.lit(0)).as('bytes'),
      ])
      .where('expires_at', '>', now)
      .executeTakeFirstOrThrow()
    return { envelopes: Number(row.envelopes), bytes: Number(row.bytes) }
  }
}

/** A Buffer view (no copy) of the bytes: node-postgres sends Buffers as bytea. */
function bytea(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Mailbox keys are hashes: their first 4 bytes are a fine lock key. */
function lockKey(mailboxKey: Uint8Array): number {
  const b = mailboxKey
  return ((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)
}

const PUT_SQL = `select mailbox_put($1::bytea, $2::bytea, $3::bytea, $4::text, $5::bigint,
  $6::bigint, $7::bigint, $8::bigint, $9::bigint, $10::bigint, $11::int) as outcome`

// One statement: delete, lower the running totals, leave tombstones (a longer one wins),
// count what was live.
const DELETE_SQL = `
  with
  ids as (
    select distinct decode(h, 'hex') as id from unnest(string_to_array($2::text, ',')) as h),
  del as (
    delete from mailbox_envelopes
    where mailbox_key = $1::bytea and id in (select id from ids)
    returning source, size, expires_at),
  box as (
    update mailbox_counters set
      envelopes = envelopes - (select count(*) from del),
      bytes = bytes - (select coalesce(sum(size), 0) from del)
    where mailbox_key = $1::bytea and exists (select 1 from del)),
  src as (
    update mailbox_source_bytes s set bytes = s.bytes - d.bytes
    from (select source, sum(size) as bytes from del group by source) d
    where s.source = d.source),
  tomb as (
    insert into mailbox_tombstones (mailbox_key, id, expires_at)
    select $1::bytea, id, $3::bigint from ids
    on conflict (mailbox_key, id) do update set
      expires_at = greatest(mailbox_tombstones.expires_at, excluded.expires_at)
    returning 1)
  select count(*) filter (where expires_at > $4::bigint) as present from del`

// Removes expired envelopes and lowers the running totals in one statement.
const EXPIRE_SQL = `
  with
  del as (
    delete from mailbox_envelopes where expires_at <= $1::bigint
    returning mailbox_key, source, size),
  box as (
    update mailbox_counters c set envelopes = c.envelopes - d.n, bytes = c.bytes - d.b
    from (select mailbox_key, count(*) as n, sum(size) as b from del group by mailbox_key) d
    where c.mailbox_key = d.mailbox_key),
  src as (
    update mailbox_source_bytes s set bytes = s.bytes - d.b
    from (select source, sum(size) as b from del group by source) d
    where s.source = d.source)
  select count(*) as expired from del`
