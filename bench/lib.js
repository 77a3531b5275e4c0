// Shared helpers for the benchmarks: child processes, load from autocannon, medians, output.
// Benchmarks print ratios against ceilings measured in the same run, never absolute goals.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import autocannon from 'autocannon'

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

/** Prints a goal line: value / ceiling, and whether it meets the goal ratio. */
export function report(name, value, ceiling, goal, unit = '/s') {
  const ratio = value / ceiling
  const verdict =
    goal === undefined ? '' : ratio >= goal ? `  meets goal >= ${goal}` : `  BELOW goal >= ${goal}`
  console.log(
    `${name.padEnd(48)} ${fmt(value).padStart(10)}${unit}  ceiling ${fmt(ceiling).padStart(10)}${unit}  ratio ${ratio.toFixed(3)}${verdict}`,
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
