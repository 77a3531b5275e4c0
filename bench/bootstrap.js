// Issue 2 benchmark: POST /v1/announce with real signatures, on Postgres and on the embedded
// default (PGlite), against Fastify's hello world measured in the same run as the ceiling.
// Load comes from this process (autocannon); each server runs in its own process.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { Identity, announceToJson, createAnnounce, parseTextId } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { freePort, load, median, report, startProcess } from './lib.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const IDENTITIES = 2_000 // distinct announcers, like a busy community node
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

async function startSuperNode(kind) {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'passage-bench-'))
  const env = { PASSAGE_LOG_LEVEL: 'warn', PASSAGE_RATE_LIMIT: '0', PASSAGE_DHT_PORT: '0' }
  let schema
  if (kind === 'postgres') {
    schema = `bench_${process.pid}_${Date.now()}`
    const client = new pg.Client(PG_URL)
    await client.connect()
    await client.query(`CREATE SCHEMA ${schema}`)
    await client.end()
    env.DATABASE_URL = `${PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`
  }
  const server = await startProcess(
    [
      'server/dist/main.js',
      '--http-host',
      '127.0.0.1',
      '--http-port',
      String(port),
      '--data-dir',
      dataDir,
    ],
    { env, url: `http://127.0.0.1:${port}/readyz`, timeoutMs: 60_000 },
  )
  const info = await (await fetch(`http://127.0.0.1:${port}/v1/info`)).json()
  return {
    url: `http://127.0.0.1:${port}`,
    audience: parseTextId(info.id),
    async stop() {
      await server.stop()
      rmSync(dataDir, { recursive: true, force: true })
      if (schema) {
        const client = new pg.Client(PG_URL)
        await client.connect()
        await client.query(`DROP SCHEMA ${schema} CASCADE`)
        await client.end()
      }
    },
  }
}

/** Enough freshly signed announces for one round, each with a growing seq. */
function signAnnounces(identities, audience, count, seqBase) {
  const bodies = []
  const now = Date.now()
  for (let i = 0; i < count; i++) {
    const identity = identities[i % identities.length]
    const announce = createAnnounce(identity, {
      audience,
      seq: seqBase + i,
      timestamp: now,
      addresses: [{ transport: 'tcp', host: '', port: 7400 + (i % 1000) }],
    })
    bodies.push(JSON.stringify(announceToJson(announce)))
  }
  return bodies
}

async function announceLoad(node, identities, seqBase, expectedRps) {
  const bodies = signAnnounces(
    identities,
    node.audience,
    Math.ceil(expectedRps * SECONDS * 1.5),
    seqBase,
  )
  let next = 0
  const statuses = new Map()
  const result = await load({
    url: node.url,
    duration: SECONDS,
    requests: [
      {
        method: 'POST',
        path: '/v1/announce',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
        onResponse: (status, body) => {
          if (status !== 200) statuses.set(status, body)
        },
      },
    ],
  })
  for (const [status, body] of statuses) console.log(`  refused ${status}: ${body.slice(0, 160)}`)
  return result.rps
}

export async function benchBootstrap() {
  console.log(
    `\n# bootstrap: POST /v1/announce (real signatures), ${ROUNDS} rounds of ${SECONDS} s`,
  )
  const identities = Array.from({ length: IDENTITIES }, () => Identity.generate(libsignalKeys))
  const helloPort = await freePort()
  const hello = await startProcess(['bench/hello-server.js', String(helloPort)], {
    url: `http://127.0.0.1:${helloPort}/`,
  })
  const nodes = {
    postgres: await startSuperNode('postgres'),
    pglite: await startSuperNode('pglite'),
  }
  const ratios = { postgres: [], pglite: [] }
  const rps = { hello: [], postgres: [], pglite: [] }
  try {
    let seqBase = 1
    for (let round = 0; round < ROUNDS; round++) {
      const ceiling = (await load({ url: `http://127.0.0.1:${helloPort}/`, duration: SECONDS })).rps
      rps.hello.push(ceiling)
      for (const kind of ['postgres', 'pglite']) {
        const value = await announceLoad(nodes[kind], identities, seqBase, ceiling * 0.25)
        seqBase += 10_000_000
        rps[kind].push(value)
        ratios[kind].push(value / ceiling)
      }
      console.log(
        `round ${round + 1}: hello ${rps.hello.at(-1).toFixed(0)}/s, postgres ${rps.postgres.at(-1).toFixed(0)}/s, pglite ${rps.pglite.at(-1).toFixed(0)}/s`,
      )
    }
  } finally {
    await Promise.all([hello.stop(), nodes.postgres.stop(), nodes.pglite.stop()])
  }
  const ceiling = median(rps.hello)
  report(
    'announce on Postgres (median of round ratios)',
    ceiling * median(ratios.postgres),
    ceiling,
    0.12,
  )
  report(
    'announce on embedded PGlite (median of round ratios)',
    ceiling * median(ratios.pglite),
    ceiling,
  )
}
