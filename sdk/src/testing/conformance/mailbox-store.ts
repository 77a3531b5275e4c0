import { toHex, type Bytes } from '../../core/wire/bytes.js'
import {
  TOMBSTONE_TTL_MS,
  type MailboxQuota,
  type MailboxStore,
  type StoredEnvelope,
} from '../../core/mailbox/mailbox-store.js'

/** The subset of a tap `Test` the conformance suite uses (no tap dependency in the SDK). */
export interface ConformanceTest {
  // `any`: tap's overloaded `test` accepts no narrower callback type.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  test(name: string, fn: (t: any) => Promise<void>): unknown
  equal(found: unknown, wanted: unknown, ...message: [] | [string]): unknown
  same(found: unknown, wanted: unknown, ...message: [] | [string]): unknown
  ok(value: unknown, ...message: [] | [string]): unknown
  teardown(fn: () => unknown): unknown
}

const T0 = 1_764_000_000_000
const DAY_MS = 24 * 3600_000
const BIG: MailboxQuota = { maxCount: 10_000, maxBytes: 1 << 30, maxSourceBytes: 1 << 30 }

function key(n: number, len = 20): Bytes {
  return new Uint8Array(len).fill(n) as Bytes
}

function envelope(box: number, id: number, over: Partial<StoredEnvelope> = {}): StoredEnvelope {
  return {
    mailboxKey: key(box),
    id: key(id, 16),
    data: new Uint8Array([box, id, 1, 2, 3]) as Bytes,
    source: '203.0.113.7',
    storedAt: T0,
    expiresAt: T0 + 14 * DAY_MS,
    ...over,
  }
}

/**
 * The behaviour every {@link MailboxStore} must have, as tap subtests. `makeStore` returns a
 * fresh, empty store (and may register its own teardown on `t`).
 *
 * @example
 * mailboxStoreConformance(t, async () => new MemoryMailboxStore())
 */
export function mailboxStoreConformance(
  t: ConformanceTest,
  makeStore: (t: ConformanceTest) => Promise<MailboxStore>,
): void {
  t.test('put, has, get, list; a second put is a duplicate', async (t: ConformanceTest) => {
    const store = await makeStore(t)
    t.equal(await store.put(envelope(1, 1), BIG, T0), 'stored')
    t.equal(await store.put(envelope(1, 1), BIG, T0), 'duplicate')
    t.equal(await store.has(key(1), key(1, 16), T0), true)
    t.equal(await store.has(key(1), key(2, 16), T0), false)
    t.equal(await store.has(key(2), key(1, 16), T0), false, 'another mailbox')
    const got = await store.get(key(1), key(1, 16), T0)
    t.same(got && toHex(got.data), toHex(envelope(1, 1).data))
    t.equal(got?.expiresAt, T0 + 14 * DAY_MS)
    t.equal(got?.source, '203.0.113.7')
    t.same(await store.list(key(1), T0, 10), [
      { id: key(1, 16), size: 5, expiresAt: T0 + 14 * DAY_MS },
    ])
    t.same(await store.stats(T0), { envelopes: 1, bytes: 5 })
  })

  t.test('list is ordered by ID and pages with `after`', async (t: ConformanceTest) => {
    const store = await makeStore(t)
    for (const id of [9, 3, 7, 1, 5]) await store.put(envelope(1, id), BIG, T0)
    await store.put(envelope(2, 4), BIG, T0)
    const ids = async (after?: number, limit = 10) =>
      (await store.list(key(1), T0, limit, after === undefined ? undefined : key(after, 16))).map(
        (e) => e.id[0],
      )
    t.same(await ids(), [1, 3, 5, 7, 9])
    t.same(await ids(undefined, 2), [1, 3])
    t.same(await ids(3, 2), [5, 7])
    t.same(await ids(9), [])
    t.same(await ids(4), [5, 7, 9], 'after an ID that is not stored')
  })

  t.test(
    'expired envelopes are invisible at once and removed by expire()',
    async (t: ConformanceTest) => {
      const store = await makeStore(t)
      await store.put(envelope(1, 1, { expiresAt: T0 + 1000 }), BIG, T0)
      await store.put(envelope(1, 2), BIG, T0)
      const later = T0 + 1000
      t.equal(await store.has(key(1), key(1, 16), later), false)
      t.equal(await store.get(key(1), key(1, 16), later), undefined)
      t.same(
        (await store.list(key(1), later, 10)).map((e) => e.id[0]),
        [2],
      )
      t.same(await store.stats(later), { envelopes: 1, bytes: 5 })
      t.equal(await store.expire(later), 1)
      t.equal(await store.expire(later), 0)
      t.equal(await store.has(key(1), key(2, 16), later), true)
    },
  )

  t.test(
    'delete is idempotent, leaves a tombstone, touches only its mailbox',
    async (t: ConformanceTest) => {
      const store = await makeStore(t)
      await store.put(envelope(1, 1), BIG, T0)
      await store.put(envelope(1, 2), BIG, T0)
      await store.put(envelope(2, 1), BIG, T0)
      t.equal(await store.delete(key(1), [key(1, 16), key(3, 16)], T0), 1)
      t.equal(await store.delete(key(1), [key(1, 16)], T0), 0, 'again: nothing left')
      t.equal(await store.has(key(1), key(1, 16), T0), false)
      t.equal(await store.has(key(1), key(2, 16), T0), true)
      t.equal(await store.has(key(2), key(1, 16), T0), true, 'same ID in another mailbox stays')
      t.equal(await store.put(envelope(1, 1), BIG, T0 + 1), 'deleted', 'not stored again')
      t.equal(await store.put(envelope(1, 3), BIG, T0 + 1), 'deleted', 'deleted before it came')
      await store.expire(T0 + TOMBSTONE_TTL_MS + 1)
      t.equal(
        await store.put(
          envelope(1, 1, { expiresAt: T0 + TOMBSTONE_TTL_MS + DAY_MS }),
          BIG,
          T0 + TOMBSTONE_TTL_MS + 1,
        ),
        'stored',
        'after the tombstone expired',
      )
    },
  )

  t.test(
    'quotas: per mailbox count and bytes, per source bytes; expired do not count',
    async (t) => {
      const store = await makeStore(t)
      const quota: MailboxQuota = { maxCount: 3, maxBytes: 12, maxSourceBytes: 20 }
      t.equal(await store.put(envelope(1, 1), quota, T0), 'stored')
      t.equal(await store.put(envelope(1, 2), quota, T0), 'stored')
      t.equal(await store.put(envelope(1, 3), quota, T0), 'mailbox-full', '15 bytes > 12')
      const small = (id: number) => envelope(1, id, { data: new Uint8Array([id]) as Bytes })
      t.equal(await store.put(small(4), quota, T0), 'stored', '11 bytes, 3 envelopes')
      t.equal(await store.put(small(5), quota, T0), 'mailbox-full', '4 envelopes > 3')
      // Source quota spans mailboxes: 11 bytes so far from this source.
      t.equal(await store.put(envelope(2, 1), quota, T0), 'stored', '16 bytes')
      t.equal(await store.put(envelope(3, 1), quota, T0), 'source-full', '21 bytes > 20')
      t.equal(
        await store.put(envelope(3, 1, { source: '198.51.100.1' }), quota, T0),
        'stored',
        'another source',
      )
      // Once the mailbox's envelopes expire, there is room again.
      const later = T0 + 15 * DAY_MS
      t.equal(
        await store.put(envelope(1, 9, { expiresAt: later + DAY_MS }), quota, later),
        'stored',
      )
    },
  )

  t.test('concurrent puts respect the count quota exactly', async (t: ConformanceTest) => {
    const store = await makeStore(t)
    const quota: MailboxQuota = { maxCount: 10, maxBytes: 1 << 20, maxSourceBytes: 1 << 20 }
    const outcomes = await Promise.all(
      Array.from({ length: 25 }, (_, i) => store.put(envelope(1, i + 1), quota, T0)),
    )
    t.equal(outcomes.filter((o) => o === 'stored').length, 10)
    t.equal(outcomes.filter((o) => o === 'mailbox-full').length, 15)
    t.equal((await store.list(key(1), T0, 100)).length, 10)
  })

  t.test('mailboxes() lists keys that hold live envelopes', async (t: ConformanceTest) => {
    const store = await makeStore(t)
    await store.put(envelope(1, 1), BIG, T0)
    await store.put(envelope(2, 1, { expiresAt: T0 + 10 }), BIG, T0)
    await store.put(envelope(3, 1), BIG, T0)
    await store.delete(key(3), [key(1, 16)], T0)
    t.same((await store.mailboxes(T0 + 10, 100)).map((k) => k[0]).sort(), [1])
    t.equal((await store.mailboxes(T0, 1)).length, 1, 'limit')
  })

  t.test('envelopes up to 64 KiB keep their bytes', async (t: ConformanceTest) => {
    const store = await makeStore(t)
    const data = new Uint8Array(65_536).map((_, i) => (i * 31) & 0xff) as Bytes
    t.equal(await store.put(envelope(1, 1, { data }), BIG, T0), 'stored')
    const got = await store.get(key(1), key(1, 16), T0)
    t.equal(got && toHex(got.data), toHex(data))
    t.same(await store.list(key(1), T0, 1), [
      { id: key(1, 16), size: 65_536, expiresAt: T0 + 14 * DAY_MS },
    ])
  })
}
