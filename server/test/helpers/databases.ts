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
// An app test that lets the app open storage itself uses `backend.prepare(t)` and passes
// `storage.options` (databaseUrl / dataDir) to the app's config.
import { randomBytes } from 'node:crypto'
import { constants as fsConstants, copyFileSync, mkdirSync, readdirSync } from 'node:fs'
import { access, mkdtemp, readFile, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import {
  type OpenDatabaseOptions,
  type OpenedDatabase,
  openDatabase,
} from '../../src/db/database.js'

/** The real Postgres the tests use (a schema per test keeps parallel test files apart). */
export const TEST_DATABASE_URL =
  process.env.PASSAGE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** The part of a tap `Test` these helpers need. */
export interface TeardownHost {
  teardown(fn: () => unknown): void
}

/** Extra options for opening a test database (metrics hook, logger). */
export type OpenExtras = Pick<OpenDatabaseOptions, 'logger' | 'onQuery'>

/** A fresh storage location (schema or data folder), wiped at the test's teardown. */
export interface TestStorage {
  /** What to hand to `openDatabase()` or to the app's config. */
  options: OpenDatabaseOptions
  /** Opens (and migrates) this storage; closed automatically at teardown if still open. */
  open(extras?: OpenExtras): Promise<TestDatabase>
}

/** An open test database. */
export interface TestDatabase extends OpenedDatabase {
  storage: TestStorage
  /** Closes this handle and opens the same storage again: a server restart. */
  reopen(extras?: OpenExtras): Promise<TestDatabase>
}

/** One storage backend under test. */
export interface Backend {
  name: 'postgres' | 'pglite'
  /** A fresh, empty storage location for this test. */
  prepare(t: TeardownHost): Promise<TestStorage>
  /** A fresh storage location, opened and migrated. */
  openDatabase(t: TeardownHost, extras?: OpenExtras): Promise<TestDatabase>
  /** Same as {@link Backend.openDatabase}. */
  open(t: TeardownHost, extras?: OpenExtras): Promise<TestDatabase>
}

function makeBackend(
  name: Backend['name'],
  createLocation: () => Promise<{ options: OpenDatabaseOptions; wipe(): Promise<void> }>,
): Backend {
  const prepare = async (t: TeardownHost): Promise<TestStorage> => {
    const location = await createLocation()
    const handles = new Set<OpenedDatabase>()
    t.teardown(async () => {
      await Promise.all([...handles].map((handle) => handle.close()))
      await location.wipe()
    })
    const storage: TestStorage = {
      options: location.options,
      async open(extras = {}) {
        const opened = await openDatabase({ ...location.options, ...extras })
        handles.add(opened)
        const database: TestDatabase = {
          ...opened,
          storage,
          async reopen(again = extras) {
            await opened.close()
            return storage.open(again)
          },
        }
        return database
      },
    }
    return storage
  }
  const openInFresh = async (t: TeardownHost, extras?: OpenExtras): Promise<TestDatabase> =>
    (await prepare(t)).open(extras)
  return { name, prepare, openDatabase: openInFresh, open: openInFresh }
}

async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** Postgres: a new schema `t_<random>`, made the connection's search_path through the URL. */
const postgres = makeBackend('postgres', async () => {
  const schema = `t_${randomBytes(6).toString('hex')}`
  const dataDir = await mkdtemp(join(tmpdir(), 'passage-test-'))
  await withClient((client) => client.query(`create schema ${schema}`))
  const url = new URL(TEST_DATABASE_URL)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return {
    options: { databaseUrl: url.toString(), dataDir },
    async wipe() {
      await withClient((client) => client.query(`drop schema if exists ${schema} cascade`))
      await rm(dataDir, { recursive: true, force: true })
    },
  }
})

/** PGlite: a copy of a pristine data folder made once per machine (creating one takes ~3 s). */
const pglite = makeBackend('pglite', async () => {
  const template = await pgliteTemplate()
  const dataDir = await mkdtemp(join(await fastTmpdir(), 'passage-test-'))
  copyTree(template, join(dataDir, 'pglite'))
  return {
    options: { dataDir },
    wipe: () => rm(dataDir, { recursive: true, force: true }),
  }
})

/** Both backends, Postgres first. */
export const backends: readonly Backend[] = [postgres, pglite]

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
  const template = join(await fastTmpdir(), `passage-pglite-template-${packageJson.version}-${uid}`)
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

/**
 * RAM-backed /dev/shm when there is one: a PGlite folder is about 1,000 files, and creating
 * them costs ~300 ms on a VM's ext4 against ~40 ms on tmpfs.
 */
async function fastTmpdir(): Promise<string> {
  const shm = '/dev/shm'
  return access(shm, fsConstants.W_OK).then(
    () => shm,
    () => tmpdir(),
  )
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
