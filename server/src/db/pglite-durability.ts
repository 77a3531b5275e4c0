import { fdatasyncSync, fsyncSync } from 'node:fs'
import { open, readdir, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { NodeFS } from '@electric-sql/pglite/nodefs'

/** `st_mode` bits of a directory, as emscripten's file layer reports them. */
const S_IFMT = 0o170000
const S_IFDIR = 0o040000
/** Files {@link syncTree} syncs at once (in libuv's thread pool, 4 threads by default). */
const SYNC_CONCURRENCY = 16

/** Postgres' shared buffers in the embedded engine (see {@link DURABLE_START_PARAMS}). */
export const EMBEDDED_SHARED_BUFFERS = '16MB'

/**
 * Postgres' start parameters for a durable PGlite. PGlite's defaults start Postgres with
 * `-F` (fsync off) and leave `wal_sync_method` at `fdatasync`, a call its emscripten build
 * answers without doing anything. Without `-F`, and with `wal_sync_method=fsync`, Postgres
 * calls `fsync()` where a server would: the WAL before a commit returns, the data files at
 * a checkpoint, the folders after creating or renaming a file. {@link DurableNodeFS} makes
 * that call reach the disk.
 */
export const DURABLE_START_PARAMS: readonly string[] = [
  ...PGlite.defaultStartParams.filter((param) => param !== '-F'),
  '-c',
  'wal_sync_method=fsync',
  // Memory, not durability: the engine's memory is this process's (a WebAssembly heap that
  // never shrinks). Postgres' 128 MB of shared buffers made an idle embedded server hold
  // ~300 MB; 16 MB keeps it under 200 MB, and the kernel's page cache still holds the data.
  '-c',
  `shared_buffers=${EMBEDDED_SHARED_BUFFERS}`,
]

/** What {@link DurableNodeFS} reaches into: emscripten's NODEFS (not in PGlite's types). */
interface NodeFsInternals {
  stream_ops: { fsync?: (stream: NodeFsStream) => number }
  tryFSOperation<T>(operation: () => T): T
}

interface NodeFsStream {
  /** The Node file descriptor behind the emscripten stream. */
  nfd: number
  node: { mode: number }
}

/**
 * PGlite's Node file layer (`NodeFS`, emscripten's NODEFS) with a working `fsync()`:
 * NODEFS has none, so every `fsync()` Postgres makes returns at once and nothing reaches
 * the disk before the page cache is written back (up to 30 s later). Here it calls
 * `fdatasync(2)` on the file (`fsync(2)` on a folder) and hands a failure (EIO) back to
 * Postgres, which then stops instead of acknowledging. Use with {@link DURABLE_START_PARAMS};
 * {@link openDurablePGlite} does both.
 */
export class DurableNodeFS extends NodeFS {
  override async init(pg: PGlite, opts: Parameters<NodeFS['init']>[1]): ReturnType<NodeFS['init']> {
    const result = await super.init(pg, opts)
    const preRun = result.emscriptenOpts.preRun ?? []
    result.emscriptenOpts.preRun = [
      ...preRun,
      (mod) => installFsync(mod.NODEFS as unknown as Partial<NodeFsInternals>),
    ]
    return result
  }
}

function installFsync(nodefs: Partial<NodeFsInternals> | undefined): void {
  const tryFSOperation = nodefs?.tryFSOperation
  if (!nodefs?.stream_ops || typeof tryFSOperation !== 'function') {
    throw new Error(
      "PGlite's Node file layer (emscripten NODEFS) is not shaped as pglite-durability.ts " +
        'expects, so its writes cannot be made durable: keep @electric-sql/pglite at the ' +
        'version in package-lock.json, or update server/src/db/pglite-durability.ts',
    )
  }
  nodefs.stream_ops.fsync = (stream) => {
    const isFolder = (stream.node.mode & S_IFMT) === S_IFDIR
    // Node errors become emscripten errnos: Postgres sees the failed fsync() and panics.
    tryFSOperation.call(nodefs, () => (isFolder ? fsyncSync : fdatasyncSync)(stream.nfd))
    return 0
  }
}

/**
 * Opens PGlite in `folder` so that a write is on disk before its statement returns: a
 * committed transaction has its WAL synced (Postgres' own `synchronous_commit`), so a power
 * cut loses nothing acknowledged. Also syncs every file and folder of `folder` once after
 * start-up: PGlite's `initdb` (a new folder) writes without syncing, and a folder written by
 * an earlier, non-durable start may still sit in the page cache.
 *
 * Costs one `fdatasync` per commit: batch writes into one transaction (group commit).
 *
 * @example
 * const pglite = await openDurablePGlite(join(dataDir, 'pglite'))
 */
export async function openDurablePGlite(folder: string): Promise<PGlite> {
  const created = !(await exists(join(folder, 'PG_VERSION')))
  const first = await openChecked(folder)
  if (!created) return first
  // A new folder: initdb grew the engine's heap to ~650 MB, and a WebAssembly heap never
  // shrinks. Start again on the folder it made (durable now), so the server idles small.
  await first.close()
  return openChecked(folder)
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

/** Opens a durable PGlite on `folder`, checks its settings, and syncs the folder. */
async function openChecked(folder: string): Promise<PGlite> {
  const pglite = await PGlite.create({
    fs: new DurableNodeFS(folder),
    startParams: [...DURABLE_START_PARAMS],
  })
  try {
    const { rows } = await pglite.query<{ fsync: string; method: string }>(
      `select current_setting('fsync') as fsync, current_setting('wal_sync_method') as method`,
    )
    if (rows[0]?.fsync !== 'on' || rows[0].method !== 'fsync') {
      throw new Error(
        `PGlite started with fsync=${rows[0]?.fsync}, wal_sync_method=${rows[0]?.method}: ` +
          'its writes would not be durable. Update DURABLE_START_PARAMS in ' +
          'server/src/db/pglite-durability.ts for this @electric-sql/pglite version',
      )
    }
    await syncTree(folder)
    await syncPath(dirname(folder))
  } catch (error) {
    await pglite.close()
    throw error
  }
  return pglite
}

/** Syncs every file and folder under `folder` (files first, then the folder holding them). */
export async function syncTree(folder: string): Promise<void> {
  const entries = await readdir(folder, { withFileTypes: true })
  const files = entries.filter((e) => e.isFile()).map((e) => join(folder, e.name))
  for (let i = 0; i < files.length; i += SYNC_CONCURRENCY) {
    await Promise.all(files.slice(i, i + SYNC_CONCURRENCY).map((file) => syncPath(file)))
  }
  for (const entry of entries) {
    if (entry.isDirectory()) await syncTree(join(folder, entry.name))
  }
  await syncPath(folder)
}

async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
