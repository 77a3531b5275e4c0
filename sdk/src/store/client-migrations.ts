import { sql, type Kysely, type Migration } from 'kysely'

/** The client database's tables, as Kysely sees them. */
export interface ClientDatabase {
  identity: {
    /** Always 1: a home holds exactly one identity. */
    slot: number
    /** `Identity.serialize()`: the secret key pair. */
    key_pair: Uint8Array
    text_id: string
    name: string | null
    created_at: number
  }
  settings: {
    key: string
    /** JSON. */
    value: string
    updated_at: number
  }
}

/**
 * The client database's migrations, in order. Append only: a released migration never
 * changes, a new one is added under the next name.
 */
export const CLIENT_MIGRATIONS: Record<string, Migration> = {
  '0001_identity_settings': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('identity')
        .addColumn('slot', 'integer', (c) => c.primaryKey().check(sql`slot = 1`))
        .addColumn('key_pair', 'blob', (c) => c.notNull())
        .addColumn('text_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'integer', (c) => c.notNull())
        .execute()
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('settings').execute()
      await db.schema.dropTable('identity').execute()
    },
  },
}
