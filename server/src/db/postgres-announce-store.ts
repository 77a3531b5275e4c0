import { randomBytes } from 'node:crypto'
import { type Clock, NODE_ID_BYTES, systemClock } from '@passage/sdk'
import { CompiledQuery, type Kysely, type Selectable, sql } from 'kysely'
import type { AnnounceStore, PutResult, StoredAnnounce } from './announce-store.js'
import { BatchQueue, takeMatching } from './batch-queue.js'
import type { AnnouncesTable, Database } from './schema.js'

/** Options of {@link PostgresAnnounceStore}. */
export interface PostgresAnnounceStoreOptions {
  /** The time {@link PostgresAnnounceStore.put} uses when not given one. */
  clock?: Clock
}

/**
 * {@link AnnounceStore} in the `announces` table, over Kysely: the same SQL on a Postgres
 * server and on embedded PGlite. All "live" checks use the `now` the caller passes (the
 * injected clock), never the database's clock.
 *
 * `put()` is one `INSERT … ON CONFLICT … DO UPDATE … WHERE` (atomic replay check); puts that
 * arrive while others run are coalesced into one multi-row statement.
 * `sample()` reads the live entries following a random point of the ID space, from the
 * primary key index, at most once a second; each call takes a random part of that read.
 * `closest()` orders by XOR distance inside the database: the hex ID is cast to `bit(160)`
 * and XORed (`#`) with the target; bit strings of equal length compare like unsigned
 * big-endian numbers, which is exactly Kademlia's distance order. No index serves a XOR
 * order, so it first narrows to the IDs sharing a prefix with the target (a primary key
 * range of about 2 to 32 × `limit` live entries) and sorts only those.
 */
export class PostgresAnnounceStore implements AnnounceStore {
  private readonly clock: Clock
  /** How many live entries `closest()` last saw (extrapolated from the bucket it read). */
  private liveEstimate = 0

  constructor(
    private readonly db: Kysely<Database>,
    options: PostgresAnnounceStoreOptions = {},
  ) {
    this.clock = options.clock ?? systemClock
  }

  /**
   * Stores `entry` unless it is a replay. Concurrent puts are coalesced: while
   * {@link MAX_PUT_BATCHES_IN_FLIGHT} statements run, new puts queue and go out together as
   * one multi-row statement (same semantics, one round trip and one commit for many). `now`
   * defaults to the store's clock read when the statement is sent.
   */
  put(entry: StoredAnnounce, now?: number): Promise<PutResult> {
    return new Promise((resolve, reject) => this.puts.push({ entry, now, resolve, reject }))
  }

  private readonly puts = new BatchQueue<QueuedPut>({
    maxInFlight: MAX_PUT_BATCHES_IN_FLIGHT,
    // Puts sharing one `now` and no ID twice (a statement may touch a row only once).
    take: (queue) => {
      const now = queue[0]!.now
      const ids = new Set<string>()
      return takeMatching(queue, MAX_PUT_BATCH_ROWS, (put, first) => {
        if (!first && (put.now !== now || ids.has(put.entry.idHex))) return false
        ids.add(put.entry.idHex)
        return true
      })
    },
    run: (batch) => this.putBatch(batch),
  })

  private async putBatch(batch: QueuedPut[]): Promise<void> {
    const now = batch[0]!.now ?? this.clock.now()
    const params: unknown[] = [now]
    const rows = batch.map(({ entry }) => {
      const base = params.length
      params.push(
        entry.idHex,
        entry.announce.seq,
        entry.announce.timestamp,
        JSON.stringify(entry.announce),
        entry.observed.host,
        entry.observed.port,
        entry.expiresAt,
      )
      return `($${base + 1}, $${base + 2}::bigint, $${base + 3}::bigint, $${base + 4}::jsonb, $${base + 5}, $${base + 6}::int, $${base + 7}::bigint)`
    })
    const { rows: stored } = await this.db.executeQuery<{ id_hex: string }>(
      CompiledQuery.raw(PUT_SQL_HEAD + rows.join(',\n    ') + PUT_SQL_TAIL, params),
    )
    const storedIds = new Set(stored.map((row) => row.id_hex))
    if (storedIds.size > 0) {
      this.storedPuts++
      this.dropWholeSamples()
    }
    for (const put of batch) put.resolve(storedIds.has(put.entry.idHex) ? 'stored' : 'replay')
  }

  async get(idHex: string, now: number): Promise<StoredAnnounce | undefined> {
    const row = await this.db
      .selectFrom('announces')
      .selectAll()
      .where('id_hex', '=', idHex)
      .where('expires_at', '>', now)
      .executeTakeFirst()
    return row && toStored(row)
  }

  async closest(nearHex: string, limit: number, now: number): Promise<StoredAnnounce[]> {
    if (!/^[0-9a-f]{40}$/.test(nearHex)) {
      throw new RangeError('nearHex must be 40 lower-case hex digits')
    }
    // Every ID sharing the first `digits` hex digits with the target is closer to it than
    // every ID that does not. So if that bucket (a range of the primary key) holds `limit`
    // live entries, the answer lies in it; otherwise widen by one digit, down to the table.
    // Start where a bucket should hold about twice `limit` (IDs are uniform hashes).
    const start = Math.floor(Math.log(this.liveEstimate / (2 * limit)) / Math.log(16))
    for (let digits = Math.max(0, Math.min(start, 40)); ; digits--) {
      const rows = await this.closestIn(nearHex, digits, limit, now)
      if (rows.length >= limit || digits === 0) {
        this.liveEstimate = Number(rows[0]?.bucket_size ?? 0) * 16 ** digits
        return rows.map(toStored)
      }
    }
  }

  private async closestIn(nearHex: string, digits: number, limit: number, now: number) {
    const prefix = nearHex.slice(0, digits)
    let query = this.db
      .selectFrom('announces')
      .selectAll()
      .select(sql<number>`count(*) over ()`.as('bucket_size'))
      .where('expires_at', '>', now)
    if (digits > 0) {
      query = query
        .where('id_hex', '>=', prefix.padEnd(40, '0'))
        .where('id_hex', '<=', prefix.padEnd(40, 'f'))
    }
    return query
      .orderBy(sql`(('x' || id_hex)::bit(160)) # (('x' || ${nearHex})::bit(160))`)
      .limit(limit)
      .execute()
  }

  /**
   * Up to `limit` random live entries. One read serves every call for
   * {@link SAMPLE_SHARE_MS} of `now`, in flight or done: it fetches
   * {@link SAMPLE_POOL_FACTOR} × `limit` entries after a random point of the ID space, and
   * each call gets its own random `limit` of those still live at its `now`. Under load every
   * announce wants a sample; this is one query a second instead of one per few announces
   * (the last read was dropped as soon as it returned, issue 15's profile). A failed read is
   * not kept.
   */
  async sample(limit: number, now: number): Promise<StoredAnnounce[]> {
    let shared = this.samples.get(limit)
    if (!shared || Math.abs(now - shared.now) > SAMPLE_SHARE_MS) {
      const pivot = randomBytes(NODE_ID_BYTES).toString('hex')
      const query = this.db
        .executeQuery<Selectable<AnnouncesTable>>(
          CompiledQuery.raw(SAMPLE_SQL, [pivot, now, limit * SAMPLE_POOL_FACTOR]),
        )
        .then(({ rows }) => rows.map(toStored))
      const entry: SharedSample = { now, query }
      shared = entry
      this.samples.set(limit, entry)
      const putsBefore = this.storedPuts
      query.then(
        (rows) => {
          entry.whole = rows.length < limit * SAMPLE_POOL_FACTOR
          // A put stored while it was read may be missing from it.
          if (entry.whole && this.storedPuts !== putsBefore) this.dropWholeSamples()
        },
        () => {
          if (this.samples.get(limit) === entry) this.samples.delete(limit)
        },
      )
    }
    const live = (await shared.query).filter((entry) => entry.expiresAt > now)
    return shuffle(live).slice(0, limit)
  }

  private readonly samples = new Map<number, SharedSample>()
  /** Put statements that stored a row, counted: a read knows whether one landed meanwhile. */
  private storedPuts = 0

  /**
   * After a put: forgets every shared sample that held all the live entries (fewer than it
   * asked for), so a small network's peers see each other at once; a sample drawn from
   * more than it could hold stays its second, a fair draw still.
   */
  private dropWholeSamples(): void {
    for (const [limit, shared] of this.samples) {
      if (shared.whole) this.samples.delete(limit)
    }
  }

  async countLive(now: number): Promise<number> {
    const { count } = await this.db
      .selectFrom('announces')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('expires_at', '>', now)
      .executeTakeFirstOrThrow()
    return Number(count)
  }

  async sweep(now: number): Promise<number> {
    const result = await this.db
      .deleteFrom('announces')
      .where('expires_at', '<=', now)
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }
}

// One statement, so two concurrent puts cannot both win: Postgres serialises them on the
// conflicting row and re-checks the WHERE against the winner's values. A row comes back
// only when it was inserted or updated. Plain SQL rather than the query builder because
// this runs once per announce (building the query cost ~50 µs of CPU). $1 is `now`.
const PUT_SQL_HEAD = `
  insert into announces
    (id_hex, seq, timestamp, announce, observed_host, observed_port, expires_at)
  values
    `
const PUT_SQL_TAIL = `
  on conflict (id_hex) do update set
    seq = excluded.seq,
    timestamp = excluded.timestamp,
    announce = excluded.announce,
    observed_host = excluded.observed_host,
    observed_port = excluded.observed_port,
    expires_at = excluded.expires_at
  where announces.seq < excluded.seq or announces.expires_at <= $1::bigint
  returning id_hex`

/** Samples whose `now` lies within this of a read's share it: 1 s (new peers wait that long). */
const SAMPLE_SHARE_MS = 1_000
/** A shared sample read holds this many times what one call asks, so calls differ. */
const SAMPLE_POOL_FACTOR = 4

/** Rows in one coalesced put statement: 7 parameters each, far below Postgres' 65535. */
const MAX_PUT_BATCH_ROWS = 256
/**
 * Put statements running at once: one. Puts that come while it runs go out together next,
 * so batches grow with the load; with 4 at once they stayed 2-3 rows, and Postgres spent
 * twice the CPU per announce (0.15-0.17 against 0.31-0.38 ms, issue 15's bench).
 */
const MAX_PUT_BATCHES_IN_FLIGHT = 1

/** One sample read, shared by the calls of a second. */
interface SharedSample {
  now: number
  query: Promise<StoredAnnounce[]>
  /** Set when the read returns: whether it held every live entry (fewer than it asked). */
  whole?: boolean
}

interface QueuedPut {
  entry: StoredAnnounce
  now: number | undefined
  resolve: (result: PutResult) => void
  reject: (error: unknown) => void
}

// The live entries that follow a random point of the ID space (wrapping around), read from
// the primary key index: O(limit) per call where `order by random()` reads the whole table,
// and it runs once per announce. Node IDs are hashes, so which entries follow a random
// point is itself random.
const SAMPLE_SQL = `
  (select * from announces where id_hex >= $1 and expires_at > $2 order by id_hex limit $3)
  union all
  (select * from announces where id_hex < $1 and expires_at > $2 order by id_hex limit $3)
  limit $3`

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const item = items[i] as T
    items[i] = items[j] as T
    items[j] = item
  }
  return items
}

function toStored(row: Selectable<AnnouncesTable>): StoredAnnounce {
  return {
    announce: row.announce,
    idHex: row.id_hex,
    observed: { host: row.observed_host, port: row.observed_port },
    expiresAt: Number(row.expires_at),
  }
}
