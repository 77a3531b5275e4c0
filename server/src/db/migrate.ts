import { type Kysely, sql } from 'kysely'
import { type MigrationProvider, Migrator } from 'kysely/migration'
import { migrations } from './migrations/index.js'

const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
}

/** What {@link migrateToLatest} did: the names of the migrations it applied (empty if none). */
export interface MigrationOutcome {
  applied: string[]
}

/** Retries of the migrator's set-up after a transient catalog error: 3. */
const SETUP_RETRIES = 3

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
  let { error, results = [] } = await migrator.migrateToLatest()
  // Kysely's set-up reads the catalog of every schema; a schema dropped meanwhile by another
  // process (test teardown, an operator) can fail that read. Nothing was applied then
  // (`results` is empty): try the set-up again, a bounded number of times.
  for (
    let attempt = 1;
    error !== undefined && results.length === 0 && attempt <= SETUP_RETRIES;
    attempt++
  ) {
    ;({ error, results = [] } = await migrator.migrateToLatest())
  }
  if (error !== undefined) {
    const failed = results.find((result) => result.status === 'Error')
    throw new Error(`storage migration ${failed?.migrationName ?? '(setup)'} failed`, {
      cause: error,
    })
  }
  return { applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName) }
}
