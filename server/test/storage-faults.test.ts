// Storage faults under load, against the real `passage-server` program: Postgres connections
// cut by the operator (pg_terminate_backend) while announces and mailbox puts run, and an
// embedded data folder whose disk fills up. The server stays up, answers "unavailable"
// (HTTP 503, DHT wire error 13) while it cannot store, never "internal", recovers by itself,
// and loses nothing it acknowledged.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { open, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  BootstrapClient,
  DhtNode,
  Identity,
  PassageError,
  UnavailableError,
  toHex,
  type PutEnvelopeResult,
} from '@passage/sdk'
import { bindUdpSocket, libsignalKeys } from '@passage/sdk/node'
import { eventually, freeUdpPort } from '@passage/sdk/testing'
import pg from 'pg'
import t from 'tap'
import {
  FAULT_MEMORY_MS,
  isConnectionLost,
  isStorageFault,
  StorageHealth,
  storageError,
} from '../src/db/storage-faults.js'
import { backends, TEST_DATABASE_URL, type TeardownHost } from './helpers/databases.js'
import { startProgram } from './helpers/program.js'

/** Cuts of every server connection, each in the middle of a burst of work. */
const CUTS = 5
/** Mailbox puts and announces per burst. */
const PUTS_PER_BURST = 30
const ANNOUNCES_PER_BURST = 10

async function phone(t: TeardownHost): Promise<DhtNode> {
  const node = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    client: true,
    // One try per request: a refusal is seen as it is, not hidden by a resend.
    retries: 0,
  })
  t.teardown(() => node.destroy())
  return node
}

/** How long a server query may take to reach the lock on a loaded machine (polled every 20 ms). */
const LOCK_WAIT_MS = 30_000

/**
 * Takes a write lock on the `announces` table from a connection of its own (no application
 * name of the server's, so no cut ends it): the server's announce upserts wait on it, which
 * holds a query in flight until the cut. `release` rolls back, ending the lock.
 */
async function lockAnnounces(databaseUrl: string): Promise<{ release(): Promise<void> }> {
  const holder = new pg.Client({ connectionString: databaseUrl })
  await holder.connect()
  try {
    await holder.query('begin')
    await holder.query('lock table announces in share row exclusive mode')
  } catch (error) {
    await holder.end()
    throw error
  }
  return {
    release: async () => {
      try {
        await holder.query('rollback')
      } finally {
        await holder.end()
      }
    },
  }
}

/**
 * Waits until one of the server's queries waits on a lock (at most {@link LOCK_WAIT_MS}), then
 * ends every server connection (by their application name): how many queries were waiting,
 * and how many connections were ended.
 */
async function cutWhileWaiting(
  applicationName: string,
): Promise<{ waiting: number; ended: number }> {
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await admin.connect()
  try {
    let waiting = 0
    await eventually(
      async () => {
        // Each query is a transaction of its own: a fresh snapshot of pg_stat_activity.
        const { rows } = await admin.query<{ waiting: number }>(
          `select count(*)::int as waiting from pg_stat_activity
            where application_name = $1 and wait_event_type = 'Lock'`,
          [applicationName],
        )
        waiting = rows[0]!.waiting
        return waiting > 0
      },
      { ms: LOCK_WAIT_MS },
    )
    if (waiting === 0) return { waiting, ended: 0 }
    const { rows } = await admin.query<{ ended: boolean }>(
      `select pg_terminate_backend(pid) as ended from pg_stat_activity
        where application_name = $1 and pid <> pg_backend_pid()`,
      [applicationName],
    )
    return { waiting, ended: rows.filter((r) => r.ended).length }
  } finally {
    await admin.end()
  }
}

/** "unavailable" (wire 13) or a timeout are acceptable refusals; anything else is a failure. */
function refusalKind(error: unknown): string {
  if (error instanceof UnavailableError) return 'unavailable'
  if (error instanceof PassageError) return error.code
  return String(error)
}

const postgres = backends.find((b) => b.name === 'postgres')!

t.test(
  'postgres: connections cut under load: up, "unavailable" meanwhile, nothing acknowledged lost',
  async (t) => {
    const storage = await postgres.prepare(t)
    const applicationName = `passage-cut-${randomBytes(4).toString('hex')}`
    const url = new URL(storage.options.databaseUrl!)
    url.searchParams.set('application_name', applicationName)
    const dhtPort = await freeUdpPort()
    const server = await startProgram(
      t,
      ['--http-host', '127.0.0.1', '--http-port', '0', '--dht-port', String(dhtPort)],
      {
        PASSAGE_DATA_DIR: storage.options.dataDir,
        PASSAGE_LOG_LEVEL: 'info',
        PASSAGE_RATE_LIMIT: '0',
        DATABASE_URL: url.toString(),
      },
    )
    const superNode = { host: '127.0.0.1', port: dhtPort }
    const sender = await phone(t)
    t.equal(await sender.bootstrap([superNode]), 1, 'the phone verified the super-node')
    const bob = Identity.generate(libsignalKeys)

    const acknowledged: string[] = []
    const refusals = new Map<string, number>()
    const refused = (kind: string) => refusals.set(kind, (refusals.get(kind) ?? 0) + 1)
    let announced = 0
    let cutsLanded = 0
    for (let cut = 0; cut < CUTS; cut++) {
      // This burst's announces wait on the lock until the cut has landed: a query is in
      // flight across every cut, however fast or slow the machine.
      const lock = await lockAnnounces(storage.options.databaseUrl!)
      const puts = Array.from({ length: PUTS_PER_BURST }, async () => {
        const data = randomBytes(200)
        let result: PutEnvelopeResult
        try {
          result = await sender.putEnvelope(bob.publicKey, data)
        } catch (error) {
          refused(refusalKind(error))
          return
        }
        if (result.stored > 0) acknowledged.push(toHex(data))
        for (const error of result.errors) refused(refusalKind(error))
      })
      const announces = Array.from({ length: ANNOUNCES_PER_BURST }, async () => {
        const client = new BootstrapClient({
          url: server.start.url,
          identity: Identity.generate(libsignalKeys),
        })
        try {
          await client.announce({ addresses: [{ transport: 'tcp', host: '', port: 7500 }] })
          announced++
        } catch (error) {
          refused(refusalKind(error))
        }
      })
      // The cut lands while an announce's query waits on the lock (and puts run).
      const { waiting, ended } = await cutWhileWaiting(applicationName).finally(() =>
        lock.release(),
      )
      t.ok(waiting > 0, `a query was in flight when cut ${cut + 1} landed`)
      cutsLanded += ended > 0 ? 1 : 0
      await Promise.all([...puts, ...announces])
      t.equal(server.child.exitCode, null, `the server is still running after cut ${cut + 1}`)
    }
    t.equal(cutsLanded, CUTS, `connections were cut in ${cutsLanded} of ${CUTS} bursts`)
    const kinds = [...refusals.keys()].filter(
      (k) => k !== 'unavailable' && k !== 'PASSAGE_ERR_TIMEOUT',
    )
    t.same(kinds, [], `every refusal said "unavailable" (${JSON.stringify([...refusals])})`)
    t.ok(
      acknowledged.length > 0,
      `${acknowledged.length} puts acknowledged, ${announced} announces`,
    )

    // Recovered by itself: ready, storing again, and every acknowledged envelope is there.
    const ready = await fetch(`${server.start.url}/readyz`)
    t.equal(ready.status, 200, 'ready again after the cuts')
    const after = randomBytes(200)
    t.equal((await sender.putEnvelope(bob.publicKey, after)).stored, 1, 'a put after the cuts')
    acknowledged.push(toHex(after))
    const owner = await phone(t)
    t.equal(await owner.bootstrap([superNode]), 1)
    const fetched = new Set((await owner.fetchMailbox(bob)).map((e) => toHex(e.data)))
    const lost = acknowledged.filter((hex) => !fetched.has(hex))
    t.equal(lost.length, 0, `0 of ${acknowledged.length} acknowledged envelopes lost`)

    const metrics = await (await fetch(`${server.start.url}/metrics`)).text()
    const retried = Number(
      /passage_storage_faults_total\{event="retried"\} (\d+)/.exec(metrics)?.[1],
    )
    const faults = Number(/passage_storage_faults_total\{event="fault"\} (\d+)/.exec(metrics)?.[1])
    // Every cut ended a query in flight: each was sent again (retried) or refused (fault).
    t.ok(
      retried + faults >= CUTS,
      `the cuts are counted (${retried} retried, ${faults} unavailable)`,
    )
    server.child.kill('SIGTERM')
    const [code] = await server.exited
    t.equal(code, 0, 'a clean shutdown after the cuts')
  },
)

/** A tmpfs of `megabytes` mounted on a fresh folder (unmounted and removed at teardown). */
async function smallDisk(t: TeardownHost, megabytes: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'passage-full-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir])
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw new Error(`this test mounts a small tmpfs as root to fill a disk: ${String(error)}`)
  }
  t.teardown(async () => {
    execFileSync('umount', ['-l', dir])
    await rm(dir, { recursive: true, force: true })
  })
  return dir
}

/** Writes zeros to `path` until the disk is full (bounded by `maxMegabytes`); the bytes written. */
async function fillDisk(path: string, maxMegabytes: number): Promise<number> {
  const file = await open(path, 'w')
  const chunk = Buffer.alloc(1024 * 1024)
  let written = 0
  try {
    for (let i = 0; i < maxMegabytes; i++) written += (await file.write(chunk)).bytesWritten
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
  } finally {
    await file.close()
  }
  // The last partial block: a disk with a few bytes left is not full for small rows.
  const rest = await open(path, 'a')
  try {
    for (let i = 0; i < 4096; i++) written += (await rest.write(Buffer.alloc(1024))).bytesWritten
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
  } finally {
    await rest.close()
  }
  return written
}

t.test(
  'pglite: a full disk: not ready, "unavailable" to puts and announces, ready again once freed',
  async (t) => {
    const disk = await smallDisk(t, 120)
    const dhtPort = await freeUdpPort()
    const server = await startProgram(
      t,
      ['--http-host', '127.0.0.1', '--http-port', '0', '--dht-port', String(dhtPort)],
      { PASSAGE_DATA_DIR: join(disk, 'data'), PASSAGE_LOG_LEVEL: 'info', PASSAGE_RATE_LIMIT: '0' },
    )
    const superNode = { host: '127.0.0.1', port: dhtPort }
    const sender = await phone(t)
    t.equal(await sender.bootstrap([superNode]), 1)
    const bob = Identity.generate(libsignalKeys)
    const before = randomBytes(500)
    t.equal(
      (await sender.putEnvelope(bob.publicKey, before)).stored,
      1,
      'stored before the disk fills',
    )
    t.equal((await fetch(`${server.start.url}/readyz`)).status, 200, 'ready with room on the disk')

    const filler = join(disk, 'filler')
    t.ok((await fillDisk(filler, 200)) > 0, 'the disk is full')
    const unready = await fetch(`${server.start.url}/readyz`)
    t.equal(unready.status, 503, '/readyz: not ready, since a write fails')
    const body = (await unready.json()) as { checks: { storage: string } }
    t.match(body.checks.storage, /storage unavailable \(the disk is full\)/, 'and says why')

    const refused = await sender.putEnvelope(bob.publicKey, randomBytes(2000))
    t.equal(refused.stored, 0, 'a put is not acknowledged')
    t.ok(
      refused.errors.length === 1 && refused.errors[0] instanceof UnavailableError,
      `it is refused as "unavailable" (wire 13): ${refused.errors.map((e) => e.message).join('; ')}`,
    )
    const announcer = new BootstrapClient({
      url: server.start.url,
      identity: Identity.generate(libsignalKeys),
    })
    const announce = await announcer
      .announce({ addresses: [{ transport: 'tcp', host: '', port: 7500 }] })
      .catch((error: unknown) => error)
    t.equal((announce as PassageError).code, 'PASSAGE_ERR_UNAVAILABLE', 'an announce gets 503')

    const stillUnready = await fetch(`${server.start.url}/readyz`)
    t.equal(stillUnready.status, 503, 'still not ready while the disk is full')

    await rm(filler)
    const after = randomBytes(500)
    t.equal((await sender.putEnvelope(bob.publicKey, after)).stored, 1, 'stored once freed')
    t.equal((await fetch(`${server.start.url}/readyz`)).status, 200, 'ready again')
    const owner = await phone(t)
    t.equal(await owner.bootstrap([superNode]), 1)
    const fetched = (await owner.fetchMailbox(bob)).map((e) => toHex(e.data)).sort()
    t.same(
      fetched,
      [toHex(before), toHex(after)].sort(),
      'both acknowledged envelopes, nothing else',
    )
    t.equal(server.child.exitCode, null, 'the server ran throughout')
    server.child.kill('SIGTERM')
    const [code] = await server.exited
    t.equal(code, 0)
  },
)

t.test('which errors are storage faults, and what a caller is told', async (t) => {
  const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code })
  const lost = [
    pgError('57P01', 'terminating connection due to administrator command'),
    pgError('08006'),
    pgError('ECONNRESET', 'read ECONNRESET'),
    new Error('Connection terminated unexpectedly'),
  ]
  for (const error of lost) {
    t.ok(isConnectionLost(error), `${error.message}: a lost connection, sent again`)
    t.match(
      (storageError(error) as Error).message,
      /storage unavailable \(the database connection was lost\)/,
    )
  }
  const full = storageError(pgError('53100', 'could not extend file "base/5/16447"'))
  t.ok(full instanceof UnavailableError, 'a full disk is "unavailable"')
  t.notMatch((full as Error).message, /base\/5/, 'no file names for remote clients')
  t.match((storageError(pgError('58030')) as Error).message, /a disk I\/O error/)
  t.match((storageError(pgError('ENOSPC')) as Error).message, /the disk is full/)
  for (const error of [pgError('23505', 'duplicate key'), pgError('42P01'), new TypeError('x')]) {
    t.notOk(isStorageFault(error), `${error.message}: not a storage fault`)
    t.equal(storageError(error), error, 'passed on as it is')
  }
})

t.test('StorageHealth: a fault is remembered until a write succeeds or 30 s pass', async (t) => {
  let now = 1_000_000
  const health = new StorageHealth(() => now)
  t.equal(health.failing(), undefined, 'healthy at first')
  health.faulted(Object.assign(new Error('no room'), { code: '53100' }))
  t.equal(health.failing(), 'the disk is full')
  now += FAULT_MEMORY_MS - 1
  t.equal(health.failing(), 'the disk is full', 'still within the memory')
  now += 1
  t.equal(health.failing(), undefined, 'forgotten after FAULT_MEMORY_MS')
  health.faulted(new Error('Connection terminated unexpectedly'))
  health.wrote()
  t.equal(health.failing(), undefined, 'a write that succeeds clears it at once')
})

t.test('StorageHealth: the probe clears a lost connection, not a full disk', async (t) => {
  const health = new StorageHealth(() => 1_000_000)
  health.faulted(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))
  t.equal(health.failing(), 'the database connection was lost')
  health.probed()
  t.equal(health.failing(), undefined, 'a new connection wrote: the storage is back')
  health.faulted(Object.assign(new Error('no room'), { code: '53100' }))
  health.probed()
  t.equal(
    health.failing(),
    'the disk is full',
    'a full disk still takes the probe: only a real write clears it',
  )
})
