// A power cut on the embedded default (PGlite) loses no acknowledged envelope. A child
// process (helpers/mailbox-writer.ts) opens the storage as the server does, in a data folder
// on a scratch ext4 disk, and puts envelopes; while puts are in flight the disk's power is
// cut (helpers/loop-disk.ts: nothing the kernel still holds reaches the disk), the child is
// killed, the disk comes back (journal replay) and the storage is opened again (Postgres'
// crash recovery). Every envelope acknowledged before the cut must be there.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { toHex, type Bytes } from '@passage/sdk'
import t, { type Test } from 'tap'
import { openDatabase } from '../src/db/database.js'
import { copyPgliteTemplate } from './helpers/databases.js'
import { loopDisk, type LoopDisk } from './helpers/loop-disk.js'

const WRITER = fileURLToPath(new URL('./helpers/mailbox-writer.ts', import.meta.url))
/** Acknowledged puts before the cut: a few batches' worth, the cut lands mid-batch. */
const ACKS_BEFORE_CUT = 400
/**
 * Start-up (node, TypeScript loader, PGlite; a new folder adds initdb) plus the puts: a few
 * seconds quiet, over 45 s in a full run on a loaded machine (initdb alone took ~20 s there).
 */
const WRITER_TIMEOUT_MS = 120_000

// Two cases, each up to the writer's bound plus a disk restart and a check.
t.setTimeout(420_000)

t.test('an existing data folder: every put acknowledged before a power cut survives', async (t) => {
  const disk = await loopDisk(t)
  const dataDir = join(disk.mountPoint, 'data')
  await copyPgliteTemplate(join(dataDir, 'pglite'))
  await disk.sync() // the folder is on disk before the test, as on a node that has run a while
  const acked = await putThenCut(t, disk, dataDir)
  await disk.restart()
  await checkNoneLost(t, dataDir, acked)
})

t.test('a new data folder: every put acknowledged before a power cut survives', async (t) => {
  const disk = await loopDisk(t)
  const dataDir = join(disk.mountPoint, 'data') // the server creates the folder (initdb)
  const acked = await putThenCut(t, disk, dataDir)
  await disk.restart()
  await checkNoneLost(t, dataDir, acked)
})

/** Runs the writer until ACKS_BEFORE_CUT puts are acknowledged, then cuts the power. */
async function putThenCut(t: Test, disk: LoopDisk, dataDir: string): Promise<Set<string>> {
  const child = spawn(process.execPath, [...process.execArgv, WRITER, dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // 'close': the process is gone and its output read to the end.
  const closed = once(child, 'close')
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await closed
  })
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const acked = new Set<string>()
  let enough!: () => void
  const reached = new Promise<void>((resolve) => (enough = resolve))
  let buffered = ''
  child.stdout.on('data', (chunk) => {
    buffered += chunk
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    for (const line of lines) if (line !== 'ready') acked.add(line)
    if (acked.size >= ACKS_BEFORE_CUT) enough()
  })
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    reached,
    closed.then(() => {
      throw new Error(`the writer stopped after ${acked.size} puts: ${stderr}`)
    }),
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${acked.size} puts in ${WRITER_TIMEOUT_MS} ms: ${stderr}`)),
        WRITER_TIMEOUT_MS,
      )
    }),
  ]).finally(() => clearTimeout(timer))
  await disk.cut()
  // After the cut no fsync() succeeds, so no put is acknowledged any more; the IDs still in
  // the pipe were acknowledged before it and count.
  child.kill('SIGKILL')
  await closed
  return acked
}

async function checkNoneLost(t: Test, dataDir: string, acked: Set<string>): Promise<void> {
  const storage = await openDatabase({ dataDir })
  let rows: { id: Uint8Array }[]
  try {
    rows = await storage.db.selectFrom('mailbox_envelopes').select('id').execute()
  } finally {
    await storage.close()
  }
  const stored = new Set(rows.map((row) => toHex(row.id as Bytes)))
  const lost = [...acked].filter((id) => !stored.has(id))
  t.ok(acked.size >= ACKS_BEFORE_CUT, `${acked.size} puts acknowledged before the cut`)
  t.equal(lost.length, 0, `acknowledged envelopes lost: ${lost.length} of ${acked.size}`)
}
