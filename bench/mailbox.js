// Issue 3 benchmark: mailbox puts, gets and deletes answered per second by a super-node's DHT
// node on Postgres, against ceilings doing the same work with plain SQL through `pg` (8
// connections, the server's pool size), measured in the same run. The super-node runs in its
// own process; the load comes from a DHT client in another process with 64 requests in flight
// (owner-signed gets and deletes, as a phone sends them). The ceilings run in a third process,
// 64 operations in flight too, batched as the server batches them (PostgresMailboxStore's
// limits: puts up to 64 rows per statement and 4 statements in flight, gets 64 and 2, deletes
// 1,024 and 2; each operation waits for its batch), and do what the server must do at least:
// - put: a multi-row INSERT;
// - get: verify the owner's signature on the request (and that its key owns the mailbox), as
//   the server must, then a multi-key SELECT (requests signed beforehand: the client's work);
// - delete: the same signature check, then a multi-key DELETE.
// Besides the rates, CPU seconds per operation: the super-node process, and the Postgres
// backends serving its pool (postgresCpuMeter); for the ceilings, their process (it plays the
// server) and its backends. The ratios per server CPU-second are steadier than wall-clock rates
// on a loaded machine. Postgres: database `passage_bench_mailbox` (benchDatabaseUrl), a fresh
// schema per run, dropped afterwards. BENCH_ROUNDS rounds (default 3) of BENCH_MAILBOX_SECONDS
// (default 2) per operation; medians of per-round ratios with their spread (min–max).
// Goal (issue 15's table): mailbox get >= 0.5 of its ceiling; puts and deletes: 0.5 as well.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { runChild, startChild } from './child.js'
import {
  benchDatabaseUrl,
  cpuSeconds,
  median,
  postgresCpuMeter,
  report,
  reportRatio,
} from './lib.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_MAILBOX_SECONDS ?? 2) // per operation and round
const IN_FLIGHT = 64 // DHT requests in flight from the client; the put ceiling's writers
const CONNECTIONS = 8 // the ceiling's connections, as the server's pool
// The ceilings batch as PostgresMailboxStore does (its MAX_*_BATCH* constants).
const PUT_BATCH_ROWS = 64
const PUT_BATCHES_IN_FLIGHT = 4
const GET_BATCH_ROWS = 64
const GET_BATCHES_IN_FLIGHT = 2
const DELETE_BATCH_ROWS = 1_024
const DELETE_BATCHES_IN_FLIGHT = 2
const SIGNED_GETS = 4_096 // distinct signed gets per ceiling round (then in turn again)
const SIGNED_DELETES = 8_192 // at most this many deletes per ceiling round
const OWNERS = 64 // mailboxes written to (one per client worker)
const ENVELOPE_BYTES = 512 // a sealed text message: one fragment
const ENVELOPE_ID_BYTES = 16
const TTL_SECONDS = 3_600
const HOST = '127.0.0.1'
const SELF = fileURLToPath(import.meta.url)
const OPS = ['put', 'get', 'delete']
const SERVER_APPLICATION_NAME = 'passage-server' // the super-node's pg pool
const CEILING_APPLICATION_NAME = 'passage-bench-ceiling'

const schemaUrl = (url, schema) =>
  `${url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`

/** Times `fn` in `workers` parallel loops for SECONDS (or until every loop returns false). */
async function timed(workers, fn) {
  const deadline = performance.now() + SECONDS * 1000
  const started = performance.now()
  let done = 0
  let failed = 0
  let firstError
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (performance.now() < deadline) {
        try {
          if ((await fn(w)) === false) return
          done++
        } catch (error) {
          failed++
          firstError ??= String(error?.message ?? error)
        }
      }
    }),
  )
  return { rate: done / ((performance.now() - started) / 1000), done, failed, firstError }
}

/**
 * Runs `fn` (timed) and adds CPU milliseconds per operation: `serverCpuMs` of process `pid`
 * (or of this process when `pid` is undefined) and `pgCpuMs` of the Postgres backends `meter`
 * watches.
 */
async function withCpu(pid, meter, fn) {
  const cpu = pid === undefined ? process.cpuUsage() : cpuSeconds(pid)
  await meter.start()
  const result = await fn()
  const pgSeconds = await meter.stop()
  const seconds =
    pid === undefined
      ? ((u) => (u.user + u.system) / 1e6)(process.cpuUsage(cpu))
      : cpuSeconds(pid) - cpu
  result.serverCpuMs = (seconds * 1000) / result.done
  result.pgCpuMs = (pgSeconds * 1000) / result.done
  return result
}

// ------------------------------------------------------------------ the ceiling (child process)

/**
 * The ceilings' batching, as PostgresMailboxStore's BatchQueue: callers push items; up to
 * `inFlight` statements of up to `maxRows` items run at once, each on its own connection
 * (`run(client, items)` returns one result per item); a caller's promise resolves with its
 * item's result once its batch has run.
 */
function batcher(clients, { inFlight, maxRows, run }) {
  const queue = []
  const idle = clients.slice(0, inFlight)
  const pump = () => {
    while (idle.length > 0 && queue.length > 0) {
      const client = idle.pop()
      const batch = queue.splice(0, maxRows)
      run(
        client,
        batch.map((b) => b.item),
      )
        .then(
          (results) => batch.forEach((b, i) => b.resolve(results[i])),
          (error) => batch.forEach((b) => b.reject(error)),
        )
        .finally(() => {
          idle.push(client)
          pump()
        })
    }
  }
  return (item) =>
    new Promise((resolve, reject) => {
      queue.push({ item, resolve, reject })
      pump()
    })
}

const INSERT_BATCH_SQL = `insert into ceiling (mailbox_key, id, data, size, source, stored_at, expires_at)
  select * from unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::int[], $5::text[], $6::bigint[], $7::bigint[])`
const SELECT_BATCH_SQL = `select u.r, c.data from unnest($1::bytea[], $2::bytea[]) with ordinality as u(k, i, r)
  join ceiling c on c.mailbox_key = u.k and c.id = u.i`
const DELETE_BATCH_SQL = `delete from ceiling c using unnest($1::bytea[], $2::bytea[]) as u(k, i)
  where c.mailbox_key = u.k and c.id = u.i returning c.mailbox_key, c.id`

async function sqlClient(url, schema) {
  const { Identity, mailboxAuthInput, mailboxKeyFor } = await import('@passage/sdk')
  const { libsignalKeys } = await import('@passage/sdk/node')
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const client = new pg.Client({
        connectionString: schemaUrl(url, schema),
        application_name: CEILING_APPLICATION_NAME,
      })
      await client.connect()
      return client
    }),
  )
  const meter = postgresCpuMeter(url, CEILING_APPLICATION_NAME)
  const audience = randomBytes(20) // the node the requests are addressed to
  const owners = Array.from({ length: OWNERS }, () => {
    const identity = Identity.generate(libsignalKeys)
    return { identity, mailboxKey: Buffer.from(mailboxKeyFor(identity.publicKey)) }
  })
  const rows = []
  const now = Date.now()
  const out = {}
  const insert = batcher(clients, {
    inFlight: PUT_BATCHES_IN_FLIGHT,
    maxRows: PUT_BATCH_ROWS,
    run: async (client, batch) => {
      await client.query(
        INSERT_BATCH_SQL,
        [0, 1, 2, 3, 4, 5, 6].map((i) => batch.map((row) => row[i])),
      )
      return batch.map(() => true)
    },
  })
  out.put = await withCpu(undefined, meter, () =>
    timed(IN_FLIGHT, async (w) => {
      const owner = owners[w % OWNERS]
      const id = randomBytes(ENVELOPE_ID_BYTES)
      const data = randomBytes(ENVELOPE_BYTES)
      await insert([
        owner.mailboxKey,
        id,
        data,
        ENVELOPE_BYTES,
        HOST,
        now,
        now + TTL_SECONDS * 1000,
      ])
      rows.push({ owner, id })
    }),
  )
  // Owner-signed requests, as the DHT client sends them; signed here before the timing (the
  // signing is the client's work), verified in the timed loops (the server's work).
  const signed = (type, { owner, id }) => {
    const request =
      type === 'get'
        ? { type: 'mailbox-get', kind: 'read', envelopeId: id, index: 0 }
        : { type: 'mailbox-delete', ids: [id] }
    const timestamp = Date.now()
    const nonce = randomBytes(16)
    const signature = owner.identity.sign(mailboxAuthInput(audience, timestamp, nonce, request))
    return {
      request,
      row: { owner, id },
      ownerKey: owner.identity.publicKey,
      timestamp,
      nonce,
      signature,
    }
  }
  /** What the server checks before it touches the store: signature, then the mailbox's owner. */
  const verify = (s) => {
    const input = mailboxAuthInput(audience, s.timestamp, s.nonce, s.request)
    if (!libsignalKeys.verify(s.ownerKey, input, s.signature)) throw new Error('bad signature')
    const mailboxKey = s.row.owner.mailboxKey
    if (!mailboxKey.equals(mailboxKeyFor(s.ownerKey))) throw new Error('not the owner')
    return mailboxKey
  }
  const select = batcher(clients, {
    inFlight: GET_BATCHES_IN_FLIGHT,
    maxRows: GET_BATCH_ROWS,
    run: async (client, batch) => {
      const { rows: found } = await client.query(SELECT_BATCH_SQL, [
        batch.map(([key]) => key),
        batch.map(([, id]) => id),
      ])
      const data = new Array(batch.length)
      for (const row of found) data[Number(row.r) - 1] = row.data
      return data
    },
  })
  const gets = rows.slice(0, SIGNED_GETS).map((row) => signed('get', row))
  let cursor = 0
  out.get = await withCpu(undefined, meter, () =>
    timed(IN_FLIGHT, async () => {
      const s = gets[cursor++ % gets.length]
      const data = await select([verify(s), s.row.id])
      if (data?.byteLength !== ENVELOPE_BYTES) throw new Error('row not found')
    }),
  )
  const remove = batcher(clients, {
    inFlight: DELETE_BATCHES_IN_FLIGHT,
    maxRows: DELETE_BATCH_ROWS,
    run: async (client, batch) => {
      const { rows: gone } = await client.query(DELETE_BATCH_SQL, [
        batch.map(([key]) => key),
        batch.map(([, id]) => id),
      ])
      const deleted = new Set(
        gone.map((r) => `${r.mailbox_key.toString('hex')}/${r.id.toString('hex')}`),
      )
      return batch.map(([key, id]) => deleted.has(`${key.toString('hex')}/${id.toString('hex')}`))
    },
  })
  const deletes = rows.slice(0, SIGNED_DELETES).map((row) => signed('delete', row))
  cursor = 0
  out.delete = await withCpu(undefined, meter, () =>
    timed(IN_FLIGHT, async () => {
      const s = deletes[cursor++]
      if (!s) return false
      if (!(await remove([verify(s), s.row.id]))) throw new Error('not deleted')
    }),
  )
  await Promise.all(clients.map((c) => c.end()))
  return out
}

// ------------------------------------------------------------------ the super-node (child process)

/** One client writes everything: quotas out of the way. */
const NO_QUOTA = { maxCount: 1e9, maxBytes: 1e15, maxSourceBytes: 1e15 }

/**
 * The super-node: `startServer` from @passage/server on Postgres with its DHT node on, as
 * `passage-server` runs it (its Postgres mailbox store, metrics hooks and timers). When the
 * server build has no DHT yet, a `DhtNode` on the server's `PostgresMailboxStore`; without
 * that either, on the SDK's memory store (and the output says which).
 */
async function superNode(url, schema, dataDir) {
  const server = await import('@passage/server')
  const sdk = await import('@passage/sdk')
  const { bindUdpSocket, libsignalKeys } = await import('@passage/sdk/node')
  let info
  const running = await server.startServer({
    config: server.defaultConfig({
      httpHost: HOST,
      httpPort: 0,
      databaseUrl: schemaUrl(url, schema),
      dataDir,
      logLevel: 'warn',
      dhtPort: 0,
    }),
    // Every load client sends from 127.0.0.1: the default per-IP limit would measure itself.
    dht: { node: { quota: NO_QUOTA, rateLimit: false } },
  })
  if (running.dht?.node) {
    const node = running.dht.node
    info = { port: node.address().port, id: sdk.toHex(node.id), store: 'postgres (startServer)' }
  } else {
    await running.close()
    const { store, kind } = await openMailboxStore(server, url, schema, dataDir)
    const node = new sdk.DhtNode({
      identity: sdk.Identity.generate(libsignalKeys),
      socket: await bindUdpSocket(HOST, 0),
      mailboxStore: store,
      quota: NO_QUOTA,
    })
    info = { port: node.address().port, id: sdk.toHex(node.id), store: kind }
  }
  process.stdout.write(`${JSON.stringify(info)}\n`)
  process.on('SIGTERM', () => process.exit(0)) // a normal exit (flushes --cpu-prof if asked)
}

async function openMailboxStore(server, url, schema, dataDir) {
  if (server.PostgresMailboxStore) {
    const database = await server.openDatabase({ databaseUrl: schemaUrl(url, schema), dataDir })
    return { store: new server.PostgresMailboxStore(database.db), kind: 'postgres (DhtNode)' }
  }
  const { MemoryMailboxStore } = await import('@passage/sdk')
  return { store: new MemoryMailboxStore(), kind: 'memory' }
}

// ------------------------------------------------------------------ the DHT client (child process)

async function dhtClient(url, port, idHex, serverPid) {
  const { DhtNode, Identity, mailboxKeyFor, envelopeIdOf, mailboxAuthInput } =
    await import('@passage/sdk')
  const { bindUdpSocket, libsignalKeys } = await import('@passage/sdk/node')
  const node = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket(HOST, 0),
    client: true,
    maxInFlight: IN_FLIGHT,
    requestTimeoutMs: 2_000,
    retries: 0,
  })
  const to = { host: HOST, port }
  const audience = Uint8Array.from(Buffer.from(idHex, 'hex'))
  const pong = await node.request(to, { type: 'ping' }, { retries: 3 }) // the write token
  const token = pong.token
  const owners = Array.from({ length: OWNERS }, () => {
    const identity = Identity.generate(libsignalKeys)
    return { identity, mailboxKey: mailboxKeyFor(identity.publicKey), ids: [] }
  })
  const auth = (owner, request) => {
    const timestamp = Date.now()
    const nonce = Uint8Array.from(randomBytes(16))
    const signature = owner.identity.sign(mailboxAuthInput(audience, timestamp, nonce, request))
    return { ownerKey: owner.identity.publicKey, timestamp, nonce, signature }
  }
  const out = {}
  // Also the CPU time per operation of the super-node and of the Postgres backends serving it.
  const meter = postgresCpuMeter(url, SERVER_APPLICATION_NAME)
  const phase = async (op, fn) => {
    out[op] = await withCpu(serverPid, meter, () => timed(IN_FLIGHT, fn))
  }
  await phase('put', async (w) => {
    const owner = owners[w % OWNERS]
    const data = Uint8Array.from(randomBytes(ENVELOPE_BYTES))
    const envelopeId = envelopeIdOf(owner.mailboxKey, data)
    const ack = await node.request(to, {
      type: 'mailbox-put',
      token,
      mailboxKey: owner.mailboxKey,
      envelopeId,
      ttlSeconds: TTL_SECONDS,
      totalSize: data.byteLength,
      index: 0,
      count: 1,
      data,
    })
    if (ack.type !== 'mailbox-put-ack' || !ack.stored) throw new Error('not stored')
    owner.ids.push(envelopeId)
  })
  const cursor = new Array(OWNERS).fill(0)
  await phase('get', async (w) => {
    const owner = owners[w % OWNERS]
    const envelopeId = owner.ids[cursor[w % OWNERS]++ % owner.ids.length]
    const request = { type: 'mailbox-get', kind: 'read', envelopeId, index: 0 }
    const reply = await node.request(to, { ...request, auth: auth(owner, request) })
    if (reply.type !== 'mailbox-fragment' || reply.data.byteLength !== ENVELOPE_BYTES) {
      throw new Error('wrong fragment')
    }
  })
  cursor.fill(0)
  await phase('delete', async (w) => {
    const owner = owners[w % OWNERS]
    const envelopeId = owner.ids[cursor[w % OWNERS]++]
    if (!envelopeId) return false
    const request = { type: 'mailbox-delete', ids: [envelopeId] }
    const reply = await node.request(to, { ...request, auth: auth(owner, request) })
    if (reply.type !== 'mailbox-delete-ack' || reply.deleted !== 1) throw new Error('not deleted')
  })
  await node.destroy()
  return out
}

// ------------------------------------------------------------------ orchestration

async function admin(url, sql) {
  const client = new pg.Client(url)
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

export async function benchMailbox() {
  console.log(
    `\n# mailbox: ${ENVELOPE_BYTES}-byte envelopes, ${IN_FLIGHT} DHT requests in flight vs SQL doing the same work on ${CONNECTIONS} pg connections, ${ROUNDS} rounds of ${SECONDS} s per operation`,
  )
  const url = await benchDatabaseUrl('mailbox')
  const schema = `bench_mailbox_${process.pid}_${Date.now()}`
  const dataDir = mkdtempSync(join(tmpdir(), 'passage-bench-mailbox-'))
  await admin(url, `create schema ${schema}`)
  let server
  const runs = { ours: { put: [], get: [], delete: [] }, sql: { put: [], get: [], delete: [] } }
  const ratios = { put: [], get: [], delete: [] }
  const cpuRatios = { put: [], get: [], delete: [] }
  let store = 'unknown'
  const childTimeout = SECONDS * 6_000 + 60_000
  try {
    await admin(
      url,
      `create table ${schema}.ceiling (
      mailbox_key bytea not null, id bytea not null, data bytea not null, size int not null,
      source text not null, stored_at bigint not null, expires_at bigint not null,
      primary key (mailbox_key, id))`,
    )
    server = await startChild([SELF, 'super-node', url, schema, dataDir])
    store = server.info.store
    if (!store.startsWith('postgres')) {
      console.log(
        'NOTE: no Postgres mailbox store in @passage/server yet: the super-node runs on the SDK MemoryMailboxStore',
      )
    }
    for (let round = 0; round < ROUNDS; round++) {
      const sql = await runChild([SELF, 'sql-client', url, schema], { timeoutMs: childTimeout })
      const ours = await runChild(
        [
          SELF,
          'dht-client',
          url,
          String(server.info.port),
          server.info.id,
          String(server.child.pid),
        ],
        { timeoutMs: childTimeout },
      )
      const line = []
      for (const op of OPS) {
        runs.sql[op].push(sql[op])
        runs.ours[op].push(ours[op])
        ratios[op].push(ours[op].rate / sql[op].rate)
        const cpuMs = (r) => r.serverCpuMs + r.pgCpuMs
        cpuRatios[op].push(cpuMs(sql[op]) / cpuMs(ours[op]))
        const failed = ours[op].failed ? ` (${ours[op].failed} failed: ${ours[op].firstError})` : ''
        const sqlFailed = sql[op].failed
          ? ` (SQL ${sql[op].failed} failed: ${sql[op].firstError})`
          : ''
        line.push(
          `${op} ${ours[op].rate.toFixed(0)}/s vs SQL ${sql[op].rate.toFixed(0)}/s (CPU ms/op: super-node ${ours[op].serverCpuMs.toFixed(3)} + PG ${ours[op].pgCpuMs.toFixed(3)} vs ceiling ${sql[op].serverCpuMs.toFixed(3)} + PG ${sql[op].pgCpuMs.toFixed(3)})${failed}${sqlFailed}`,
        )
      }
      console.log(`round ${round + 1}: ${line.join(', ')}`)
    }
  } finally {
    await server?.stop()
    await admin(url, `drop schema ${schema} cascade`)
    rmSync(dataDir, { recursive: true, force: true })
  }
  console.log(
    `\n## mailbox summary (median of round ratios, spread min–max; super-node store: ${store})`,
  )
  const sqlName = {
    put: 'batched INSERT',
    get: 'verify + batched SELECT',
    delete: 'verify + batched DELETE',
  }
  for (const op of OPS) {
    const ceiling = median(runs.sql[op].map((r) => r.rate))
    report(
      `mailbox ${op} (vs SQL ${sqlName[op]})`,
      ceiling * median(ratios[op]),
      ceiling,
      0.5,
      '/s',
      ratios[op],
    )
  }
  for (const op of OPS) reportRatio(`mailbox ${op} per server CPU-s (+PG)`, cpuRatios[op], 0.5)
  const ms = (list, key) => median(list.map((r) => r[key])).toFixed(3)
  for (const op of OPS) {
    console.log(
      `CPU per ${op} (median, ms): super-node ${ms(runs.ours[op], 'serverCpuMs')} + Postgres ${ms(runs.ours[op], 'pgCpuMs')}; ceiling ${ms(runs.sql[op], 'serverCpuMs')} + Postgres ${ms(runs.sql[op], 'pgCpuMs')}`,
    )
  }
}

if (process.argv[1] === SELF) {
  const [mode, a, b, c, d] = process.argv.slice(2)
  if (mode === 'super-node') await superNode(a, b, c)
  else if (mode === 'sql-client') {
    process.stdout.write(`${JSON.stringify(await sqlClient(a, b))}\n`)
    process.exit(0)
  } else if (mode === 'dht-client') {
    process.stdout.write(`${JSON.stringify(await dhtClient(a, Number(b), c, Number(d)))}\n`)
    process.exit(0)
  }
}
