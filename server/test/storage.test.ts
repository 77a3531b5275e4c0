import {
  type AnnounceJson,
  type Identity as IdentityType,
  Identity,
  announceToJson,
  compareDistance,
  createAnnounce,
  fromHex,
  nodeIdToHex,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'kysely'
import t from 'tap'
import type { StoredAnnounce } from '../src/db/announce-store.js'
import { type DatabaseKind, openDatabase, type QueryOperation } from '../src/db/database.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { migrations } from '../src/db/migrations/index.js'
import { loadOrCreateNodeIdentity } from '../src/db/node-identity-store.js'
import { PostgresAnnounceStore } from '../src/db/postgres-announce-store.js'
import { backends } from './helpers/databases.js'

const NOW = 1_764_000_000_000
const TTL_MS = 600_000 // the default announce lifetime
const SERVER = Identity.generate(libsignalKeys)

function announceOf(identity: IdentityType, seq: number, port = 4000): AnnounceJson {
  return announceToJson(
    createAnnounce(identity, {
      audience: SERVER.id,
      addresses: [{ transport: 'udp', host: '', port }],
      seq,
      timestamp: NOW,
    }),
  )
}

function entryOf(
  identity: IdentityType,
  seq: number,
  { expiresAt = NOW + TTL_MS, port = 51_000, idHex = nodeIdToHex(identity.id) } = {},
): StoredAnnounce {
  return {
    announce: announceOf(identity, seq),
    idHex,
    observed: { host: '203.0.113.7', port },
    expiresAt,
  }
}

for (const backend of backends) {
  t.test(backend.name, async (t) => {
    t.test(
      'own storage: migrations at first open; data and identity survive a restart',
      async (t) => {
        const storage = await backend.prepare(t)
        const database = await storage.open()
        t.equal(database.kind, backend.name)
        const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(
          database.db,
        )
        t.same(
          rows.map((row) => row.name).sort(),
          Object.keys(migrations).sort(),
          'the first open applied every migration',
        )
        t.equal(rows[0]?.name, '0001_announces_and_node_identity')
        t.same(await migrateToLatest(database.db), { applied: [] }, 'a second run applies nothing')

        const store = new PostgresAnnounceStore(database.db)
        const alice = entryOf(Identity.generate(libsignalKeys), 3)
        const dying = entryOf(Identity.generate(libsignalKeys), 3, { expiresAt: NOW + 1 })
        await store.put(alice, NOW)
        await store.put(dying, NOW)
        const [identity, racing] = await Promise.all([
          loadOrCreateNodeIdentity(database.db),
          loadOrCreateNodeIdentity(database.db),
        ])
        t.same(racing.publicKey, identity.publicKey, 'two racing starts agree on one identity')
        t.same((await loadOrCreateNodeIdentity(database.db)).publicKey, identity.publicKey)

        const restarted = await database.reopen()
        t.same(await migrateToLatest(restarted.db), { applied: [] }, 'reopening applies nothing')
        const again = new PostgresAnnounceStore(restarted.db)
        t.same(await again.get(alice.idHex, NOW + 1), alice, 'a live announce survives')
        t.equal(await again.countLive(NOW + 1), 1)
        t.equal(await again.put(alice, NOW + 1), 'replay', 'replay protection survives too')
        const reloaded = await loadOrCreateNodeIdentity(restarted.db)
        t.same(reloaded.serialize(), identity.serialize(), 'the same identity, private key too')
        const { rows: timeouts } = await sql<{
          timeout: string
        }>`select current_setting('statement_timeout') as timeout`.execute(restarted.db)
        t.equal(
          timeouts[0]?.timeout,
          backend.name === 'postgres' ? '10s' : '0',
          'statement timeout',
        )
      },
    )

    t.test('put and get round-trip the signed announce and what was observed', async (t) => {
      const database = await backend.openDatabase(t)
      const store = new PostgresAnnounceStore(database.db)
      const alice = Identity.generate(libsignalKeys)
      const entry = entryOf(alice, 7)
      t.equal(await store.put(entry, NOW), 'stored')
      t.same(await store.get(entry.idHex, NOW), entry)
      const got = await store.get(entry.idHex, NOW)
      t.equal(typeof got?.expiresAt, 'number', 'bigint columns come back as numbers')
      t.equal(typeof got?.announce.seq, 'number')
      t.equal(await store.get(nodeIdToHex(Identity.generate(libsignalKeys).id), NOW), undefined)
    })

    t.test('replays are refused, a higher seq replaces', async (t) => {
      const database = await backend.openDatabase(t)
      const store = new PostgresAnnounceStore(database.db)
      const alice = Identity.generate(libsignalKeys)
      const first = entryOf(alice, 5, { port: 1 })
      t.equal(await store.put(first, NOW), 'stored')
      t.equal(await store.put(entryOf(alice, 5, { port: 2 }), NOW), 'replay', 'same seq')
      t.equal(await store.put(entryOf(alice, 4, { port: 3 }), NOW), 'replay', 'lower seq')
      t.same(await store.get(first.idHex, NOW), first, 'refused puts change nothing')
      const next = entryOf(alice, 6, { port: 4 })
      t.equal(await store.put(next, NOW + 1), 'stored', 'higher seq')
      t.same(await store.get(first.idHex, NOW + 1), next)
      t.equal(await store.countLive(NOW + 1), 1, 'still one row per ID')
    })

    t.test('put without now uses the injected clock', async (t) => {
      const database = await backend.openDatabase(t)
      let now = NOW
      const store = new PostgresAnnounceStore(database.db, { clock: { now: () => now } })
      const alice = Identity.generate(libsignalKeys)
      t.equal(await store.put(entryOf(alice, 9, { expiresAt: NOW + 10 })), 'stored')
      t.equal(await store.put(entryOf(alice, 9)), 'replay')
      now = NOW + 10
      t.equal(await store.put(entryOf(alice, 9)), 'stored', 'expired by the clock')
    })

    t.test('expired entries are invisible and can be replaced by any seq', async (t) => {
      const database = await backend.openDatabase(t)
      const store = new PostgresAnnounceStore(database.db)
      const alice = Identity.generate(libsignalKeys)
      const bob = Identity.generate(libsignalKeys)
      const old = entryOf(alice, 10, { expiresAt: NOW + 1_000 })
      await store.put(old, NOW)
      await store.put(entryOf(bob, 1, { expiresAt: NOW + 5_000 }), NOW)
      const later = NOW + 1_000 // the moment alice's announce dies
      t.same(await store.get(old.idHex, later - 1), old, 'alive a millisecond before')
      t.equal(await store.get(old.idHex, later), undefined)
      t.equal(await store.countLive(later), 1)
      const near = await store.closest(old.idHex, 10, later)
      t.same(
        near.map((entry) => entry.idHex),
        [nodeIdToHex(bob.id)],
      )
      const sample = await store.sample(10, later)
      t.same(
        sample.map((entry) => entry.idHex),
        [nodeIdToHex(bob.id)],
      )
      const fresh = entryOf(alice, 3, { expiresAt: later + TTL_MS })
      t.equal(await store.put(fresh, later), 'stored', 'a lower seq after expiry is accepted')
      t.same(await store.get(old.idHex, later), fresh)
      t.equal(await store.countLive(later), 2)
    })

    t.test('sweep deletes only expired entries', async (t) => {
      const database = await backend.openDatabase(t)
      const store = new PostgresAnnounceStore(database.db)
      const lifetimes = [100, 200, 300, 400, 500, 600]
      const entries = lifetimes.map((ms) =>
        entryOf(Identity.generate(libsignalKeys), 1, { expiresAt: NOW + ms }),
      )
      for (const entry of entries) t.equal(await store.put(entry, NOW), 'stored')
      t.equal(await store.sweep(NOW + 300), 3, 'the three that died at or before +300 ms')
      t.equal(await store.sweep(NOW + 300), 0, 'nothing left to sweep')
      t.equal(await store.countLive(NOW), 3, 'sweep removed rows, it did not hide them')
      for (const entry of entries.slice(3)) t.same(await store.get(entry.idHex, NOW + 300), entry)
      t.equal(await store.sweep(NOW + 10_000), 3)
      t.equal(await store.countLive(NOW), 0)
    })

    t.test('closest returns true XOR order', async (t) => {
      const database = await backend.openDatabase(t)
      const store = new PostgresAnnounceStore(database.db)
      const someone = Identity.generate(libsignalKeys)
      const near = randomBytes(20)
      const nearHex = nodeIdToHex(near)
      const flipLast = Uint8Array.from(near)
      flipLast[19] = (flipLast[19] ?? 0) ^ 1
      const flipFirst = Uint8Array.from(near)
      flipFirst[0] = (flipFirst[0] ?? 0) ^ 0x80
      // 50 random IDs plus the edge cases: the target itself, one bit away at either end,
      // all zeros and all ones.
      const ids = [
        ...Array.from({ length: 50 }, () => nodeIdToHex(randomBytes(20))),
        nearHex,
        nodeIdToHex(flipLast),
        nodeIdToHex(flipFirst),
        '00'.repeat(20),
        'ff'.repeat(20),
      ]
      for (const idHex of ids) await store.put(entryOf(someone, 1, { idHex }), NOW)
      const expected = [...ids].sort((a, b) => compareDistance(near, fromHex(a), fromHex(b)))
      const all = await store.closest(nearHex, 100, NOW)
      t.same(
        all.map((entry) => entry.idHex),
        expected,
      )
      t.equal(all[0]?.idHex, nearHex, 'the target itself first')
      t.equal(all[1]?.idHex, nodeIdToHex(flipLast), 'then the ID one low bit away')
      const top = await store.closest(nearHex, 10, NOW)
      t.same(
        top.map((entry) => entry.idHex),
        expected.slice(0, 10),
      )
      await t.rejects(store.closest('not hex', 10, NOW), RangeError)
    })

    t.test('closest stays exact while it narrows to a prefix bucket', async (t) => {
      const database = await backend.openDatabase(t)
      const store = new PostgresAnnounceStore(database.db)
      const announce = announceOf(Identity.generate(libsignalKeys), 1)
      const dense = randomBytes(20).toString('hex')
      // 600 random IDs, 40 sharing 3 hex digits with `dense`, a quarter of them all expired.
      const ids = [
        ...Array.from({ length: 600 }, () => randomBytes(20).toString('hex')),
        ...Array.from(
          { length: 40 },
          () => dense.slice(0, 3) + randomBytes(20).toString('hex').slice(3),
        ),
      ]
      const rows = ids.map((idHex, i) => ({
        id_hex: idHex,
        seq: 1,
        timestamp: NOW,
        announce: JSON.stringify(announce),
        observed_host: '203.0.113.7',
        observed_port: 1,
        expires_at: i % 4 === 0 ? NOW : NOW + TTL_MS,
      }))
      await database.db.insertInto('announces').values(rows).execute()
      const live = ids.filter((_, i) => i % 4 !== 0)
      const targets = [
        dense,
        ...Array.from({ length: 12 }, () => randomBytes(20).toString('hex')),
        live[7] ?? '',
        dense,
        '00'.repeat(20),
        'ff'.repeat(20),
      ]
      for (const target of targets) {
        for (const limit of [1, 5, 20, 100]) {
          const near = fromHex(target)
          const expected = [...live]
            .sort((a, b) => compareDistance(near, fromHex(a), fromHex(b)))
            .slice(0, limit)
          const got = await store.closest(target, limit, NOW)
          t.same(
            got.map((entry) => entry.idHex),
            expected,
            `${target.slice(0, 6)}… limit ${limit}`,
          )
        }
      }
      t.equal((await store.closest(dense, 1000, NOW)).length, live.length, 'never more than live')
    })

    t.test('sample returns distinct live entries, at most limit', async (t) => {
      const database = await backend.openDatabase(t)
      const store = new PostgresAnnounceStore(database.db)
      const entries = Array.from({ length: 30 }, () => entryOf(Identity.generate(libsignalKeys), 1))
      for (const entry of entries) await store.put(entry, NOW)
      const sample = await store.sample(20, NOW)
      t.equal(sample.length, 20)
      t.equal(new Set(sample.map((entry) => entry.idHex)).size, 20, 'no duplicates')
      const known = new Set(entries.map((entry) => entry.idHex))
      t.ok(
        sample.every((entry) => known.has(entry.idHex)),
        'only stored entries',
      )
      t.equal((await store.sample(100, NOW)).length, 30)
      const seen = new Set<string>()
      // A read serves a second of calls: a second and a bit apart, each reads anew.
      for (let call = 0; call < 200 && seen.size < entries.length; call++) {
        for (const entry of await store.sample(5, NOW + call * 1_001)) seen.add(entry.idHex)
      }
      t.equal(seen.size, entries.length, 'every live entry turns up in some sample')
    })

    t.test('samples within a second share one read; each call gets its own part', async (t) => {
      const database = await backend.openDatabase(t)
      let reads = 0
      const counted = database.db.withPlugin({
        transformQuery: (args) => args.node,
        transformResult: async (args) => {
          reads++
          return args.result
        },
      })
      const store = new PostgresAnnounceStore(counted)
      const entries = Array.from({ length: 60 }, (_, i) =>
        entryOf(Identity.generate(libsignalKeys), 1, {
          expiresAt: i < 30 ? NOW + 500 : NOW + TTL_MS,
        }),
      )
      for (const entry of entries) await store.put(entry, NOW)
      reads = 0
      const concurrent = await Promise.all(Array.from({ length: 5 }, () => store.sample(5, NOW)))
      const samples = [...concurrent]
      for (let ms = 100; ms <= 1_000; ms += 100) samples.push(await store.sample(5, NOW + ms))
      t.equal(reads, 1, '15 calls within a second: one read')
      t.ok(
        samples.every((sample) => sample.length === 5 && new Set(sample).size === 5),
        'each call: 5 distinct entries',
      )
      t.ok(
        samples.slice(9).every((sample) => sample.every((entry) => entry.expiresAt > NOW + 500)),
        'what died since the read is not handed out',
      )
      t.ok(
        new Set(samples.map((sample) => sample.map((entry) => entry.idHex).join())).size > 1,
        'calls get different parts of it',
      )
      await store.sample(5, NOW + 1_001)
      t.equal(reads, 2, 'a second and a bit later: a new read')
      await store.sample(8, NOW + 1_001)
      t.equal(reads, 3, 'another limit: its own read')
    })

    t.test('a sample that held every live entry is read again after a put', async (t) => {
      const database = await backend.openDatabase(t)
      const store = new PostgresAnnounceStore(database.db)
      const first = entryOf(Identity.generate(libsignalKeys), 1)
      await store.put(first, NOW)
      t.same(
        (await store.sample(20, NOW)).map((entry) => entry.idHex),
        [first.idHex],
      )
      const second = entryOf(Identity.generate(libsignalKeys), 1)
      await store.put(second, NOW)
      t.same(
        new Set((await store.sample(20, NOW + 1)).map((entry) => entry.idHex)),
        new Set([first.idHex, second.idHex]),
        'a small network: the newcomer is in the next sample, not a second later',
      )
    })

    t.test('sample skips expired entries and still fills up', async (t) => {
      const database = await backend.openDatabase(t)
      const store = new PostgresAnnounceStore(database.db)
      const entries = Array.from({ length: 40 }, (_, i) =>
        entryOf(Identity.generate(libsignalKeys), 1, {
          expiresAt: i % 4 === 0 ? NOW + TTL_MS : NOW,
        }),
      )
      for (const entry of entries) await store.put(entry, NOW - 1)
      const live = new Set(entries.filter((e) => e.expiresAt > NOW).map((e) => e.idHex))
      for (let call = 0; call < 20; call++) {
        const sample = await store.sample(8, NOW)
        t.equal(sample.length, 8)
        t.ok(
          sample.every((entry) => live.has(entry.idHex)),
          'live ones only',
        )
      }
      t.equal((await store.sample(20, NOW)).length, 10, 'all ten live ones, no more')
    })

    t.test('concurrent puts of the same seq: exactly one is stored', async (t) => {
      const database = await backend.openDatabase(t)
      const store = new PostgresAnnounceStore(database.db)
      for (let round = 0; round < 10; round++) {
        const alice = Identity.generate(libsignalKeys)
        // Round 0..4: a new ID (racing inserts); 5..9: an existing ID (racing updates).
        if (round >= 5) await store.put(entryOf(alice, 1), NOW)
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, port) => store.put(entryOf(alice, 2, { port }), NOW)),
        )
        t.equal(results.filter((result) => result === 'stored').length, 1, `round ${round}`)
        const kept = await store.get(nodeIdToHex(alice.id), NOW)
        t.equal(kept?.announce.seq, 2)
      }
    })

    t.test('a restart of the shared test engine keeps every test database', async (t) => {
      const first = await backend.openDatabase(t)
      const other = await backend.openDatabase(t)
      const alice = entryOf(Identity.generate(libsignalKeys), 1)
      const bob = entryOf(Identity.generate(libsignalKeys), 1)
      await new PostgresAnnounceStore(first.db).put(alice, NOW)
      await new PostgresAnnounceStore(other.db).put(bob, NOW)
      const restarted = await first.reopen()
      t.same(await new PostgresAnnounceStore(restarted.db).get(alice.idHex, NOW), alice)
      t.equal(await new PostgresAnnounceStore(restarted.db).countLive(NOW), 1, 'its own only')
      t.same(await new PostgresAnnounceStore(other.db).get(bob.idHex, NOW), bob)
      t.equal(await new PostgresAnnounceStore(other.db).get(alice.idHex, NOW), undefined)
    })

    t.test('transactions commit and roll back', async (t) => {
      const database = await backend.openDatabase(t)
      const store = new PostgresAnnounceStore(database.db)
      const alice = entryOf(Identity.generate(libsignalKeys), 1)
      const bob = entryOf(Identity.generate(libsignalKeys), 1)
      await database.db.transaction().execute(async (trx) => {
        await new PostgresAnnounceStore(trx).put(alice, NOW)
      })
      await t.rejects(
        database.db.transaction().execute(async (trx) => {
          await new PostgresAnnounceStore(trx).put(bob, NOW)
          throw new Error('abort')
        }),
        { message: 'abort' },
      )
      t.same(await store.get(alice.idHex, NOW), alice)
      t.equal(await store.get(bob.idHex, NOW), undefined, 'rolled back')
      // Queries issued while a transaction is open wait for it (PGlite) or run beside it
      // (Postgres); either way they never see its uncommitted rows.
      let releaseTrx!: () => void
      const held = new Promise<void>((resolve) => (releaseTrx = resolve))
      const trxDone = database.db.transaction().execute(async (trx) => {
        await new PostgresAnnounceStore(trx).put(bob, NOW)
        await held
        throw new Error('abort again')
      })
      const outside = store.countLive(NOW)
      releaseTrx()
      await t.rejects(trxDone)
      t.equal(await outside, 1)
    })

    t.test('onQuery observes every query; ping and close', async (t) => {
      const seen: { seconds: number; kind: DatabaseKind; operation: QueryOperation }[] = []
      const database = await backend.openDatabase(t, {
        onQuery: (seconds, kind, operation) => seen.push({ seconds, kind, operation }),
      })
      t.ok(seen.length > 0, 'the migration queries were observed')
      seen.length = 0
      const store = new PostgresAnnounceStore(database.db)
      await store.put(entryOf(Identity.generate(libsignalKeys), 1), NOW)
      await store.countLive(NOW)
      await store.sweep(NOW)
      t.same(
        seen.map((query) => query.operation),
        ['insert', 'select', 'delete'],
      )
      t.ok(
        seen.every((query) => query.kind === backend.name && query.seconds >= 0),
        'durations in seconds, labelled with the backend',
      )
      await database.ping()
      await database.close()
      await database.close() // idempotent
      await t.rejects(database.ping())
    })
  })
}

t.test('an embedded data folder is opened by one server at a time', async (t) => {
  const storage = await pgliteBackend().prepare(t)
  const lockPath = join(storage.options.dataDir, 'pglite.lock')
  // A lock left by a process that is gone (a crash) is taken over.
  const gone = spawnSync(process.execPath, ['-e', '']).pid
  writeFileSync(lockPath, `${gone}\n`)
  const database = await storage.open()
  const [pid, started] = readFileSync(lockPath, 'utf8').trim().split(' ')
  t.equal(pid, String(process.pid), 'stale lock taken over')
  t.equal(started, startTime(process.pid), 'with our start time (a reused PID tells apart)')
  await t.rejects(openDatabase(storage.options), /in use \(by process \d+\)/, 'same process')
  await database.close()
  t.notOk(existsSync(lockPath), 'close releases the lock')
  // A lock held by a live process is respected: the PID runs and is the process that wrote it.
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'])
  t.teardown(() => holder.kill())
  await once(holder, 'spawn')
  writeFileSync(lockPath, `${holder.pid} ${startTime(holder.pid!)}\n`)
  await t.rejects(
    openDatabase(storage.options),
    new RegExp(`in use \\(by process ${holder.pid}\\)`),
    'another live process',
  )
  // The same PID with another start time: the PID was reused by another process; taken over.
  writeFileSync(lockPath, `${holder.pid} 1\n`)
  const reused = await storage.open()
  t.equal(readFileSync(lockPath, 'utf8').split(' ')[0], String(process.pid), 'reused PID')
  await reused.close()
  // A lock of an earlier version (PID only) naming a live process that is not Node.js.
  const sleeper = spawn('sleep', ['60'])
  t.teardown(() => sleeper.kill())
  await once(sleeper, 'spawn')
  writeFileSync(lockPath, `${sleeper.pid}\n`)
  const taken = await storage.open()
  t.equal(readFileSync(lockPath, 'utf8').split(' ')[0], String(process.pid), 'not a server')
  await taken.close()
  // …and naming a live Node.js process: respected, as before.
  writeFileSync(lockPath, `${holder.pid}\n`)
  await t.rejects(openDatabase(storage.options), /in use/, 'an old lock of a live Node.js')
})

/** Field 22 of /proc/<pid>/stat: when the process started. */
function startTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!
}

function pgliteBackend() {
  const backend = backends.find((b) => b.name === 'pglite')
  if (!backend) throw new Error('no pglite backend')
  return backend
}

t.test('an unreachable Postgres fails the open with the cause', async (t) => {
  const dataDir = t.testdir()
  await t.rejects(openDatabase({ databaseUrl: 'postgres://postgres@127.0.0.1:1/test', dataDir }), {
    code: 'ECONNREFUSED',
  })
})

t.test(
  'the embedded engine idles small: 16 MB of shared buffers, initdb heap dropped',
  async (t) => {
    const storage = await pgliteBackend().prepare(t)
    // A new folder: openDatabase runs initdb, then starts again on it (the heap initdb grew
    // to ~650 MB is released with that first engine).
    const database = await storage.open()
    const { rows } = await sql<{
      buffers: string
    }>`select current_setting('shared_buffers') as buffers`.execute(database.db)
    t.equal(rows[0]?.buffers, '16MB', "Postgres' shared buffers in the embedded engine")
    const { rows: again } = await sql<{ n: number }>`select 1 as n`.execute(database.db)
    t.equal(again[0]?.n, 1, 'and it answers after the restart on its new folder')
    await database.close()
  },
)
