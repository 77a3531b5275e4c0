// PostgresMailboxStore passes the SDK's mailbox store conformance suite on both backends;
// PostgresRecordStore and DhtContactsStore keep what they are given across a restart.
import {
  Identity,
  mailboxStoreConformance,
  RecordType,
  ReplayError,
  signRecord,
  toBytes,
  toHex,
  type Bytes,
  type ConformanceTest,
} from '@passage/sdk'
import t from 'tap'
import { DhtContactsStore } from '../src/db/dht-contacts-store.js'
import { PostgresMailboxStore } from '../src/db/postgres-mailbox-store.js'
import { PostgresRecordStore } from '../src/db/postgres-record-store.js'
import { backends } from './helpers/databases.js'

const T0 = 1_764_000_000_000

for (const backend of backends) {
  t.test(`${backend.name}: PostgresMailboxStore conformance`, async (t) => {
    mailboxStoreConformance(t as unknown as ConformanceTest, async (t) => {
      const database = await backend.openDatabase(t)
      return new PostgresMailboxStore(database.db)
    })
  })

  t.test(`${backend.name}: an acknowledged put survives a restart`, async (t) => {
    const database = await backend.openDatabase(t)
    const store = new PostgresMailboxStore(database.db)
    const envelope = {
      mailboxKey: new Uint8Array(20).fill(7) as Bytes,
      id: new Uint8Array(16).fill(9) as Bytes,
      data: toBytes(new TextEncoder().encode('ciphertext')),
      source: '127.0.0.1',
      storedAt: T0,
      expiresAt: T0 + 1000,
    }
    const quota = { maxCount: 10, maxBytes: 1000, maxSourceBytes: 1000 }
    t.equal(await store.put(envelope, quota, T0), 'stored')
    const again = await database.reopen()
    const got = await new PostgresMailboxStore(again.db).get(envelope.mailboxKey, envelope.id, T0)
    t.equal(got && toHex(got.data), toHex(envelope.data))
  })

  t.test(`${backend.name}: PostgresRecordStore keeps the highest seq`, async (t) => {
    const database = await backend.openDatabase(t)
    const store = new PostgresRecordStore(database.db)
    const alice = Identity.generate()
    const key = new Uint8Array(20).fill(1) as Bytes
    const record = (seq: number, payload = 1) =>
      signRecord(alice, {
        type: RecordType.announce,
        seq,
        timestamp: T0,
        payload: new Uint8Array([payload]) as Bytes,
      })
    const r5 = record(5)
    t.equal(await store.put(key, r5), 5)
    t.equal(await store.put(key, r5), 5, 'the same record again: a retry')
    await t.rejects(store.put(key, record(4)), ReplayError, 'lower seq')
    await t.rejects(store.put(key, record(5, 2)), ReplayError, 'same seq, other content')
    const r6 = record(6) // signatures are randomised: keep the one stored
    t.equal(await store.put(key, r6), 6)
    const again = new PostgresRecordStore((await database.reopen()).db)
    const got = await again.get(key)
    t.equal(got?.seq, 6)
    t.equal(got && toHex(got.signature), toHex(r6.signature))
    t.equal(await again.get(new Uint8Array(20) as Bytes), undefined)
  })

  t.test(`${backend.name}: DhtContactsStore replaces and reloads contacts`, async (t) => {
    const database = await backend.openDatabase(t)
    const store = new DhtContactsStore(database.db)
    t.same(await store.load(), [])
    const contact = (n: number) => ({
      id: new Uint8Array(20).fill(n) as Bytes,
      host: '127.0.0.1',
      port: 40_000 + n,
    })
    await store.save([contact(1), contact(2)], T0)
    await store.save([contact(2), contact(3)], T0 + 1)
    const loaded = await new DhtContactsStore((await database.reopen()).db).load()
    t.same(loaded.map((c) => [c.id[0], c.port]).sort(), [
      [2, 40_002],
      [3, 40_003],
    ])
  })
}
