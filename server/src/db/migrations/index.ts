import type { Migration } from 'kysely/migration'
import * as m0001 from './0001-announces-and-node-identity.js'
import * as m0002 from './0002-dht-mailboxes-records-contacts.js'
import * as m0003 from './0003-mailbox-short-critical-sections.js'
import * as m0004 from './0004-mailbox-store-envelopes-batch.js'
import * as m0005 from './0005-mailbox-delete-envelopes-batch.js'
import * as m0006 from './0006-storage-probe.js'

/**
 * Every migration, in order, one file each: plain SQL that runs unchanged on Postgres 15+ and
 * on PGlite (Postgres 18 in WASM). Never edit one that has shipped: add the next file and list
 * it here (the names are what `kysely_migration` records).
 */
export const migrations: Record<string, Migration> = {
  '0001_announces_and_node_identity': m0001,
  '0002_dht_mailboxes_records_contacts': m0002,
  '0003_mailbox_short_critical_sections': m0003,
  '0004_mailbox_store_envelopes_batch': m0004,
  '0005_mailbox_delete_envelopes_batch': m0005,
  '0006_storage_probe': m0006,
}
