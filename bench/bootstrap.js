// Issue 2 benchmark: POST /v1/announce with real signatures, on Postgres and on the embedded
// default (PGlite), against Fastify's hello world measured in the same run as the ceiling.
// Each server runs in its own process, and so does the load (autocannon in a child process of
// this file, `load` mode, with the announces signed beforehand by this process): the load
// generator's CPU is not the server's. Besides the rates, the server's CPU seconds per request
// (the node process; on Postgres also the backends serving its pool, see postgresCpuMeter) and
// the ratio per server CPU-second, steadier than wall-clock rates on a loaded machine.
// Postgres: database `passage_bench_bootstrap` (see benchDatabaseUrl), a fresh schema per run.
// BENCH_ROUNDS rounds (default 3) of BENCH_SECONDS (default 5) per server; medians of the
// per-round ratios and their spread (min–max). Goal: announce on Postgres >= 0.15 of hello.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Identity, announceToJson, createAnnounce, parseTextId } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { runChild } from './child.js'
import {
  benchDatabaseUrl,
  benchSchema,
  cpuSeconds,
  freePort,
  load,
  median,
  postgresCpuMeter,
  report,
  reportRatio,
  startProcess,
  startServerProcess,
} from './lib.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const IDENTITIES = 2_000 // distinct announcers, like a busy community node
const GOAL = 0.15 // announce on Postgres / Fastify hello world (issue 15's table)
const SERVER_APPLICATION_NAME = 'passage-server' // its pg pool's application_name
const SELF = fileURLToPath(import.meta.url)
let PG_URL // set by benchBootstrap: this suite's own database

async function startSuperNode(kind) {
  const env = { PASSAGE_LOG_LEVEL: 'warn', PASSAGE_RATE_LIMIT: '0', PASSAGE_DHT_PORT: '0' }
  const schema = kind === 'postgres' ? await benchSchema(PG_URL) : undefined
  if (schema) env.DATABASE_URL = schema.databaseUrl
  let server
  try {
    server = await startServerProcess(env)
  } catch (error) {
    await schema?.drop()
    throw error
  }
  const info = await (await fetch(`${server.url}/v1/info`)).json()
  return {
    url: server.url,
    audience: parseTextId(info.id),
    pid: server.pid,
    async stop() {
      await server.stop()
      await schema?.drop()
    },
  }
}

/** Enough freshly signed announces for one round, each with a growing seq. */
export function signAnnounces(identities, audience, count, seqBase) {
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

/**
 * Child (`load` mode): autocannon on `url` for SECONDS, POSTing the JSON bodies of `bodiesFile`
 * in turn when given (else GETs); prints `{ rps, failed, refused }`.
 */
async function loadChild(url, bodiesFile) {
  const bodies = bodiesFile ? JSON.parse(readFileSync(bodiesFile, 'utf8')) : undefined
  let next = 0
  const refused = {}
  const request = bodies
    ? {
        method: 'POST',
        path: '/v1/announce',
        headers: { 'content-type': 'application/json' },
        setupRequest: (r) => ({ ...r, body: bodies[next++ % bodies.length] }),
        onResponse: (status, body) => {
          if (status !== 200) refused[status] = String(body).slice(0, 160)
        },
      }
    : { method: 'GET', path: '/' }
  const result = await load({ url, duration: SECONDS, requests: [request] })
  return { ...result, refused }
}

/**
 * One load run from a child process against the server process `pid` (and, with `meter`, the
 * Postgres backends serving it): requests per second, and CPU seconds per request.
 */
async function measure(url, pid, { bodies, meter } = {}) {
  let bodiesFile
  if (bodies) {
    bodiesFile = join(mkdtempSync(join(tmpdir(), 'passage-bench-bodies-')), 'bodies.json')
    writeFileSync(bodiesFile, JSON.stringify(bodies))
  }
  try {
    await meter?.start()
    const cpu = cpuSeconds(pid)
    const result = await runChild([SELF, 'load', url, ...(bodiesFile ? [bodiesFile] : [])], {
      timeoutMs: SECONDS * 1000 + 60_000,
    })
    const nodeCpu = cpuSeconds(pid) - cpu
    const pgCpu = meter ? await meter.stop() : 0
    for (const [status, body] of Object.entries(result.refused ?? {})) {
      console.log(`  refused ${status}: ${body}`)
    }
    const requests = result.rps * SECONDS
    return {
      rps: result.rps,
      nodeCpuMs: (nodeCpu * 1000) / requests,
      pgCpuMs: (pgCpu * 1000) / requests,
      perCpuSecond: requests / (nodeCpu + pgCpu),
    }
  } finally {
    if (bodiesFile) rmSync(join(bodiesFile, '..'), { recursive: true, force: true })
  }
}

export async function benchBootstrap() {
  console.log(
    `\n# bootstrap: POST /v1/announce (real signatures), load from a child process, ${ROUNDS} rounds of ${SECONDS} s`,
  )
  PG_URL = await benchDatabaseUrl('bootstrap')
  const identities = Array.from({ length: IDENTITIES }, () => Identity.generate(libsignalKeys))
  const helloPort = await freePort()
  const hello = await startProcess(['bench/hello-server.js', String(helloPort)], {
    url: `http://127.0.0.1:${helloPort}/`,
  })
  const nodes = {
    postgres: await startSuperNode('postgres'),
    pglite: await startSuperNode('pglite'),
  }
  const meter = postgresCpuMeter(PG_URL, SERVER_APPLICATION_NAME)
  const kinds = ['postgres', 'pglite']
  const runs = { hello: [], postgres: [], pglite: [] }
  const ratios = { postgres: [], pglite: [] }
  const cpuRatios = { postgres: [], pglite: [], postgresNodeOnly: [] }
  try {
    let seqBase = 1
    for (let round = 0; round < ROUNDS; round++) {
      const ceiling = await measure(`http://127.0.0.1:${helloPort}/`, hello.child.pid)
      runs.hello.push(ceiling)
      for (const kind of kinds) {
        const node = nodes[kind]
        const count = Math.ceil(ceiling.rps * 0.3 * SECONDS * 1.5) // enough, never replayed
        const bodies = signAnnounces(identities, node.audience, count, seqBase)
        seqBase += 10_000_000
        const value = await measure(node.url, node.pid, {
          bodies,
          meter: kind === 'postgres' ? meter : undefined,
        })
        runs[kind].push(value)
        ratios[kind].push(value.rps / ceiling.rps)
        cpuRatios[kind].push(value.perCpuSecond / ceiling.perCpuSecond)
        if (kind === 'postgres') {
          const nodeOnly = 1000 / value.nodeCpuMs
          cpuRatios.postgresNodeOnly.push(nodeOnly / ceiling.perCpuSecond)
        }
      }
      const [h, p, l] = [runs.hello.at(-1), runs.postgres.at(-1), runs.pglite.at(-1)]
      console.log(
        `round ${round + 1}: hello ${h.rps.toFixed(0)}/s (server CPU ${h.nodeCpuMs.toFixed(3)} ms/req), postgres ${p.rps.toFixed(0)}/s (node ${p.nodeCpuMs.toFixed(3)} + Postgres ${p.pgCpuMs.toFixed(3)} ms/req), pglite ${l.rps.toFixed(0)}/s (node ${l.nodeCpuMs.toFixed(3)} ms/req)`,
      )
    }
  } finally {
    await Promise.all([hello.stop(), nodes.postgres.stop(), nodes.pglite.stop()])
  }
  const ceiling = median(runs.hello.map((r) => r.rps))
  const ms = (list, key) => median(list.map((r) => r[key])).toFixed(3)
  console.log('\n## bootstrap summary (median of round ratios, spread min–max)')
  report(
    'announce on Postgres',
    ceiling * median(ratios.postgres),
    ceiling,
    GOAL,
    '/s',
    ratios.postgres,
  )
  report(
    'announce on embedded PGlite (info)',
    ceiling * median(ratios.pglite),
    ceiling,
    undefined,
    '/s',
    ratios.pglite,
  )
  reportRatio('announce on Postgres per server CPU-s (+PG)', cpuRatios.postgres, GOAL)
  reportRatio('  node process alone per CPU-s (info)', cpuRatios.postgresNodeOnly)
  reportRatio('announce on PGlite per server CPU-s (info)', cpuRatios.pglite)
  console.log(
    `server CPU per request (median, ms): hello ${ms(runs.hello, 'nodeCpuMs')}; announce on Postgres: node ${ms(runs.postgres, 'nodeCpuMs')} + Postgres backends ${ms(runs.postgres, 'pgCpuMs')}; on PGlite ${ms(runs.pglite, 'nodeCpuMs')}`,
  )
}

if (process.argv[1] === SELF) {
  const [mode, url, bodiesFile] = process.argv.slice(2)
  if (mode === 'load') {
    process.stdout.write(`${JSON.stringify(await loadChild(url, bodiesFile))}\n`)
    process.exit(0)
  }
}
