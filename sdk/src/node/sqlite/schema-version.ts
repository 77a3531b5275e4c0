// The client database's newest migration, by name, without loading the migrations (Kysely):
// a read-only path (`readHomeContacts`) reads a home directly only when its schema is this one,
// and leaves any other to the client, which migrates it. A test holds it equal to the last
// name of `CLIENT_MIGRATIONS`.
import type BetterSqlite3 from 'better-sqlite3'

/** The name of the last entry of `CLIENT_MIGRATIONS`. */
export const LATEST_CLIENT_MIGRATION = '0011_group_mailboxes'

/** Whether the database's newest applied migration is {@link LATEST_CLIENT_MIGRATION}. */
export function isCurrentSchema(db: BetterSqlite3.Database): boolean {
  try {
    const row = db.prepare('select max(name) as name from kysely_migration').get() as
      { name: string | null } | undefined
    return row?.name === LATEST_CLIENT_MIGRATION
  } catch {
    return false // no migration table: not a home this code made
  }
}
