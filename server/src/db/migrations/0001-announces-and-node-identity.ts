import { sql, type Kysely } from 'kysely'

// Migration 0001_announces_and_node_identity (issue 2): live announces, and the super-node's
// own identity. Shipped: never edit it; add the next migration instead.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table announces (
      id_hex text collate "C" primary key check (id_hex ~ '^[0-9a-f]{40}$'),
      seq bigint not null check (seq >= 0),
      timestamp bigint not null,
      announce jsonb not null,
      observed_host text not null,
      observed_port integer not null check (observed_port between 0 and 65535),
      expires_at bigint not null
    )`.execute(db)
  await sql`create index announces_expires_at_idx on announces (expires_at)`.execute(db)
  await sql`
    create table node_identity (
      id integer primary key check (id = 1),
      key_pair bytea not null,
      created_at bigint not null
    )`.execute(db)
}
