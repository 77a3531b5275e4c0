import { toBytes, type NodeInfo } from '@passage/sdk'
import type { Kysely } from 'kysely'
import type { Database } from './schema.js'

/** Most contacts kept: a full routing table (160 buckets of k = 20) is far fewer in practice. */
const MAX_SAVED_CONTACTS = 3200

/**
 * The DHT routing table's verified contacts in the `dht_contacts` table, so that a
 * restarted super-node rejoins through the nodes it knew (they prove their keys again when
 * it bootstraps from them: nothing saved here is trusted as is).
 */
export class DhtContactsStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Replaces the saved contacts with `contacts`, in one transaction. */
  async save(contacts: NodeInfo[], now: number): Promise<void> {
    const rows = contacts.slice(0, MAX_SAVED_CONTACTS).map((c) => ({
      id: Buffer.from(c.id),
      host: c.host,
      port: c.port,
      saved_at: now,
    }))
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('dht_contacts').execute()
      // 4 parameters a row: chunks of 500 stay far below Postgres' 65,535 parameters.
      for (let i = 0; i < rows.length; i += 500) {
        await trx
          .insertInto('dht_contacts')
          .values(rows.slice(i, i + 500))
          .onConflict((c) => c.column('id').doNothing())
          .execute()
      }
    })
  }

  /** The saved contacts, most recently saved first. */
  async load(): Promise<NodeInfo[]> {
    const rows = await this.db
      .selectFrom('dht_contacts')
      .select(['id', 'host', 'port'])
      .orderBy('saved_at', 'desc')
      .limit(MAX_SAVED_CONTACTS)
      .execute()
    return rows.map((r) => ({ id: toBytes(r.id) as NodeInfo['id'], host: r.host, port: r.port }))
  }
}
