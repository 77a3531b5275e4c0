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

/** Advisory-lock namespaces (first key of `pg_advisory_xact_lock(int, int)`). */
const LOCK_MAILBOX = 0x7061_0001 // "pa" 1: one mailbox
const LOCK_SOURCE = 0x7061_0002 // "pa" 2: one source address

/**
 * {@link MailboxStore} in the `mailbox_envelopes` and `mailbox_tombstones` tables, over
 * Kysely: the same SQL on a Postgres server and on embedded PGlite. Every "live" check uses
 * the `now` the caller passes (the DHT node's injected clock), never the database's clock.
 *
 * `put()` is one short transaction: it takes two transaction-scoped advisory locks (the
 * mailbox, then the source address: always in this order, so two puts cannot deadlock),
 * then one statement checks tombstone, duplicate and quotas and inserts. Concurrent puts
 * into one mailbox or from one source therefore see each other's rows, and a quota is
 * never overshot. The transaction has committed (durably, with Postgres' default
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
    const size = envelope.data.byteLength
    return this.db.transaction().execute(async (trx) => {
      await trx.executeQuery(
        CompiledQuery.raw(LOCK_SQL, [
          LOCK_MAILBOX,
          lockKey(envelope.mailboxKey),
          LOCK_SOURCE,
          envelope.source,
        ]),
      )
      const { rows } = await trx.executeQuery<{ outcome: PutOutcome }>(
        CompiledQuery.raw(PUT_SQL, [
          bytea(envelope.mailboxKey),
          bytea(envelope.id),
          bytea(envelope.data),
          envelope.source,
          envelope.storedAt,
          envelope.expiresAt,
          now,
          quota.maxCount,
          size,
          quota.maxBytes,
          quota.maxSourceBytes,
          size,
        ]),
      )
      const outcome = rows[0]?.outcome
      if (outcome === undefined) throw new Error('mailbox put returned no outcome')
      return outcome
    })
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
      const expired = await trx
        .deleteFrom('mailbox_envelopes')
        .where('expires_at', '<=', now)
        .executeTakeFirst()
      await trx.deleteFrom('mailbox_tombstones').where('expires_at', '<=', now).execute()
      return Number(expired.numDeletedRows)
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

// Held until the transaction ends. Mailbox first, then source: one order, no deadlock.
const LOCK_SQL = `select pg_advisory_xact_lock($1::int, $2::int),
  pg_advisory_xact_lock($3::int, hashtext($4::text))`

// Runs after the locks, so its snapshot sees every envelope committed by earlier puts into
// this mailbox or from this source. An expired envelope with the same ID (not yet removed
// by expire()) is replaced. $9 and $12 are the same size: one parameter per type context.
const PUT_SQL = `
  with
  tomb as (
    select 1 from mailbox_tombstones
    where mailbox_key = $1::bytea and id = $2::bytea and expires_at > $7::bigint),
  dup as (
    select 1 from mailbox_envelopes
    where mailbox_key = $1::bytea and id = $2::bytea and expires_at > $7::bigint),
  box as (
    select count(*) as n, coalesce(sum(size), 0) as b from mailbox_envelopes
    where mailbox_key = $1::bytea and expires_at > $7::bigint),
  src as (
    select coalesce(sum(size), 0) as b from mailbox_envelopes
    where source = $4::text and expires_at > $7::bigint),
  verdict as (
    select case
      when exists (select 1 from tomb) then 'deleted'
      when exists (select 1 from dup) then 'duplicate'
      when box.n + 1 > $8::bigint or box.b + $9::bigint > $10::bigint then 'mailbox-full'
      when src.b + $9::bigint > $11::bigint then 'source-full'
      else 'stored'
    end as outcome
    from box, src),
  ins as (
    insert into mailbox_envelopes (mailbox_key, id, data, size, source, stored_at, expires_at)
    select $1::bytea, $2::bytea, $3::bytea, $12::int, $4::text, $5::bigint, $6::bigint
    from verdict where outcome = 'stored'
    on conflict (mailbox_key, id) do update set
      data = excluded.data,
      size = excluded.size,
      source = excluded.source,
      stored_at = excluded.stored_at,
      expires_at = excluded.expires_at
    returning 1)
  select outcome from verdict`

// One statement: delete, leave tombstones (a longer one wins), count what was live.
const DELETE_SQL = `
  with
  ids as (
    select distinct decode(h, 'hex') as id from unnest(string_to_array($2::text, ',')) as h),
  del as (
    delete from mailbox_envelopes
    where mailbox_key = $1::bytea and id in (select id from ids)
    returning expires_at),
  tomb as (
    insert into mailbox_tombstones (mailbox_key, id, expires_at)
    select $1::bytea, id, $3::bigint from ids
    on conflict (mailbox_key, id) do update set
      expires_at = greatest(mailbox_tombstones.expires_at, excluded.expires_at)
    returning 1)
  select count(*) filter (where expires_at > $4::bigint) as present from del`
