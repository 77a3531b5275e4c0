import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely'

/**
 * Every migration, in order. Plain SQL that runs unchanged on Postgres 15+ and on PGlite
 * (Postgres 18 in WASM). Never edit one that has shipped: append a new one.
 */
export const migrations: Record<string, Migration> = {
  '0001_announces_and_node_identity': {
    async up(db: Kysely<unknown>): Promise<void> {
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
    },
  },
  // Issue 3: the super-node's DHT node keeps mailboxes, signed records and its routing table.
  '0002_dht_mailboxes_records_contacts': {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`
        create table mailbox_envelopes (
          mailbox_key bytea not null,
          id bytea not null,
          data bytea not null,
          size integer not null check (size >= 0),
          source text not null,
          stored_at bigint not null,
          expires_at bigint not null,
          primary key (mailbox_key, id)
        )`.execute(db)
      await sql`create index mailbox_envelopes_expires_at_idx on mailbox_envelopes (expires_at)`.execute(
        db,
      )
      await sql`
        create index mailbox_envelopes_source_idx on mailbox_envelopes (source, expires_at)
          include (size)`.execute(db)
      await sql`
        create table mailbox_tombstones (
          mailbox_key bytea not null,
          id bytea not null,
          expires_at bigint not null,
          primary key (mailbox_key, id)
        )`.execute(db)
      await sql`create index mailbox_tombstones_expires_at_idx on mailbox_tombstones (expires_at)`.execute(
        db,
      )
      await sql`
        create table dht_records (
          key bytea primary key,
          seq bigint not null check (seq >= 0),
          signature bytea not null,
          record bytea not null
        )`.execute(db)
      await sql`
        create table dht_contacts (
          id bytea primary key,
          host text not null,
          port integer not null check (port between 1 and 65535),
          saved_at bigint not null
        )`.execute(db)
    },
  },
}

const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
}

/** What {@link migrateToLatest} did: the names of the migrations it applied (empty if none). */
export interface MigrationOutcome {
  applied: string[]
}

/**
 * Brings the schema up to date; a no-op when it already is. The migration tables
 * (`kysely_migration`, `kysely_migration_lock`) live in the connection's current schema, so
 * several schemas in one database (as in the tests) never see each other's.
 */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<MigrationOutcome> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
  const schema = rows[0]?.schema
  if (schema === undefined) throw new Error('storage has no current schema (check search_path)')
  const migrator = new Migrator({ db, provider: migrationProvider, migrationTableSchema: schema })
  const { error, results = [] } = await migrator.migrateToLatest()
  if (error !== undefined) {
    const failed = results.find((result) => result.status === 'Error')
    throw new Error(`storage migration ${failed?.migrationName ?? '(setup)'} failed`, {
      cause: error,
    })
  }
  return { applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName) }
}
