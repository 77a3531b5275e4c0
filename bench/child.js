// Child processes for the DHT and mailbox benchmarks: one-shot workers that print one JSON
// line, and servers that print one JSON line (their address) once ready.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { stopProcess } from './lib.js'

function start(args) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr += chunk))
  return { child, stderr: () => stderr }
}

/** Runs `node args` to the end (at most `timeoutMs`) and returns its last stdout line, parsed. */
export async function runChild(args, { timeoutMs = 120_000 } = {}) {
  const { child, stderr } = start(args)
  let stdout = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code, signal] = await once(child, 'exit')
  clearTimeout(timer)
  const last = stdout.trim().split('\n').at(-1)
  if (!last) throw new Error(`${args.join(' ')} exited ${code ?? signal}: ${stderr()}`)
  return JSON.parse(last)
}

/**
 * Starts a long-running `node args` and resolves with the JSON object it prints on its first
 * stdout line (e.g. its UDP port), and a `stop()`.
 */
export async function startChild(args, { timeoutMs = 60_000 } = {}) {
  const { child, stderr } = start(args)
  const lines = createInterface({ input: child.stdout })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  try {
    const first = await Promise.race([
      once(lines, 'line').then(([line]) => line),
      once(child, 'exit').then(([code]) => {
        throw new Error(`${args.join(' ')} exited ${code}: ${stderr()}`)
      }),
    ])
    return { info: JSON.parse(first), child, stop: () => stopProcess(child) }
  } finally {
    clearTimeout(timer)
  }
}
