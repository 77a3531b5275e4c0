// Issue 15 benchmark, scale-out: POST /v1/announce (real signatures, as bench/bootstrap.js)
// on one `passage-server` process against two, both on ONE Postgres schema (the same
// DATABASE_URL; each process its own --data-dir, hence its own DHT node key and port).
// The two processes start once and stay up; what changes is where the load goes. The load
// always comes from two autocannon child processes with half the connections each
// (BENCH_SCALE_CONNECTIONS in all, default 32: enough to keep one process busy, so the question
// is what two can take, not how fast 10 clients wait on one), signed beforehand by this
// process, each child with its own half of the announcers: for "1 process" both children
// load process A (B idles), for "2 processes" one loads A and one B. Their rates are summed,
// so the load generator is the same in both and only the servers differ.
// Two variants: `free` (the kernel places everything), and `pinned` ("a core each":
// taskset puts process A on one CPU and B on another; the load children and Postgres float
// over all CPUs, so on a 2-core machine they take from the servers' cores: this shows what
// a second process adds when each has a core of its own, not a clean 2x, which needs cores
// for Postgres and the load besides). BENCH_SCALE_PIN=0 skips it; so does a machine with
// one CPU or without taskset.
// Per round and variant: the summed rates for 1 and 2 processes and their ratio 2/1 (the
// goal: >= 1.0 on the free variant); CPU ms per request of the node processes (both, the
// idle one included) and of the Postgres backends serving them (see postgresCpuMeter); the
// load children's own CPU and how many of the machine's cores were busy (from /proc/stat:
// the other tenants of a shared machine count too); and announces per insert statement
// (the put batching, from the processes' /metrics: one statement for a whole batch).
// Postgres: database `passage_bench_scale` (see benchDatabaseUrl), a fresh schema per run.
// BENCH_ROUNDS rounds (default 3) of BENCH_SECONDS (default 5) per measurement; medians of
// the per-round ratios and their spread (min–max).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Identity, parseTextId } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { signAnnounces } from './bootstrap.js'
import { runChild } from './child.js'
import {
  benchDatabaseUrl,
  benchSchema,
  cpuSeconds,
  fmt,
  load,
  median,
  postgresCpuMeter,
  reportRatio,
  startServerProcess,
} from './lib.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const CONNECTIONS = Number(process.env.BENCH_SCALE_CONNECTIONS ?? 32) // in all, half per child
const PIN = process.env.BENCH_SCALE_PIN !== '0'
const IDENTITIES = 2_000 // distinct announcers (as bootstrap), half per load child
const GOAL = 1.0 // 2 processes / 1 on this machine, unpinned (issue 15)
const WARMUP_SECONDS = 2 // JIT, pools and the first estimate of the rate
const FIRST_GUESS_RPS = 4_000 // announces signed for the warm-up, per child and second
const MAX_ATTEMPTS = 3 // runs of one measurement when its signed announces ran out
const SERVER_APPLICATION_NAME = 'passage-server' // its pg pool's application_name
const SELF = fileURLToPath(import.meta.url)

/** Starts `count` server processes on one fresh schema of `pgUrl`, one after the other. */
async function startSuperNodes(pgUrl, count) {
  const schema = await benchSchema(pgUrl)
  const env = {
    PASSAGE_LOG_LEVEL: 'warn',
    PASSAGE_RATE_LIMIT: '0',
    PASSAGE_DHT_PORT: '0', // each its own DHT node, on a port of its own
    DATABASE_URL: schema.databaseUrl,
  }
  const nodes = []
  const stopAll = async () => {
    await Promise.all(nodes.map((node) => node.stop()))
    await schema.drop()
  }
  try {
    for (let i = 0; i < count; i++) {
      const node = await startServerProcess(env)
      nodes.push(node)
      node.info = await (await fetch(`${node.url}/v1/info`)).json()
    }
  } catch (error) {
    await stopAll()
    throw error
  }
  const [first, ...others] = nodes
  for (const other of others) {
    if (other.info.id !== first.info.id) throw new Error('the processes disagree on the server ID')
    if (other.info.dht?.id === first.info.dht?.id) throw new Error('two processes, one DHT node')
  }
  return { nodes, audience: parseTextId(first.info.id), stop: stopAll }
}

/**
 * Child (`load` mode): autocannon with `connections` on `url` for `seconds`, POSTing the
 * announces of `bodiesFile` in turn; prints `{ rps, failed, refused, cpuSeconds, exhausted }`:
 * its own CPU (what the load generator took from the machine), and whether it ran out of
 * announces (then it sent some twice, refused as replays).
 */
async function loadChild(url, bodiesFile, connections, seconds) {
  const bodies = JSON.parse(readFileSync(bodiesFile, 'utf8'))
  let next = 0
  const refused = {}
  const start = process.cpuUsage()
  const result = await load({
    url,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/v1/announce',
        headers: { 'content-type': 'application/json' },
        setupRequest: (r) => ({ ...r, body: bodies[next++ % bodies.length] }),
        onResponse: (status, body) => {
          if (status !== 200) refused[status] = String(body).slice(0, 160)
        },
      },
    ],
  })
  const { user, system } = process.cpuUsage(start)
  // Past the end the bodies come round again, as replays (409): the run must be redone.
  return { ...result, refused, cpuSeconds: (user + system) / 1e6, exhausted: next > bodies.length }
}

/** Busy and total clock ticks of the whole machine so far (first line of /proc/stat). */
function machineTicks() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1)
  const ticks = fields.map(Number)
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0) // user … steal (guest is in user)
  const idle = ticks[3] + ticks[4] // idle + iowait
  return { busy: total - idle, total }
}

/** Announces accepted and insert statements run so far, from one process's /metrics. */
async function batchCounters(url) {
  const text = await (await fetch(`${url}/metrics`)).text()
  let accepted = 0
  let inserts = 0
  for (const line of text.split('\n')) {
    if (line.startsWith('passage_announces_total{') && line.includes('result="accepted"')) {
      accepted += Number(line.split(' ').at(-1))
    }
    if (
      line.startsWith('passage_storage_query_duration_seconds_count{') &&
      line.includes('operation="insert"')
    ) {
      inserts += Number(line.split(' ').at(-1))
    }
  }
  return { accepted, inserts }
}

async function sumCounters(nodes) {
  const all = await Promise.all(nodes.map((node) => batchCounters(node.url)))
  return all.reduce((a, b) => ({
    accepted: a.accepted + b.accepted,
    inserts: a.inserts + b.inserts,
  }))
}

/**
 * One measurement: the two load children, one on each of `targets` (the same node twice for
 * "1 process"), for `seconds`, each POSTing its own `bodies[i]`. Summed rate; CPU per request
 * of every node process in `nodes` and of the Postgres backends; load and machine figures.
 */
async function measure(targets, nodes, bodies, meter, seconds = SECONDS) {
  const dir = mkdtempSync(join(tmpdir(), 'passage-bench-scale-bodies-'))
  try {
    const files = bodies.map((list, i) => {
      const file = join(dir, `bodies-${i}.json`)
      writeFileSync(file, JSON.stringify(list))
      return file
    })
    const half = Math.max(1, Math.round(CONNECTIONS / 2))
    const counters = await sumCounters(nodes)
    await meter.start()
    const cpu = nodes.map((node) => cpuSeconds(node.pid))
    const machine = machineTicks()
    const results = await Promise.all(
      targets.map((node, i) =>
        runChild([SELF, 'load', node.url, files[i], String(half), String(seconds)], {
          timeoutMs: seconds * 1000 + 60_000,
        }),
      ),
    )
    const machineAfter = machineTicks()
    const nodeCpu = nodes.reduce((sum, node, i) => sum + cpuSeconds(node.pid) - cpu[i], 0)
    const pgCpu = await meter.stop()
    const countersAfter = await sumCounters(nodes)
    for (const result of results) {
      for (const [status, body] of Object.entries(result.refused ?? {})) {
        console.log(`  refused ${status}: ${body}`)
      }
    }
    const rps = results.reduce((sum, r) => sum + r.rps, 0)
    const requests = rps * seconds
    const loaderCpu = results.reduce((sum, r) => sum + r.cpuSeconds, 0)
    const inserts = countersAfter.inserts - counters.inserts
    return {
      exhausted: results.some((r) => r.exhausted),
      rps,
      failed: results.reduce((sum, r) => sum + r.failed, 0),
      nodeCpuMs: (nodeCpu * 1000) / requests,
      pgCpuMs: (pgCpu * 1000) / requests,
      loaderCpuMs: (loaderCpu * 1000) / requests,
      perCpuSecond: requests / (nodeCpu + pgCpu),
      coresBusy:
        ((machineAfter.busy - machine.busy) / (machineAfter.total - machine.total)) * machineCpus(),
      perInsert: inserts > 0 ? (countersAfter.accepted - counters.accepted) / inserts : Number.NaN,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** CPUs of the whole machine (as /proc/stat counts them), not only those we may use. */
function machineCpus() {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n')
  return lines.filter((line) => /^cpu\d+ /.test(line)).length
}

/** The CPUs this process may run on (`taskset -c -p`), e.g. `[0, 1]`; undefined without taskset. */
function allowedCpus() {
  try {
    const out = execFileSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' })
    const list = out.split(':').at(-1).trim()
    return list.split(',').flatMap((part) => {
      const [from, to = from] = part.split('-').map(Number)
      return Array.from({ length: to - from + 1 }, (_, i) => from + i)
    })
  } catch {
    return undefined
  }
}

/** Pins every thread of `pid` to `cpus` (a taskset list, e.g. `1` or `0,1`). */
function pin(pid, cpus) {
  execFileSync('taskset', ['-a', '-c', '-p', cpus, String(pid)], { stdio: 'ignore' })
}

function describe(m) {
  return `${fmt(m.rps)}/s (node ${m.nodeCpuMs.toFixed(3)} + Postgres ${m.pgCpuMs.toFixed(3)} ms/req; load ${m.loaderCpuMs.toFixed(3)} ms/req; ${m.coresBusy.toFixed(2)} cores busy; ${m.perInsert.toFixed(1)} announces/insert${m.failed ? `; ${m.failed} refused` : ''})`
}

export async function benchScale() {
  const cpus = allowedCpus()
  const pinning = PIN && cpus !== undefined && cpus.length >= 2
  const variants = pinning ? ['free', 'pinned'] : ['free']
  console.log(
    `\n# scale: POST /v1/announce on 1 vs 2 server processes on one Postgres schema, ${CONNECTIONS} connections from 2 load processes, ${ROUNDS} rounds of ${SECONDS} s; variants: ${variants.join(', ')}`,
  )
  if (!pinning) {
    const why = !PIN ? 'BENCH_SCALE_PIN=0' : cpus === undefined ? 'no taskset' : 'one CPU'
    console.log(`(pinned variant skipped: ${why})`)
  }
  const pgUrl = await benchDatabaseUrl('scale')
  const identities = Array.from({ length: IDENTITIES }, () => Identity.generate(libsignalKeys))
  // Each load child announces for its own half: no announcer's seqs race between children.
  const halves = [0, 1].map((h) => identities.filter((_, i) => i % 2 === h))
  const pair = await startSuperNodes(pgUrl, 2)
  const [a, b] = pair.nodes
  const meter = postgresCpuMeter(pgUrl, SERVER_APPLICATION_NAME)
  let seqBase = 1
  const sign = (count) => {
    const bodies = halves.map((half) => signAnnounces(half, pair.audience, count, seqBase))
    seqBase += 10_000_000
    return bodies
  }
  const runs = Object.fromEntries(variants.map((v) => [v, { one: [], two: [] }]))
  try {
    const warmup = await measure(
      [a, b],
      pair.nodes,
      sign(FIRST_GUESS_RPS * WARMUP_SECONDS),
      meter,
      WARMUP_SECONDS,
    )
    let expected = warmup.rps // the best summed rate so far: sizes the next signing
    for (let round = 0; round < ROUNDS; round++) {
      for (const variant of variants) {
        const all = cpus?.join(',')
        if (pinning) {
          pin(a.pid, variant === 'pinned' ? String(cpus[0]) : all)
          pin(b.pid, variant === 'pinned' ? String(cpus[1]) : all)
        }
        // Alternate which goes first, so neither always runs on a warmer table.
        const order = round % 2 === 0 ? ['one', 'two'] : ['two', 'one']
        for (const setup of order) {
          const targets = setup === 'one' ? [a, a] : [a, b]
          // A child may take more than its half (its process the faster one), and a warmer
          // run beat the best so far: 1.2 x the best summed rate for each child. A child that
          // ran out of announces (it would replay them) has its run redone with three times
          // as many, at most MAX_ATTEMPTS times.
          let count = Math.ceil(expected * SECONDS * 1.2)
          let value
          for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
            value = await measure(targets, pair.nodes, sign(count), meter)
            expected = Math.max(expected, value.rps)
            if (!value.exhausted) break
            console.log(
              `  (${variant} ${setup}: ${count} announces per load process ran out; again)`,
            )
            count *= 3
          }
          runs[variant][setup].push(value)
        }
        const { one, two } = runs[variant]
        console.log(
          `round ${round + 1} ${variant}: 1 process ${describe(one.at(-1))}; 2 processes ${describe(two.at(-1))}; 2/1 ${(two.at(-1).rps / one.at(-1).rps).toFixed(3)}`,
        )
      }
    }
  } finally {
    if (pinning) for (const node of pair.nodes) pin(node.pid, cpus.join(','))
    await pair.stop()
  }
  console.log('\n## scale summary (median of round ratios, spread min–max)')
  for (const variant of variants) {
    const { one, two } = runs[variant]
    const label = variant === 'free' ? 'free' : 'pinned, a core each'
    reportRatio(
      `announce, 2 processes / 1 (${label})`,
      two.map((t, i) => t.rps / one[i].rps),
      variant === 'free' ? GOAL : undefined,
    )
    reportRatio(
      `  per server CPU-s (node + PG), 2/1 (info)`,
      two.map((t, i) => t.perCpuSecond / one[i].perCpuSecond),
    )
    const m = (list, key, digits = 3) => median(list.map((r) => r[key])).toFixed(digits)
    for (const [name, list] of [
      ['1 process', one],
      ['2 processes', two],
    ]) {
      console.log(
        `  ${variant} ${name}: ${fmt(median(list.map((r) => r.rps)))}/s; CPU per request (median, ms): node ${m(list, 'nodeCpuMs')} + Postgres ${m(list, 'pgCpuMs')}, load ${m(list, 'loaderCpuMs')}; ${m(list, 'coresBusy', 2)} of ${machineCpus()} cores busy; ${m(list, 'perInsert', 1)} announces/insert`,
      )
    }
  }
}

if (process.argv[1] === SELF) {
  const [mode, url, bodiesFile, connections, seconds] = process.argv.slice(2)
  if (mode === 'load') {
    const result = await loadChild(url, bodiesFile, Number(connections), Number(seconds))
    process.stdout.write(`${JSON.stringify(result)}\n`)
    process.exit(0)
  }
}
