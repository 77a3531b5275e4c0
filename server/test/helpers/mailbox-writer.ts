// A child process for the power-cut test: opens the super-node's storage in the data folder
// given (`openDatabase`, as the server does: embedded PGlite) and puts mailbox envelopes,
// CONCURRENCY at a time, until MAX_PUTS or until it is killed. It prints `ready` once the
// storage is open, then the hex ID of each envelope as soon as its put is acknowledged
// (`stored`): the moment the DHT node would answer the sender. Writes to a pipe are
// synchronous in Node on Linux, so a printed ID has left the process.
//
//   node mailbox-writer.ts <dataDir>
import { toHex, type Bytes } from '@passage/sdk'
import { openDatabase } from '../../src/db/database.js'
import { PostgresMailboxStore } from '../../src/db/postgres-mailbox-store.js'

/** Puts in flight: several batches' worth, as a busy node has. */
const CONCURRENCY = 64
/** Bounds the run should nobody kill it (the test cuts after a few hundred). */
const MAX_PUTS = 50_000
const MAILBOXES = 8
const ENVELOPE_BYTES = 300 // about a text envelope
const T0 = 1_764_000_000_000
const DAY_MS = 86_400_000

const dataDir = process.argv[2]
if (!dataDir) throw new Error('usage: mailbox-writer.ts <dataDir>')

const storage = await openDatabase({ dataDir })
const store = new PostgresMailboxStore(storage.db)
const quota = { maxCount: MAX_PUTS, maxBytes: 1024 ** 4, maxSourceBytes: 1024 ** 4 }
process.stdout.write('ready\n')

let next = 0
async function putInTurn(): Promise<void> {
  while (next < MAX_PUTS) {
    const n = next++
    const id = new Uint8Array(16)
    new DataView(id.buffer).setUint32(12, n)
    const envelope = {
      mailboxKey: new Uint8Array(20).fill(n % MAILBOXES) as Bytes,
      id: id as Bytes,
      data: new Uint8Array(ENVELOPE_BYTES).fill(n % 251) as Bytes,
      source: '127.0.0.1',
      storedAt: T0,
      expiresAt: T0 + DAY_MS,
    }
    const outcome = await store.put(envelope, quota, T0)
    if (outcome !== 'stored') throw new Error(`put ${n}: ${outcome}`)
    process.stdout.write(`${toHex(envelope.id)}\n`)
  }
}

await Promise.all(Array.from({ length: CONCURRENCY }, putInTurn))
await storage.close()
