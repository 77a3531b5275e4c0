import Database from 'better-sqlite3'
import t from 'tap'
import { Identity, ManualClock, fromUtf8, utf8 } from '@passage/sdk'
import {
  libsignalKeys,
  LibsignalSession,
  openClientStore,
  SqliteSignalStorage,
  type SqliteSignalTransaction,
  type SqliteClientStore,
  sqliteTransactionOf,
} from '@passage/sdk/node'

// Kysely queries throughout, and prepared statements on the raw handle inside transactions
// (what the client uses): the same behaviour, transactions included.
const variants = {
  kysely: (store: SqliteClientStore) => new SqliteSignalStorage(store.db),
  prepared: (store: SqliteClientStore) =>
    new SqliteSignalStorage(store.db, { ...(store.sqlite ? { sqlite: store.sqlite } : {}) }),
}

for (const [variant, storageOf] of Object.entries(variants)) {
  t.test(`${variant}: get, put, delete, list`, async (t) => {
    const store = await openClientStore(t.testdir())
    t.teardown(() => store.close())
    const storage = storageOf(store)
    t.equal(await storage.get('ns', 'a'), undefined)
    await storage.put('ns', 'a', Uint8Array.of(1, 2))
    await storage.put('ns', 'b', Uint8Array.of(3))
    await storage.put('ns', 'a', Uint8Array.of(9))
    await storage.put('other', 'a', Uint8Array.of(7))
    t.same([...(await storage.get('ns', 'a'))!], [9])
    t.same((await storage.list('ns')).sort(), ['a', 'b'])
    await storage.delete('ns', 'a')
    t.same(await storage.list('ns'), ['b'])
    t.same([...(await storage.get('other', 'a'))!], [7])
  })

  t.test(`${variant}: a transaction commits all at once or not at all`, async (t) => {
    const store = await openClientStore(t.testdir())
    t.teardown(() => store.close())
    const storage = storageOf(store)
    await storage.put('ns', 'keep', Uint8Array.of(1))
    await t.rejects(
      storage.transaction(async (tx) => {
        await tx.put('ns', 'x', Uint8Array.of(2))
        await tx.delete('ns', 'keep')
        t.same((await tx.list('ns')).sort(), ['x'], 'the view sees its own writes')
        // Nested transactions join the outer one.
        await tx.transaction((inner) => inner.put('ns', 'y', Uint8Array.of(3)))
        // Other client tables in the same SQLite transaction.
        await sqliteTransactionOf(tx)
          .insertInto('settings')
          .values({ key: 'k', value: '1', updated_at: 0 })
          .execute()
        throw new Error('boom')
      }),
      /boom/,
    )
    t.same(await storage.list('ns'), ['keep'], 'rolled back')
    t.equal(await store.getSetting('k'), undefined, 'the other table rolled back too')
    await storage.transaction(async (tx) => {
      await tx.put('ns', 'x', Uint8Array.of(2))
      await sqliteTransactionOf(tx)
        .insertInto('settings')
        .values({ key: 'k', value: '1', updated_at: 0 })
        .execute()
    })
    t.same((await storage.list('ns')).sort(), ['keep', 'x'])
    t.equal(await store.getSetting('k'), 1)
  })

  t.test(`${variant}: concurrent transactions do not interleave`, async (t) => {
    const store = await openClientStore(t.testdir())
    t.teardown(() => store.close())
    const storage = storageOf(store)
    await storage.put('ns', 'n', Uint8Array.of(0))
    const increment = () =>
      storage.transaction(async (tx) => {
        const v = (await tx.get('ns', 'n'))![0]!
        await new Promise((r) => setImmediate(r))
        await tx.put('ns', 'n', Uint8Array.of(v + 1))
      })
    await Promise.all(Array.from({ length: 20 }, increment))
    t.equal((await storage.get('ns', 'n'))![0], 20)
  })
}

t.test('Signal sessions survive closing and reopening the home', async (t) => {
  const clock = new ManualClock()
  const aliceHome = t.testdir()
  const bobHome = `${aliceHome}-bob`
  t.teardown(async () => {
    const { rmSync } = await import('node:fs')
    rmSync(bobHome, { recursive: true, force: true })
  })
  const aliceId = Identity.generate(libsignalKeys)
  const bobId = Identity.generate(libsignalKeys)
  const open = async (home: string, identity: Identity) => {
    const store = await openClientStore(home)
    const session = await LibsignalSession.open({
      identity,
      storage: new SqliteSignalStorage(store.db),
      clock,
    })
    return { store, session }
  }
  let alice = await open(aliceHome, aliceId)
  let bob = await open(bobHome, bobId)
  await bob.session.generatePreKeys({ oneTimeCount: 5 })
  const bundle = await bob.session.createPreKeyBundle()
  const first = await alice.session.seal(bob.session.address, utf8('one'), { bundle })
  t.equal(fromUtf8((await bob.session.openSealed(first)).plaintext), 'one')
  await alice.store.close()
  await bob.store.close()
  alice = await open(aliceHome, aliceId)
  bob = await open(bobHome, bobId)
  t.teardown(() => alice.store.close())
  t.teardown(() => bob.store.close())
  t.equal(await bob.session.countOneTimePreKeys(), 4, 'one one-time pre-key used')
  const reply = await bob.session.seal(alice.session.address, utf8('two'))
  t.equal(fromUtf8((await alice.session.openSealed(reply)).plaintext), 'two')
  const again = await alice.session.seal(bob.session.address, utf8('three'))
  t.equal(fromUtf8((await bob.session.openSealed(again)).plaintext), 'three')
})

t.test(
  'group commit: concurrent transactions share one COMMIT; a throw undoes only its own',
  async (t) => {
    const store = await openClientStore(t.testdir())
    t.teardown(() => store.close())
    const storage = new SqliteSignalStorage(store.db, { sqlite: store.sqlite! })
    // A second connection sees only committed data; data_version counts others' commits.
    const other = new Database(store.path, { readonly: true })
    t.teardown(() => other.close())
    const commits = () => other.pragma('data_version', { simple: true }) as number
    const committed = (key: string) =>
      other.prepare('select 1 from signal_kv where namespace = ? and key = ?').get('ns', key) !==
      undefined
    const before = commits()
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        storage.transaction(async (tx) => {
          await tx.put('ns', `k${i}`, Uint8Array.of(i))
          if (i === 7) throw new Error('boom')
          return i
        }),
      ),
    )
    t.equal(commits() - before, 1, 'one COMMIT for the whole group')
    t.equal(results.filter((r) => r.status === 'rejected').length, 1)
    t.notOk(committed('k7'), 'the failed one rolled back')
    t.ok(committed('k6') && committed('k8') && committed('k19'), 'the others committed')

    // Each call resolves only once its COMMIT is done: another connection sees it at once.
    for (let i = 0; i < 3; i++) {
      const key = `late${i}`
      await storage.transaction((tx) => tx.put('ns', key, Uint8Array.of(1)))
      t.ok(committed(key), `${key} is durable when its call resolves`)
    }
  },
)

t.test(
  'group commit: a later transaction never sees what an earlier one rolled back',
  async (t) => {
    const store = await openClientStore(t.testdir())
    t.teardown(() => store.close())
    const storage = new SqliteSignalStorage(store.db, { sqlite: store.sqlite! })
    await storage.put('ns', 'x', Uint8Array.of(1))
    const seen: Array<number | undefined> = []
    const results = await Promise.allSettled([
      storage.transaction(async (tx) => {
        seen.push((await tx.get('ns', 'x'))?.[0]) // read (and remembered) before the change
        await tx.put('ns', 'x', Uint8Array.of(2))
        await tx.put('ns', 'y', Uint8Array.of(2))
        throw new Error('boom')
      }),
      storage.transaction(async (tx) => {
        seen.push((await tx.get('ns', 'x'))?.[0])
        seen.push((await tx.get('ns', 'y'))?.[0])
        await tx.delete('ns', 'x')
      }),
      storage.transaction(async (tx) => {
        seen.push((await tx.get('ns', 'x'))?.[0])
      }),
    ])
    t.same(
      results.map((r) => r.status),
      ['rejected', 'fulfilled', 'fulfilled'],
    )
    t.same(seen, [1, 1, undefined, undefined], 'rolled-back writes invisible; own writes visible')
    t.equal(await storage.get('ns', 'x'), undefined)
  },
)

t.test(
  'group commit: each key goes to SQLite once per group, at COMMIT; live values are serialized once',
  async (t) => {
    const store = await openClientStore(t.testdir())
    t.teardown(() => store.close())
    const sqlite = store.sqlite!
    const storage = new SqliteSignalStorage(store.db, { sqlite })
    await storage.put('ns', 'gone', Uint8Array.of(1))
    const changes = () => (sqlite.prepare('select total_changes() as n').get() as { n: number }).n
    const before = changes()
    let serialized = 0
    const live = (n: number) => ({
      object: { n },
      serialize: () => {
        serialized++
        return Uint8Array.of(n)
      },
    })
    const seen: unknown[] = []
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        storage.transaction(async (tx) => {
          const view = tx as SqliteSignalTransaction
          seen.push((view.getLive('ns', 'session') as { n: number } | undefined)?.n)
          await view.putLive('ns', 'session', live(i))
          await tx.put('ns', 'plain', Uint8Array.of(i))
          if (i === 3) await tx.delete('ns', 'gone')
          if (i === 7) {
            await tx.put('ns', 'rolled-back', Uint8Array.of(1))
            throw new Error('boom')
          }
          t.same(
            (await tx.list('ns')).sort(),
            i < 3 ? ['gone', 'plain', 'session'] : ['plain', 'session'],
            'list sees the pending writes',
          )
        }),
      ),
    )
    t.equal(results.filter((r) => r.status === 'rejected').length, 1)
    t.same(seen, [undefined, 0, 1, 2, 3, 4, 5, 6, 6, 8], 'each item sees the last kept live value')
    t.equal(changes() - before, 3, 'one write per key: session, plain, the delete')
    t.equal(serialized, 1, 'the live value was serialized once, the last one')
    t.same([...(await storage.get('ns', 'session'))!], [9])
    t.same([...(await storage.get('ns', 'plain'))!], [9])
    t.equal(await storage.get('ns', 'gone'), undefined)
    t.equal(await storage.get('ns', 'rolled-back'), undefined, 'the failed item wrote nothing')
  },
)
