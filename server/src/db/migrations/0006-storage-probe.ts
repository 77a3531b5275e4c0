import { sql, type Kysely } from 'kysely'

// Migration 0006_storage_probe: one row that readiness (`/readyz`, `passage_ready`) writes, so
// that "ready" means the storage takes a committed write, not only a read (a full disk or a
// read-only file system still answers `select 1`). Shipped: never edit it; add the next
// migration instead.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table storage_probe (
      id integer primary key check (id = 1),
      written_at bigint not null
    )
  `.execute(db)
}
