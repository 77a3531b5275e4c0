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
import { BatchQueue, takeMatching } from './batch-queue.js'
import type { Database } from './schema.js'

/**
 * {@link MailboxStore} in the `mailbox_envelopes` and `mailbox_tombstones` tables, over
 * Kysely: the same SQL on a Postgres server and on embedded PGlite. Every "live" check uses
 * the `now` the caller passes (the DHT node's injected clock), never the database's clock.
 *
 * `put()` is one statement (one round trip) calling the `mailbox_store_envelopes` procedure
 * (migration 0004; concurrent puts share one call): a first transaction checks tombstone and duplicate and reserves the
 * mailbox's and the source's running totals with conditional UPDATEs (row locks held for
 * one statement: puts from one source run in parallel, and a quota is never overshot);
 * a second inserts the envelope. That one has committed (durably, with Postgres' default
 * `synchronous_commit`) before `put()` resolves, and the DHT node acknowledges the sender
 * only after that: a stored row is exactly an acknowledged envelope.
 *
 * @example
 * const store = new PostgresMailboxStore(database.db)
 * const node = new DhtNode({ identity, socket, mailboxStore: store })
 */
export class PostgresMailboxStore implements MailboxStore {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Stores an envelope (outcome as {@link MailboxStore.put}). Concurrent puts are coalesced:
   * while {@link MAX_PUT_BATCHES_IN_FLIGHT} calls run, new puts queue and go out together as
   * one call of `mailbox_store_envelopes` (same checks and outcomes, one round trip and two
   * commits for many). Each resolves only after its batch's durable commit.
   */
  put(envelope: StoredEnvelope, quota: MailboxQuota, now: number): Promise<PutOutcome> {
    const key = `${toHex(envelope.mailboxKey)}/${toHex(envelope.id)}`
    return new Promise((resolve, reject) =>
      this.puts.push({ envelope, quota, now, key, resolve, reject }),
    )
  }

  private readonly puts = new BatchQueue<QueuedPut>({
    maxInFlight: MAX_PUT_BATCHES_IN_FLIGHT,
    // Puts sharing a quota, no envelope twice (a later copy waits its turn).
    take: (queue) => {
      const quota = queue[0]!.quota
      const keys = new Set<string>()
      return takeMatching(queue, MAX_PUT_BATCH_ROWS, (put, first) => {
        if (!first && (!sameQuota(put.quota, quota) || keys.has(put.key))) return false
        keys.add(put.key)
        return true
      })
    },
    run: (batch) => this.putBatch(batch),
  })

  private async putBatch(batch: QueuedPut[]): Promise<void> {
    const { quota } = batch[0]!
    const column = (f: (e: StoredEnvelope) => string) => batch.map((p) => f(p.envelope)).join(',')
    const { rows } = await this.db.executeQuery<{ outcomes: string }>(
      CompiledQuery.raw(PUT_BATCH_SQL, [
        column((e) => toHex(e.mailboxKey)),
        column((e) => toHex(e.id)),
        column((e) => bytea(e.data).toString('hex')),
        column((e) => e.source),
        column((e) => String(e.storedAt)),
        column((e) => String(e.expiresAt)),
        batch.map((p) => String(p.now)).join(','),
        quota.maxCount,
        quota.maxBytes,
        quota.maxSourceBytes,
      ]),
    )
    const outcomes = (rows[0]?.outcomes ?? '').split(',')
    if (outcomes.length !== batch.length) throw new Error('mailbox put returned no outcome')
    batch.forEach((put, i) => put.resolve(outcomes[i] as PutOutcome))
  }

  async has(mailboxKey: Bytes, id: Bytes, now: number): Promise<boolean> {
    const { rows } = await this.db.executeQuery(
      CompiledQuery.raw(HAS_SQL, [bytea(mailboxKey), bytea(id), now]),
    )
    return rows.length > 0
  }

  async list(
    mailboxKey: Bytes,
    now: number,
    limit: number,
    after?: Bytes,
  ): Promise<EnvelopeSummary[]> {
    // bytea compares byte by byte (memcmp), the same order as the SDK's compareBytes.
    const { rows } = await this.db.executeQuery<{
      id: Uint8Array
      size: number | string
      expires_at: number | string
    }>(
      after
        ? CompiledQuery.raw(LIST_AFTER_SQL, [bytea(mailboxKey), now, limit, bytea(after)])
        : CompiledQuery.raw(LIST_SQL, [bytea(mailboxKey), now, limit]),
    )
    return rows.map((r) => ({
      id: toBytes(r.id),
      size: Number(r.size),
      expiresAt: Number(r.expires_at),
    }))
  }

  /**
   * One live envelope, or undefined. Concurrent gets are coalesced as puts are: one SELECT
   * for many (each with its own `now`), one round trip.
   */
  get(mailboxKey: Bytes, id: Bytes, now: number): Promise<StoredEnvelope | undefined> {
    return new Promise((resolve, reject) =>
      this.gets.push({ mailboxKey, id, now, resolve, reject }),
    )
  }

  private readonly gets = new BatchQueue<QueuedGet>({
    maxInFlight: MAX_GET_BATCHES_IN_FLIGHT,
    take: (queue) => queue.splice(0, MAX_GET_BATCH_ROWS),
    run: (batch) => this.getBatch(batch),
  })

  private async getBatch(batch: QueuedGet[]): Promise<void> {
    const { rows } = await this.db.executeQuery<{
      r: number | string
      data: Uint8Array
      source: string
      stored_at: number | string
      expires_at: number | string
    }>(
      CompiledQuery.raw(GET_BATCH_SQL, [
        batch.map((g) => toHex(g.mailboxKey)).join(','),
        batch.map((g) => toHex(g.id)).join(','),
        batch.map((g) => String(g.now)).join(','),
      ]),
    )
    const found = new Array<StoredEnvelope | undefined>(batch.length)
    for (const row of rows) {
      const i = Number(row.r) - 1
      const g = batch[i]
      if (!g) continue
      found[i] = {
        mailboxKey: g.mailboxKey,
        id: g.id,
        data: toBytes(row.data),
        source: row.source,
        storedAt: Number(row.stored_at),
        expiresAt: Number(row.expires_at),
      }
    }
    batch.forEach((g, i) => g.resolve(found[i]))
  }

  /**
   * Deletes envelopes and leaves tombstones; resolves with how many were live. Concurrent
   * deletes are coalesced as puts are (one call of `mailbox_delete_batch` for many requests,
   * at most one per mailbox); each resolves after its batch's durable commit.
   */
  delete(mailboxKey: Bytes, ids: Bytes[], now: number): Promise<number> {
    if (ids.length === 0) return Promise.resolve(0)
    const box = toHex(mailboxKey)
    return new Promise((resolve, reject) =>
      this.deletes.push({ mailboxKey, box, ids, now, resolve, reject }),
    )
  }

  private readonly deletes = new BatchQueue<QueuedDelete>({
    maxInFlight: MAX_DELETE_BATCHES_IN_FLIGHT,
    // At most one request per mailbox, and a bounded number of IDs (the first always goes).
    take: (queue) => {
      const boxes = new Set<string>()
      let idCount = 0
      return takeMatching(queue, Number.MAX_SAFE_INTEGER, (d, first) => {
        if (!first && (boxes.has(d.box) || idCount + d.ids.length > MAX_DELETE_BATCH_IDS)) {
          return false
        }
        boxes.add(d.box)
        idCount += d.ids.length
        return true
      })
    },
    run: (batch) => this.deleteBatch(batch),
  })

  private async deleteBatch(batch: QueuedDelete[]): Promise<void> {
    const reqs: string[] = []
    const keys: string[] = []
    const ids: string[] = []
    const tombstones: string[] = []
    const nows: string[] = []
    batch.forEach((d, r) => {
      for (const id of d.ids) {
        reqs.push(String(r))
        keys.push(d.box)
        ids.push(toHex(id))
        tombstones.push(String(d.now + TOMBSTONE_TTL_MS))
        nows.push(String(d.now))
      }
    })
    // IDs travel as comma-separated hex text: the same on pg and PGlite (no array codecs).
    // One statement, two transactions: see `mailbox_delete_batch` in migrations.ts.
    const { rows } = await this.db.executeQuery<{ presents: string | null }>(
      CompiledQuery.raw(DELETE_BATCH_SQL, [
        batch.length,
        reqs.join(','),
        keys.join(','),
        ids.join(','),
        tombstones.join(','),
        nows.join(','),
      ]),
    )
    const presents = (rows[0]?.presents ?? '').split(',')
    if (presents.length !== batch.length) throw new Error('mailbox delete returned no count')
    batch.forEach((d, i) => d.resolve(Number(presents[i])))
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

// Hot paths are plain SQL strings (no query building per request). Postgres plans them
// per execution; each is a primary-key probe.
const PUT_BATCH_SQL = `call mailbox_store_envelopes($1::text, $2::text, $3::text, $4::text,
  $5::text, $6::text, $7::text, $8::bigint, $9::bigint, $10::bigint, null)`

/**
 * Put calls running at once: each holds a pooled connection (8), so gets and deletes keep the
 * rest. Batches never deadlock each other: they lock the running totals in one order.
 */
const MAX_PUT_BATCHES_IN_FLIGHT = 4
/** Envelopes in one call: 64 × 1 KiB fragments is about 128 KiB of hex text. */
const MAX_PUT_BATCH_ROWS = 64

interface QueuedPut {
  envelope: StoredEnvelope
  quota: MailboxQuota
  now: number
  /** `mailboxKey/id` in hex: one envelope at most once per batch. */
  key: string
  resolve: (outcome: PutOutcome) => void
  reject: (error: unknown) => void
}

function sameQuota(a: MailboxQuota, b: MailboxQuota): boolean {
  return (
    a.maxCount === b.maxCount && a.maxBytes === b.maxBytes && a.maxSourceBytes === b.maxSourceBytes
  )
}

const HAS_SQL = `select 1 from mailbox_envelopes
  where mailbox_key = $1::bytea and id = $2::bytea and expires_at > $3::bigint`

// Keys, IDs (hex) and each get's now, comma-separated; \`r\`: the get's position from 1.
const GET_BATCH_SQL = `select u.r, e.data, e.source, e.stored_at, e.expires_at
  from unnest(string_to_array($1::text, ','), string_to_array($2::text, ','),
    string_to_array($3::text, ',')) with ordinality as u(k, i, n, r)
  join mailbox_envelopes e on e.mailbox_key = decode(u.k, 'hex') and e.id = decode(u.i, 'hex')
  where e.expires_at > u.n::bigint`

/** Get calls running at once (puts and deletes hold up to 6 of the 8 pooled connections). */
const MAX_GET_BATCHES_IN_FLIGHT = 2
/** Gets in one SELECT. */
const MAX_GET_BATCH_ROWS = 64

interface QueuedGet {
  mailboxKey: Bytes
  id: Bytes
  now: number
  resolve: (envelope: StoredEnvelope | undefined) => void
  reject: (error: unknown) => void
}

const LIST_SQL = `select id, size, expires_at from mailbox_envelopes
  where mailbox_key = $1::bytea and expires_at > $2::bigint order by id limit $3::bigint`

const LIST_AFTER_SQL = `select id, size, expires_at from mailbox_envelopes
  where mailbox_key = $1::bytea and expires_at > $2::bigint and id > $4::bytea
  order by id limit $3::bigint`

const DELETE_BATCH_SQL = `call mailbox_delete_batch($1::integer, $2::text, $3::text, $4::text,
  $5::text, $6::text, null)`

/** Delete calls running at once (puts may hold 4 of the 8 pooled connections meanwhile). */
const MAX_DELETE_BATCHES_IN_FLIGHT = 2
/** Envelope IDs in one call. */
const MAX_DELETE_BATCH_IDS = 1024

interface QueuedDelete {
  mailboxKey: Bytes
  /** The mailbox key in hex: at most one request per mailbox in a batch. */
  box: string
  ids: Bytes[]
  now: number
  resolve: (present: number) => void
  reject: (error: unknown) => void
}

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
