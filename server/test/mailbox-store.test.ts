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

  t.test(`${backend.name}: running totals follow puts, deletes and expiry`, async (t) => {
    const database = await backend.openDatabase(t)
    const store = new PostgresMailboxStore(database.db)
    const env = (box: number, id: number, source: string, expiresAt = T0 + 10_000) => ({
      mailboxKey: new Uint8Array(20).fill(box) as Bytes,
      id: new Uint8Array(16).fill(id) as Bytes,
      data: new Uint8Array(10).fill(id) as Bytes,
      source,
      storedAt: T0,
      expiresAt,
    })
    const quota = { maxCount: 100, maxBytes: 1000, maxSourceBytes: 100 }
    // Concurrent puts from one source into many mailboxes: the source quota holds exactly.
    const outcomes = await Promise.all(
      Array.from({ length: 25 }, (_, i) => store.put(env(i + 1, 1, '192.0.2.1'), quota, T0)),
    )
    t.equal(outcomes.filter((o) => o === 'stored').length, 10, '10 × 10 bytes = 100')
    t.equal(outcomes.filter((o) => o === 'source-full').length, 15)
    const totals = async () => {
      const boxes = await database.db
        .selectFrom('mailbox_counters')
        .select((eb) => [
          eb.fn.sum<number>('envelopes').as('n'),
          eb.fn.sum<number>('bytes').as('b'),
        ])
        .executeTakeFirstOrThrow()
      const sources = await database.db
        .selectFrom('mailbox_source_bytes')
        .select((eb) => eb.fn.sum<number>('bytes').as('b'))
        .executeTakeFirstOrThrow()
      return [Number(boxes.n ?? 0), Number(boxes.b ?? 0), Number(sources.b ?? 0)]
    }
    t.same(await totals(), [10, 100, 100])
    const stored = outcomes.flatMap((o, i) => (o === 'stored' ? [i + 1] : []))
    const first = stored[0]!
    t.equal(
      await store.delete(
        new Uint8Array(20).fill(first) as Bytes,
        [new Uint8Array(16).fill(1) as Bytes],
        T0,
      ),
      1,
    )
    t.same(await totals(), [9, 90, 90], 'a delete lowers them')
    // Short-lived envelopes from another source: once expired (before expire() runs) the
    // running total still counts them, and the exact count lets new puts in.
    const other = '198.51.100.9'
    for (let id = 1; id <= 10; id++) {
      t.equal(await store.put(env(200, id, other, T0 + 1), quota, T0), 'stored')
    }
    t.equal(await store.put(env(201, 1, other), quota, T0), 'source-full')
    t.equal(await store.put(env(201, 1, other), quota, T0 + 1), 'stored', 'expired do not count')
    t.equal(await store.expire(T0 + 1), 10)
    t.same(await totals(), [10, 100, 100], 'expire() lowers them')
    // An expired envelope replaced by the same ID before expire() removed it.
    t.equal(await store.put(env(202, 1, other, T0 + 5), quota, T0 + 1), 'stored')
    t.equal(await store.put(env(202, 1, other), quota, T0 + 5), 'stored', 'replaced')
    t.same(await totals(), [11, 110, 110])
    t.same(await store.stats(T0 + 5), { envelopes: 11, bytes: 110 })
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
