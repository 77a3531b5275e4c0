import { type Clock, systemClock } from '@passage/sdk'
import { type Kysely, type Selectable, sql } from 'kysely'
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
 * `closest()` orders by XOR distance inside the database: the hex ID is cast to `bit(160)`
 * and XORed (`#`) with the target; bit strings of equal length compare like unsigned
 * big-endian numbers, which is exactly Kademlia's distance order. It scans the live rows
 * (no index can serve a XOR order), which is fine for the tens of thousands of peers one
 * bootstrap server holds.
 */
export class PostgresAnnounceStore implements AnnounceStore {
  private readonly clock: Clock

  constructor(
    private readonly db: Kysely<Database>,
    options: PostgresAnnounceStoreOptions = {},
  ) {
    this.clock = options.clock ?? systemClock
  }

  async put(entry: StoredAnnounce, now: number = this.clock.now()): Promise<PutResult> {
    const row = {
      id_hex: entry.idHex,
      seq: entry.announce.seq,
      timestamp: entry.announce.timestamp,
      announce: JSON.stringify(entry.announce),
      observed_host: entry.observed.host,
      observed_port: entry.observed.port,
      expires_at: entry.expiresAt,
    }
    // One statement, so two concurrent puts cannot both win: Postgres serialises them on
    // the conflicting row and re-checks the WHERE against the winner's values.
    const stored = await this.db
      .insertInto('announces')
      .values(row)
      .onConflict((conflict) =>
        conflict
          .column('id_hex')
          .doUpdateSet((eb) => ({
            seq: eb.ref('excluded.seq'),
            timestamp: eb.ref('excluded.timestamp'),
            announce: eb.ref('excluded.announce'),
            observed_host: eb.ref('excluded.observed_host'),
            observed_port: eb.ref('excluded.observed_port'),
            expires_at: eb.ref('excluded.expires_at'),
          }))
          .where((eb) =>
            eb.or([
              eb('announces.seq', '<', eb.ref('excluded.seq')),
              eb('announces.expires_at', '<=', now),
            ]),
          ),
      )
      .returning('id_hex')
      .executeTakeFirst()
    return stored ? 'stored' : 'replay'
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
    if (!/^[0-9a-f]{40}$/.test(nearHex))
      throw new RangeError('nearHex must be 40 lower-case hex digits')
    const rows = await this.db
      .selectFrom('announces')
      .selectAll()
      .where('expires_at', '>', now)
      .orderBy(sql`(('x' || id_hex)::bit(160)) # (('x' || ${nearHex})::bit(160))`)
      .limit(limit)
      .execute()
    return rows.map(toStored)
  }

  async sample(limit: number, now: number): Promise<StoredAnnounce[]> {
    const rows = await this.db
      .selectFrom('announces')
      .selectAll()
      .where('expires_at', '>', now)
      .orderBy(sql`random()`)
      .limit(limit)
      .execute()
    return rows.map(toStored)
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

function toStored(row: Selectable<AnnouncesTable>): StoredAnnounce {
  return {
    announce: row.announce,
    idHex: row.id_hex,
    observed: { host: row.observed_host, port: row.observed_port },
    expiresAt: Number(row.expires_at),
  }
}
