// Storage for server tests: every test gets its own fresh, migrated database on each backend.
//
//   for (const backend of backends) {
//     t.test(backend.name, async (t) => {
//       const database = await backend.openDatabase(t)          // closed and wiped at teardown
//       const store = new PostgresAnnounceStore(database.db)
//       …
//       const again = await database.reopen()                   // a restart: same data
//     })
//   }
//
// `openDatabase` is fast: on Postgres a schema of its own, on PGlite a schema of its own in
// one engine per test process (starting a PGlite costs ~0.4 s). `reopen()` is a real
// restart on both: a new pool / the engine closed and started again on its data folder.
// An app test that lets the app open storage itself (config) uses `backend.prepare(t)` and
// passes `storage.options` (databaseUrl / dataDir, a PGlite data folder of its own).
import { randomBytes } from 'node:crypto'
import { constants as fsConstants, copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { access, mkdtemp, readFile, readdir, rename, rm, stat, statfs } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { PGliteDialect } from 'kysely'
import pg from 'pg'
import {
  type OpenDatabaseOptions,
  type OpenedDatabase,
  openDatabase,
  openDatabaseWithDialect,
} from '../../src/db/database.js'
import { SharedPGlite, schemaView } from './shared-pglite.js'

/** The real Postgres the tests use (a schema per test keeps parallel test files apart). */
export const TEST_DATABASE_URL =
  process.env.PASSAGE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Leftovers of killed test runs (schemas, folders) older than this are removed. */
const STALE_AFTER_MS = 3_600_000 // 1 h: far longer than any test file runs

/** Use /dev/shm only with this much room (Docker gives it 64 MB; each folder takes ~40 MB). */
const SHM_MIN_FREE_BYTES = 1024 ** 3 // 1 GiB

/** The part of a tap `Test` these helpers need. */
export interface TeardownHost {
  teardown(fn: () => unknown): void
}

/** Extra options for opening a test database (metrics hook, logger). */
export type OpenExtras = Pick<OpenDatabaseOptions, 'logger' | 'onQuery'>

/** An open test database; closed at the test's teardown if still open. */
export interface TestDatabase extends OpenedDatabase {
  /** Closes this handle and opens the same storage again: a server restart. */
  reopen(extras?: OpenExtras): Promise<TestDatabase>
}

/** A fresh storage location of its own (schema / data folder), wiped at teardown. */
export interface TestStorage {
  /** What to hand to `openDatabase()` or to the app's config. */
  options: OpenDatabaseOptions
  /** Opens (and migrates) it with `openDatabase()`, as the server does. */
  open(extras?: OpenExtras): Promise<TestDatabase>
}

/** One storage backend under test. */
export interface Backend {
  name: 'postgres' | 'pglite'
  /** A fresh database, opened and migrated. */
  openDatabase(t: TeardownHost, extras?: OpenExtras): Promise<TestDatabase>
  /** Same as {@link Backend.openDatabase}. */
  open(t: TeardownHost, extras?: OpenExtras): Promise<TestDatabase>
  /** A fresh storage location for `openDatabase()` / the app's config, not opened yet. */
  prepare(t: TeardownHost): Promise<TestStorage>
}

/** Opens with `open`, closes all handles at teardown, then runs `wipe`. */
function trackedOpener(
  t: TeardownHost,
  open: (extras: OpenExtras) => Promise<OpenedDatabase>,
  restart: () => Promise<void>,
  wipe: () => Promise<void>,
): (extras?: OpenExtras) => Promise<TestDatabase> {
  const handles = new Set<OpenedDatabase>()
  t.teardown(async () => {
    await Promise.all([...handles].map((handle) => handle.close()))
    await wipe()
  })
  const openTracked = async (extras: OpenExtras = {}): Promise<TestDatabase> => {
    const opened = await open(extras)
    handles.add(opened)
    return {
      ...opened,
      async reopen(again = extras) {
        await opened.close()
        await restart()
        return openTracked(again)
      },
    }
  }
  return openTracked
}

const noop = async (): Promise<void> => {}

// --- Postgres: a schema `t_<time>_<random>` per test, the search_path set through the URL.

async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

let staleSchemasDropped: Promise<void> | undefined

async function dropStaleSchemas(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    `select nspname as name from pg_namespace where nspname ~ '^t_[0-9a-z]+_[0-9a-f]+$'`,
  )
  for (const { name } of rows) {
    const created = parseInt(name.split('_')[1] ?? '', 36) * 1000
    if (Date.now() - created > STALE_AFTER_MS) {
      await client.query(`drop schema if exists ${name} cascade`)
    }
  }
}

async function freshSchema(): Promise<{ schema: string; url: string; drop(): Promise<void> }> {
  const time = Math.floor(Date.now() / 1000).toString(36)
  const schema = `t_${time}_${randomBytes(5).toString('hex')}`
  await withClient(async (client) => {
    await (staleSchemasDropped ??= dropStaleSchemas(client).catch(() => {}))
    await client.query(`create schema ${schema}`)
  })
  const url = new URL(TEST_DATABASE_URL)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return {
    schema,
    url: url.toString(),
    drop: async () => {
      await withClient((client) => client.query(`drop schema if exists ${schema} cascade`))
    },
  }
}

const postgres: Backend = {
  name: 'postgres',
  async openDatabase(t, extras) {
    return (await this.prepare(t)).open(extras)
  },
  async open(t, extras) {
    return (await this.prepare(t)).open(extras)
  },
  async prepare(t) {
    const { url, drop } = await freshSchema()
    const dataDir = await mkdtemp(join(tmpdir(), 'passage-test-'))
    const options = { databaseUrl: url, dataDir }
    const open = trackedOpener(
      t,
      (extras) => openDatabase({ ...options, ...extras }),
      noop,
      async () => {
        await drop()
        await rm(dataDir, { recursive: true, force: true })
      },
    )
    return { options, open }
  },
}

// --- PGlite: data folders copied from a pristine template made once per machine.

const pglite: Backend = {
  name: 'pglite',
  async openDatabase(t, extras) {
    const engine = await sharedEngine()
    const schema = `t_${randomBytes(6).toString('hex')}`
    await engine.run(`create schema ${schema}`)
    const open = trackedOpener(
      t,
      (extras) =>
        openDatabaseWithDialect(
          new PGliteDialect({ pglite: schemaView(engine.shared, schema) }),
          'pglite',
          extras,
        ),
      () => engine.restart(),
      () => engine.run(`drop schema if exists ${schema} cascade`),
    )
    return open(extras)
  },
  async open(t, extras) {
    return this.openDatabase(t, extras)
  },
  async prepare(t) {
    const dataDir = await freshPgliteDataDir()
    const options = { dataDir }
    const open = trackedOpener(
      t,
      (extras) => openDatabase({ ...options, ...extras }),
      noop,
      () => rm(dataDir, { recursive: true, force: true }),
    )
    return { options, open }
  },
}

/** Both backends, Postgres first. */
export const backends: readonly Backend[] = [postgres, pglite]

interface SharedEngine {
  shared: SharedPGlite
  /** Runs one statement in its turn, outside any test's schema. */
  run(statement: string): Promise<void>
  /** Closes the engine and starts it again on the same folder (every schema survives). */
  restart(): Promise<void>
}

let engine: Promise<SharedEngine> | undefined

function sharedEngine(): Promise<SharedEngine> {
  return (engine ??= startSharedEngine())
}

async function startSharedEngine(): Promise<SharedEngine> {
  const dataDir = await freshPgliteDataDir()
  process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }))
  const folder = join(dataDir, 'pglite')
  const shared = new SharedPGlite(await PGlite.create(folder))
  const inTurn = async (fn: () => Promise<unknown>): Promise<void> => {
    const release = await shared.acquire()
    try {
      await fn()
    } finally {
      release()
    }
  }
  return {
    shared,
    run: (statement) => inTurn(() => shared.pglite.query(statement)),
    restart: () =>
      inTurn(async () => {
        await shared.pglite.close()
        shared.pglite = await PGlite.create(folder)
        shared.searchPath = undefined
      }),
  }
}

async function freshPgliteDataDir(): Promise<string> {
  const template = await pgliteTemplate()
  const dataDir = await mkdtemp(join(await fastTmpdir(), 'passage-test-'))
  copyTree(template, join(dataDir, 'pglite'))
  return dataDir
}

/** Copies the pristine PGlite data folder (made once per machine) to `folder`. */
export async function copyPgliteTemplate(folder: string): Promise<void> {
  copyTree(await pgliteTemplate(), folder)
}

let templatePromise: Promise<string> | undefined

function pgliteTemplate(): Promise<string> {
  return (templatePromise ??= makePgliteTemplate())
}

async function makePgliteTemplate(): Promise<string> {
  const entry = fileURLToPath(import.meta.resolve('@electric-sql/pglite'))
  const packageJson = JSON.parse(
    await readFile(join(dirname(entry), '..', 'package.json'), 'utf8'),
  ) as { version: string }
  const uid = process.getuid?.() ?? 0
  const base = await fastTmpdir()
  await removeStaleFolders(base)
  const template = join(base, `passage-pglite-template-${packageJson.version}-${uid}`)
  if (await exists(join(template, 'PG_VERSION'))) return template
  // Built aside and renamed into place, so a concurrent test process never sees half of it.
  const building = `${template}.building-${process.pid}-${randomBytes(4).toString('hex')}`
  const db = await PGlite.create(building)
  await db.close()
  try {
    await rename(building, template)
  } catch (error) {
    await rm(building, { recursive: true, force: true })
    if (!(await exists(join(template, 'PG_VERSION')))) throw error
  }
  return template
}

/** Test folders left by killed runs: each holds a ~40 MB PGlite copy, in RAM on tmpfs. */
async function removeStaleFolders(base: string): Promise<void> {
  const names = await readdir(base).catch(() => [] as string[])
  for (const name of names) {
    const ours =
      name.startsWith('passage-test-') ||
      (name.startsWith('passage-pglite-template-') && name.includes('.building-'))
    if (!ours) continue
    const path = join(base, name)
    const info = await stat(path).catch(() => undefined)
    if (info && Date.now() - info.mtimeMs > STALE_AFTER_MS) {
      await rm(path, { recursive: true, force: true })
    }
  }
}

/**
 * RAM-backed /dev/shm when there is one: a PGlite folder is about 1,000 files, and creating
 * them costs ~300 ms on a VM's ext4 against ~40 ms on tmpfs.
 */
async function fastTmpdir(): Promise<string> {
  const shm = '/dev/shm'
  try {
    await access(shm, fsConstants.W_OK)
    const { bavail, bsize } = await statfs(shm)
    return bavail * bsize >= SHM_MIN_FREE_BYTES ? shm : tmpdir()
  } catch {
    return tmpdir()
  }
}

/** Synchronous on purpose: ~1,000 small files copy 5x faster than with `fs.promises.cp`. */
function copyTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true })
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name)
    const target = join(to, entry.name)
    if (entry.isDirectory()) copyTree(source, target)
    else copyFileSync(source, target)
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}
