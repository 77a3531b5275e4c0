// PostgresMailboxStore passes the SDK's mailbox store conformance suite on both backends;
// PostgresRecordStore and DhtContactsStore keep what they are given across a restart.
import {
  Identity,
  RecordType,
  ReplayError,
  signRecord,
  toBytes,
  toHex,
  type Bytes,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { mailboxStoreConformance, type ConformanceTest } from '@passage/sdk/testing'
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

  t.test(`${backend.name}: concurrent puts and deletes keep quotas and totals exact`, async (t) => {
    const database = await backend.openDatabase(t)
    const store = new PostgresMailboxStore(database.db)
    const env = (box: number, id: number, source: string) => ({
      mailboxKey: new Uint8Array(20).fill(box) as Bytes,
      id: new Uint8Array(16).fill(id) as Bytes,
      data: new Uint8Array(10).fill(id) as Bytes,
      source,
      storedAt: T0,
      expiresAt: T0 + 10_000,
    })
    // Totals as counted, and as stored: they must agree once no operation is running.
    const totals = async () => {
      const [counters, sources, stored] = await Promise.all([
        database.db
          .selectFrom('mailbox_counters')
          .select((eb) => [
            eb.fn.sum<number>('envelopes').as('n'),
            eb.fn.sum<number>('bytes').as('b'),
          ])
          .executeTakeFirstOrThrow(),
        database.db
          .selectFrom('mailbox_source_bytes')
          .select((eb) => eb.fn.sum<number>('bytes').as('b'))
          .executeTakeFirstOrThrow(),
        store.stats(T0),
      ])
      t.same(
        [Number(counters.n ?? 0), Number(counters.b ?? 0), Number(sources.b ?? 0)],
        [stored.envelopes, stored.bytes, stored.bytes],
        'running totals = what is stored',
      )
      return stored
    }
    // One mailbox, many sources: the mailbox's count quota holds exactly.
    const quota = { maxCount: 10, maxBytes: 1000, maxSourceBytes: 1000 }
    const intoOne = await Promise.all(
      Array.from({ length: 25 }, (_, i) => store.put(env(1, i + 1, `192.0.2.${i}`), quota, T0)),
    )
    t.equal(intoOne.filter((o) => o === 'stored').length, 10)
    t.equal(intoOne.filter((o) => o === 'mailbox-full').length, 15)
    t.same(await totals(), { envelopes: 10, bytes: 100 })
    // The same envelope put 10 times at once: stored once, counted once.
    const same = await Promise.all(
      Array.from({ length: 10 }, () => store.put(env(2, 1, '192.0.2.200'), quota, T0)),
    )
    t.equal(same.filter((o) => o === 'stored').length, 1)
    t.equal(same.filter((o) => o === 'duplicate').length, 9)
    t.same(await totals(), { envelopes: 11, bytes: 110 })
    // Deletes racing puts from the same source: a put refused while the source is full may
    // only be refused, never let the source exceed its quota; the totals end exact.
    const tight = { maxCount: 100, maxBytes: 10_000, maxSourceBytes: 50 }
    const src = '203.0.113.5'
    for (let id = 1; id <= 5; id++) t.equal(await store.put(env(3, id, src), tight, T0), 'stored')
    const mixed = await Promise.all([
      ...Array.from({ length: 5 }, (_, i) =>
        store.delete(new Uint8Array(20).fill(3) as Bytes, [env(3, i + 1, src).id], T0),
      ),
      ...Array.from({ length: 10 }, (_, i) => store.put(env(4, i + 1, src), tight, T0)),
    ])
    t.same(mixed.slice(0, 5), [1, 1, 1, 1, 1])
    const bySource = await database.db
      .selectFrom('mailbox_envelopes')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), eb.lit(0)).as('b'))
      .where('source', '=', src)
      .executeTakeFirstOrThrow()
    t.ok(Number(bySource.b) <= 50, 'the source quota is never exceeded')
    await totals()
    // Deleted envelopes are not stored again, and their tombstones are not counted.
    t.equal(await store.put(env(3, 1, src), tight, T0), 'deleted')
    await totals()
  })

  t.test(`${backend.name}: concurrent puts share calls, each with its own outcome`, async (t) => {
    const database = await backend.openDatabase(t)
    const store = new PostgresMailboxStore(database.db)
    const env = (box: number, id: number, source: string, size = 10) => ({
      mailboxKey: new Uint8Array(20).fill(box) as Bytes,
      id: new Uint8Array(16).fill(id) as Bytes,
      data: new Uint8Array(size).fill(id) as Bytes,
      source,
      storedAt: T0,
      expiresAt: T0 + 10_000,
    })
    const quota = { maxCount: 2, maxBytes: 1000, maxSourceBytes: 100 }
    t.equal(await store.put(env(1, 1, '192.0.2.1'), quota, T0), 'stored')
    t.equal(await store.delete(new Uint8Array(20).fill(1) as Bytes, [env(1, 2, 'x').id], T0), 0)
    const shortLived = { ...env(5, 1, '192.0.2.5'), expiresAt: T0 + 10 }
    t.equal(await store.put(shortLived, quota, T0), 'stored')
    let calls = 0
    const execute = database.db.executeQuery.bind(database.db)
    database.db.executeQuery = ((query: Parameters<typeof execute>[0]) => {
      const text = 'sql' in query ? query.sql : query.compile().sql
      if (text.includes('mailbox_store_envelopes')) calls++
      return execute(query)
    }) as typeof database.db.executeQuery
    const outcomes = await Promise.all([
      // Four calls at once (each alone), then the rest wait and go out together.
      ...[10, 11, 12, 13].map((box) => store.put(env(box, 1, '192.0.2.9'), quota, T0)),
      store.put(env(1, 1, '192.0.2.1'), quota, T0), // stored before
      store.put(env(1, 2, '192.0.2.1'), quota, T0), // deleted before
      store.put(env(1, 3, '192.0.2.1'), quota, T0), // the mailbox's second: fits
      store.put(env(1, 4, '192.0.2.1'), quota, T0), // its third: full
      store.put(env(2, 1, '192.0.2.2', 95), quota, T0), // the source's 95 of 100 bytes
      store.put(env(3, 1, '192.0.2.2', 10), quota, T0), // over the source's quota
      store.put(env(4, 1, '192.0.2.3'), quota, T0), // the same envelope twice at once
      store.put(env(4, 1, '192.0.2.3'), quota, T0),
      store.put(env(5, 1, '192.0.2.5'), quota, T0 + 20), // its own now: the old one expired
    ])
    t.same(outcomes.slice(0, 10), [
      ...Array<string>(4).fill('stored'),
      'duplicate',
      'deleted',
      'stored',
      'mailbox-full',
      'stored',
      'source-full',
    ])
    // The two copies may go out in calls running at once: either one is the stored one.
    t.same(outcomes.slice(10, 12).sort(), ['duplicate', 'stored'], 'stored once')
    t.equal(outcomes[12], 'stored')
    t.ok(calls < outcomes.length, `${outcomes.length} puts in ${calls} calls`)
    t.same(await store.stats(T0), { envelopes: 9, bytes: 175 })
    const counters = await database.db
      .selectFrom('mailbox_counters')
      .select((eb) => [eb.fn.sum<number>('envelopes').as('n'), eb.fn.sum<number>('bytes').as('b')])
      .executeTakeFirstOrThrow()
    t.same([Number(counters.n), Number(counters.b)], [9, 175], 'running totals = what is stored')
  })

  t.test(`${backend.name}: concurrent deletes share calls, each with its own count`, async (t) => {
    const database = await backend.openDatabase(t)
    const store = new PostgresMailboxStore(database.db)
    const box = (n: number) => new Uint8Array(20).fill(n) as Bytes
    const id = (n: number) => new Uint8Array(16).fill(n) as Bytes
    const quota = { maxCount: 100, maxBytes: 10_000, maxSourceBytes: 10_000 }
    for (let b = 1; b <= 6; b++) {
      for (let i = 1; i <= 3; i++) {
        const envelope = {
          mailboxKey: box(b),
          id: id(i),
          data: new Uint8Array(10).fill(i) as Bytes,
          source: `192.0.2.${b}`,
          storedAt: T0,
          expiresAt: i === 3 ? T0 + 1 : T0 + 10_000, // the third expires first
        }
        t.equal(await store.put(envelope, quota, T0), 'stored')
      }
    }
    let calls = 0
    const execute = database.db.executeQuery.bind(database.db)
    database.db.executeQuery = ((query: Parameters<typeof execute>[0]) => {
      const text = 'sql' in query ? query.sql : query.compile().sql
      if (text.includes('mailbox_delete_batch')) calls++
      return execute(query)
    }) as typeof database.db.executeQuery
    const later = T0 + 5 // the third envelopes are expired by then: not counted as present
    const counts = await Promise.all([
      store.delete(box(1), [id(1)], T0), // two calls at once, each alone
      store.delete(box(2), [id(1), id(2)], T0),
      store.delete(box(3), [id(1), id(2), id(3)], later), // then these together
      store.delete(box(4), [id(9)], T0), // not there
      store.delete(box(5), [id(1), id(1)], T0), // the same ID twice
      store.delete(box(1), [id(1), id(2)], T0), // box 1 again: in a later call
      store.delete(box(6), [], T0),
    ])
    t.same(counts, [1, 2, 2, 0, 1, 1, 0])
    t.ok(calls < 6, `6 deletes in ${calls} calls`)
    t.equal(
      await store.put(
        {
          mailboxKey: box(4),
          id: id(9),
          data: new Uint8Array(1) as Bytes,
          source: 'x',
          storedAt: T0,
          expiresAt: T0 + 10,
        },
        quota,
        T0,
      ),
      'deleted',
      'a tombstone even where nothing was stored',
    )
    const stats = await store.stats(T0)
    t.same(stats, { envelopes: 18 - 1 - 2 - 3 - 1 - 1, bytes: 100 }, 'what is left')
    const counters = await database.db
      .selectFrom('mailbox_counters')
      .select((eb) => [eb.fn.sum<number>('envelopes').as('n'), eb.fn.sum<number>('bytes').as('b')])
      .executeTakeFirstOrThrow()
    const sources = await database.db
      .selectFrom('mailbox_source_bytes')
      .select((eb) => eb.fn.sum<number>('bytes').as('b'))
      .executeTakeFirstOrThrow()
    t.same([Number(counters.n), Number(counters.b), Number(sources.b)], [10, 100, 100])
  })

  t.test(`${backend.name}: concurrent gets share a SELECT, each with its own now`, async (t) => {
    const database = await backend.openDatabase(t)
    const store = new PostgresMailboxStore(database.db)
    const box = (n: number) => new Uint8Array(20).fill(n) as Bytes
    const id = (n: number) => new Uint8Array(16).fill(n) as Bytes
    const quota = { maxCount: 100, maxBytes: 10_000, maxSourceBytes: 10_000 }
    for (let b = 1; b <= 3; b++) {
      const envelope = {
        mailboxKey: box(b),
        id: id(b),
        data: new Uint8Array(b).fill(b) as Bytes,
        source: '192.0.2.1',
        storedAt: T0,
        expiresAt: T0 + 100,
      }
      t.equal(await store.put(envelope, quota, T0), 'stored')
    }
    let calls = 0
    const execute = database.db.executeQuery.bind(database.db)
    database.db.executeQuery = ((query: Parameters<typeof execute>[0]) => {
      const text = 'sql' in query ? query.sql : query.compile().sql
      if (text.includes('from unnest') && text.includes('join mailbox_envelopes')) calls++
      return execute(query)
    }) as typeof database.db.executeQuery
    const got = await Promise.all([
      store.get(box(1), id(1), T0), // two SELECTs at once, each alone
      store.get(box(2), id(2), T0),
      store.get(box(3), id(3), T0), // then these together
      store.get(box(3), id(3), T0 + 100), // expired at that time
      store.get(box(1), id(2), T0), // another mailbox's ID
      store.get(box(2), id(2), T0 + 99),
    ])
    t.same(
      got.map((e) => e && [e.data.byteLength, e.expiresAt]),
      [[1, T0 + 100], [2, T0 + 100], [3, T0 + 100], undefined, undefined, [2, T0 + 100]],
    )
    t.ok(calls < got.length, `${got.length} gets in ${calls} SELECTs`)
  })

  t.test(`${backend.name}: PostgresRecordStore keeps the highest seq`, async (t) => {
    const database = await backend.openDatabase(t)
    const store = new PostgresRecordStore(database.db)
    const alice = Identity.generate(libsignalKeys)
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
