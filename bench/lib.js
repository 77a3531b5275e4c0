// Shared helpers for the benchmarks: child processes, load from autocannon, medians, output,
// CPU time of processes (ours and Postgres backends), the benches' own Postgres database.
// Benchmarks print ratios against ceilings measured in the same run, never absolute goals.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import pg from 'pg'

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  server.close()
  await once(server, 'close')
  return port
}

/**
 * A fresh schema of the bench database `pgUrl`: `databaseUrl` connects to it (its search
 * path), `drop()` removes it with everything in it.
 */
export async function benchSchema(pgUrl) {
  const schema = `bench_${process.pid}_${Date.now()}`
  const run = async (sql) => {
    const client = new pg.Client(pgUrl)
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }
  await run(`CREATE SCHEMA ${schema}`)
  return {
    databaseUrl: `${pgUrl}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    drop: () => run(`DROP SCHEMA ${schema} CASCADE`),
  }
}

/**
 * A `passage-server` process on 127.0.0.1 (a free HTTP port, a fresh data folder, the `env`
 * given), once `/readyz` answers: its `url`, `pid`, and `stop()`, which removes the folder too.
 */
export async function startServerProcess(env) {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'passage-bench-'))
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true })
  const args = ['server/dist/main.js', '--http-host', '127.0.0.1', '--http-port', String(port)]
  let server
  try {
    server = await startProcess([...args, '--data-dir', dataDir], {
      env,
      url: `http://127.0.0.1:${port}/readyz`,
      timeoutMs: 60_000,
    })
  } catch (error) {
    removeDir()
    throw error
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pid: server.child.pid,
    async stop() {
      await server.stop()
      removeDir()
    },
  }
}

/** Starts `node args` and waits until `url` answers 200, at most `timeoutMs`. */
export async function startProcess(args, { env = {}, url, timeoutMs = 30_000 } = {}) {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited: ${stderr}`)
    try {
      const res = await fetch(url)
      if (res.ok) return { child, stop: () => stopProcess(child) }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`${url} did not answer within ${timeoutMs} ms: ${stderr}`)
}

export async function stopProcess(child) {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await once(child, 'exit')
  clearTimeout(timer)
}

/** Runs autocannon for `seconds` and returns requests per second (2xx only). */
export async function load(options) {
  const result = await autocannon({ connections: 10, duration: 5, ...options })
  const ok = result['2xx']
  const bad = result.non2xx + result.errors + result.timeouts
  if (bad > 0 && ok === 0) throw new Error(`every request failed (${bad})`)
  return { rps: ok / (result.duration || options.duration || 5), failed: bad }
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

export function fmt(n, digits = 0) {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

/** `min–max` of a list of ratios (the spread over rounds), e.g. `0.412–0.468`. */
export function spread(ratios, digits = 3) {
  return `${Math.min(...ratios).toFixed(digits)}–${Math.max(...ratios).toFixed(digits)}`
}

/**
 * Prints a goal line: value / ceiling, and whether it meets the goal ratio. With `ratios` (the
 * per-round ratios the value's ratio is the median of), also their spread, min–max.
 */
export function report(name, value, ceiling, goal, unit = '/s', ratios = undefined) {
  const ratio = value / ceiling
  const range = ratios ? `  spread ${spread(ratios)} (${ratios.length} rounds)` : ''
  const verdict =
    goal === undefined ? '' : ratio >= goal ? `  meets goal >= ${goal}` : `  BELOW goal >= ${goal}`
  console.log(
    `${name.padEnd(48)} ${fmt(value).padStart(10)}${unit}  ceiling ${fmt(ceiling).padStart(10)}${unit}  ratio ${ratio.toFixed(3)}${range}${verdict}`,
  )
}

/**
 * Prints a ratio line without absolute figures (e.g. per server CPU-second): the median of the
 * per-round ratios, their spread, and the verdict against `goal` (a lower bound).
 */
export function reportRatio(name, ratios, goal) {
  const ratio = median(ratios)
  const verdict =
    goal === undefined ? '' : ratio >= goal ? `  meets goal >= ${goal}` : `  BELOW goal >= ${goal}`
  console.log(
    `${name.padEnd(48)} ratio ${ratio.toFixed(3)}  spread ${spread(ratios)} (${ratios.length} rounds)${verdict}`,
  )
}

const CLOCK_TICKS_PER_SECOND = 100 // USER_HZ of /proc/<pid>/stat on Linux

/** CPU seconds process `pid` used so far (Linux: utime + stime from /proc, in clock ticks). */
export function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND
  } catch {
    return Number.NaN
  }
}

/** The benches' Postgres server and base database name; never the tests' shared `test`. */
const BENCH_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/passage_bench'

/**
 * The URL of the database of one suite (`passage_bench_<suite>` by default: the base name in
 * BENCH_DATABASE_URL with `_<suite>` appended), created first if missing (through the server's
 * `postgres` database). Each suite has its own: its backends are told apart from others', and
 * the tests' `test` database is never touched.
 */
export async function benchDatabaseUrl(suite) {
  const url = new URL(BENCH_DATABASE_URL)
  const name = `${url.pathname.slice(1) || 'passage_bench'}_${suite}`
  url.pathname = `/${name}`
  const maintenance = new URL(url)
  maintenance.pathname = '/postgres'
  const client = new pg.Client(maintenance.toString())
  await client.connect()
  try {
    const { rows } = await client.query('select 1 from pg_database where datname = $1', [name])
    if (rows.length === 0) {
      try {
        await client.query(`create database "${name}"`)
      } catch (error) {
        if (error.code !== '42P04') throw error // created meanwhile by another run: fine
      }
    }
  } finally {
    await client.end()
  }
  return url.toString()
}

/**
 * CPU time of the Postgres backends serving database `url` for clients named
 * `applicationName` (pg_stat_activity gives their pids; /proc/<pid>/stat their CPU time:
 * Postgres must run on this machine). `start()` then `stop()` returns the CPU seconds they
 * used in between: backends connected meanwhile count in full; a backend that exited
 * meanwhile is lost (the pools here keep theirs while loaded).
 */
export function postgresCpuMeter(url, applicationName) {
  let before = new Map()
  const sample = async () => {
    const client = new pg.Client(url)
    await client.connect()
    try {
      const { rows } = await client.query(
        'select pid from pg_stat_activity where datname = current_database() and application_name = $1 and pid <> pg_backend_pid()',
        [applicationName],
      )
      return new Map(rows.map(({ pid }) => [pid, cpuSeconds(pid)]))
    } finally {
      await client.end()
    }
  }
  return {
    async start() {
      before = await sample()
    },
    async stop() {
      const after = await sample()
      let seconds = 0
      for (const [pid, cpu] of after) {
        if (Number.isFinite(cpu)) seconds += cpu - (before.get(pid) ?? 0)
      }
      return seconds
    },
  }
}
