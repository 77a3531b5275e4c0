import { randomBytes } from 'node:crypto'
import { type Clock, NODE_ID_BYTES, systemClock } from '@passage/sdk'
import { CompiledQuery, type Kysely, type Selectable, sql } from 'kysely'
import type { AnnounceStore, PutResult, StoredAnnounce } from './announce-store.js'
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
 * `put()` is one `INSERT … ON CONFLICT … DO UPDATE … WHERE` (atomic replay check).
 * `sample()` reads the live entries following a random point of the ID space, from the
 * primary key index, then shuffles them: cheap enough to run on every announce.
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

  async put(entry: StoredAnnounce, now: number = this.clock.now()): Promise<PutResult> {
    const { rows } = await this.db.executeQuery<{ id_hex: string }>(
      CompiledQuery.raw(PUT_SQL, [
        entry.idHex,
        entry.announce.seq,
        entry.announce.timestamp,
        JSON.stringify(entry.announce),
        entry.observed.host,
        entry.observed.port,
        entry.expiresAt,
        now,
      ]),
    )
    return rows.length > 0 ? 'stored' : 'replay'
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

  async sample(limit: number, now: number): Promise<StoredAnnounce[]> {
    const pivot = randomBytes(NODE_ID_BYTES).toString('hex')
    const { rows } = await this.db.executeQuery<Selectable<AnnouncesTable>>(
      CompiledQuery.raw(SAMPLE_SQL, [pivot, now, limit]),
    )
    return shuffle(rows.map(toStored))
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
// this runs once per announce (building the query cost ~50 µs of CPU).
const PUT_SQL = `
  insert into announces
    (id_hex, seq, timestamp, announce, observed_host, observed_port, expires_at)
  values ($1, $2, $3, $4, $5, $6, $7)
  on conflict (id_hex) do update set
    seq = excluded.seq,
    timestamp = excluded.timestamp,
    announce = excluded.announce,
    observed_host = excluded.observed_host,
    observed_port = excluded.observed_port,
    expires_at = excluded.expires_at
  where announces.seq < excluded.seq or announces.expires_at <= $8
  returning id_hex`

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
