// Issue 3 benchmark: mailbox puts, gets and deletes answered per second by a super-node's DHT
// node on Postgres, against single-row INSERT / SELECT by key / DELETE by key through `pg` on 8
// connections (the server's pool size) measured in the same run as the ceilings. The super-node
// runs in its own process; the load comes from a DHT client in another process with 64 requests
// in flight (owner-signed gets and deletes, as a phone sends them); the ceiling's load also runs
// in its own process. Everything lives in a fresh schema of db `test`, dropped afterwards.
// Goal: 0.5 of each ceiling or more.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { runChild, startChild } from './child.js'
import { cpuSeconds, median, report } from './lib.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_MAILBOX_SECONDS ?? 2) // per operation and round
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const IN_FLIGHT = 64 // DHT requests in flight from the client
const CONNECTIONS = 8 // the ceiling's connections, as the server's pool
const OWNERS = 64 // mailboxes written to (one per client worker)
const ENVELOPE_BYTES = 512 // a sealed text message: one fragment
const TTL_SECONDS = 3_600
const HOST = '127.0.0.1'
const SELF = fileURLToPath(import.meta.url)
const OPS = ['put', 'get', 'delete']

const schemaUrl = (schema) => `${PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`

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

// ------------------------------------------------------------------ the ceiling (child process)

async function sqlClient(schema) {
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const client = new pg.Client(schemaUrl(schema))
      await client.connect()
      return client
    }),
  )
  const mailboxes = Array.from({ length: OWNERS }, () => randomBytes(20))
  const rows = Array.from({ length: CONNECTIONS }, () => [])
  const now = Date.now()
  const out = {}
  out.put = await timed(CONNECTIONS, async (w) => {
    const key = mailboxes[(w + rows[w].length * CONNECTIONS) % OWNERS]
    const id = randomBytes(16)
    await clients[w].query(
      'insert into ceiling (mailbox_key, id, data, size, source, stored_at, expires_at) values ($1, $2, $3, $4, $5, $6, $7)',
      [key, id, randomBytes(ENVELOPE_BYTES), ENVELOPE_BYTES, HOST, now, now + TTL_SECONDS * 1000],
    )
    rows[w].push([key, id])
  })
  const cursor = new Array(CONNECTIONS).fill(0)
  out.get = await timed(CONNECTIONS, async (w) => {
    const row = rows[w][cursor[w]++ % rows[w].length]
    const { rows: found } = await clients[w].query(
      'select * from ceiling where mailbox_key = $1 and id = $2',
      row,
    )
    if (found.length !== 1) throw new Error('row not found')
  })
  cursor.fill(0)
  out.delete = await timed(CONNECTIONS, async (w) => {
    const row = rows[w][cursor[w]++]
    if (!row) return false
    await clients[w].query('delete from ceiling where mailbox_key = $1 and id = $2', row)
  })
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
async function superNode(schema, dataDir) {
  const server = await import('@passage/server')
  const sdk = await import('@passage/sdk')
  const { bindUdpSocket, libsignalKeys } = await import('@passage/sdk/node')
  let info
  const running = await server.startServer({
    config: server.defaultConfig({
      httpHost: HOST,
      httpPort: 0,
      databaseUrl: schemaUrl(schema),
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
    const { store, kind } = await openMailboxStore(server, schema, dataDir)
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

async function openMailboxStore(server, schema, dataDir) {
  if (server.PostgresMailboxStore) {
    const database = await server.openDatabase({ databaseUrl: schemaUrl(schema), dataDir })
    return { store: new server.PostgresMailboxStore(database.db), kind: 'postgres (DhtNode)' }
  }
  const { MemoryMailboxStore } = await import('@passage/sdk')
  return { store: new MemoryMailboxStore(), kind: 'memory' }
}

// ------------------------------------------------------------------ the DHT client (child process)

async function dhtClient(port, idHex, serverPid) {
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
  // Also the super-node's CPU time per operation: is it busy itself or waiting on Postgres?
  const phase = async (op, fn) => {
    const cpu = cpuSeconds(serverPid)
    out[op] = await timed(IN_FLIGHT, fn)
    out[op].serverCpuMs = ((cpuSeconds(serverPid) - cpu) * 1000) / out[op].done
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

async function admin(sql) {
  const client = new pg.Client(PG_URL)
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

export async function benchMailbox() {
  console.log(
    `\n# mailbox: ${ENVELOPE_BYTES}-byte envelopes, ${IN_FLIGHT} DHT requests in flight vs single-row SQL on ${CONNECTIONS} pg connections, ${ROUNDS} rounds of ${SECONDS} s per operation`,
  )
  const schema = `bench_mailbox_${process.pid}_${Date.now()}`
  const dataDir = mkdtempSync(join(tmpdir(), 'passage-bench-mailbox-'))
  await admin(`create schema ${schema}`)
  let server
  const rates = { ours: { put: [], get: [], delete: [] }, sql: { put: [], get: [], delete: [] } }
  const ratios = { put: [], get: [], delete: [] }
  const serverCpu = { put: [], get: [], delete: [] }
  let store = 'unknown'
  try {
    await admin(`create table ${schema}.ceiling (
      mailbox_key bytea not null, id bytea not null, data bytea not null, size int not null,
      source text not null, stored_at bigint not null, expires_at bigint not null,
      primary key (mailbox_key, id))`)
    server = await startChild([SELF, 'super-node', schema, dataDir])
    store = server.info.store
    if (!store.startsWith('postgres')) {
      console.log(
        'NOTE: no Postgres mailbox store in @passage/server yet: the super-node runs on the SDK MemoryMailboxStore',
      )
    }
    for (let round = 0; round < ROUNDS; round++) {
      const sql = await runChild([SELF, 'sql-client', schema], {
        timeoutMs: SECONDS * 6_000 + 30_000,
      })
      const ours = await runChild(
        [SELF, 'dht-client', String(server.info.port), server.info.id, String(server.child.pid)],
        {
          timeoutMs: SECONDS * 6_000 + 30_000,
        },
      )
      const line = []
      for (const op of OPS) {
        rates.sql[op].push(sql[op].rate)
        rates.ours[op].push(ours[op].rate)
        ratios[op].push(ours[op].rate / sql[op].rate)
        const failed = ours[op].failed ? ` (${ours[op].failed} failed: ${ours[op].firstError})` : ''
        serverCpu[op].push(ours[op].serverCpuMs)
        line.push(
          `${op} ${ours[op].rate.toFixed(0)}/s vs SQL ${sql[op].rate.toFixed(0)}/s (super-node CPU ${ours[op].serverCpuMs.toFixed(2)} ms/op)${failed}`,
        )
      }
      console.log(`round ${round + 1}: ${line.join(', ')}`)
    }
  } finally {
    await server?.stop()
    await admin(`drop schema ${schema} cascade`)
    rmSync(dataDir, { recursive: true, force: true })
  }
  console.log(`\n## mailbox summary (median of round ratios; super-node store: ${store})`)
  const sqlName = { put: 'INSERT', get: 'SELECT by key', delete: 'DELETE by key' }
  for (const op of OPS) {
    const ceiling = median(rates.sql[op])
    report(`mailbox ${op} (vs SQL ${sqlName[op]})`, ceiling * median(ratios[op]), ceiling, 0.5)
  }
  console.log(
    `super-node CPU per operation (median, ms): ${OPS.map((op) => `${op} ${median(serverCpu[op]).toFixed(2)}`).join(', ')}`,
  )
}

if (process.argv[1] === SELF) {
  const [mode, a, b, c] = process.argv.slice(2)
  if (mode === 'super-node') await superNode(a, b)
  else if (mode === 'sql-client') {
    process.stdout.write(`${JSON.stringify(await sqlClient(a))}\n`)
    process.exit(0)
  } else if (mode === 'dht-client') {
    process.stdout.write(`${JSON.stringify(await dhtClient(Number(a), b, Number(c)))}\n`)
    process.exit(0)
  }
}
