import { type Clock, Identity, systemClock } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import type { Kysely } from 'kysely'
import type { Database } from './schema.js'

/**
 * The server's own identity, kept in the `node_identity` table: created on the first start,
 * the same on every start after. Two servers starting at once on one database agree on one
 * identity (the insert loses quietly and the stored one is read back).
 */
export async function loadOrCreateNodeIdentity(
  db: Kysely<Database>,
  clock: Clock = systemClock,
): Promise<Identity> {
  const existing = await readIdentity(db)
  if (existing) return existing
  await db
    .insertInto('node_identity')
    .values({
      id: 1,
      key_pair: Identity.generate(libsignalKeys).serialize(),
      created_at: clock.now(),
    })
    .onConflict((conflict) => conflict.column('id').doNothing())
    .execute()
  const stored = await readIdentity(db)
  if (!stored) throw new Error('node identity vanished right after it was stored')
  return stored
}

async function readIdentity(db: Kysely<Database>): Promise<Identity | undefined> {
  const row = await db
    .selectFrom('node_identity')
    .select('key_pair')
    .where('id', '=', 1)
    .executeTakeFirst()
  return row && Identity.deserialize(libsignalKeys, row.key_pair)
}
