// The real `passage-server` program as a child process, started the way tap runs tests (the
// same node, TypeScript loader and export conditions), killed at teardown.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { TeardownHost } from './databases.js'

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url))
/**
 * Start-up of node + TypeScript loader + PGlite on a loaded 2-core machine: about 5 s quiet,
 * 72 s measured at load 15 (a CI machine shared with other work), so 120 s (under tap's
 * 240 s per file).
 */
const START_TIMEOUT_MS = 120_000

/** Spawns main.ts with `args`, its environment cleared of PASSAGE_* and DATABASE_URL but `env`. */
export function passageServer(args: string[], env: Record<string, string> = {}): ChildProcess {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => !key.startsWith('PASSAGE_') && key !== 'DATABASE_URL',
    ),
  )
  return spawn(process.execPath, [...process.execArgv, MAIN, ...args], {
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

/** The start-up log line (`server listening`): where the server is. */
export interface StartLine {
  url: string
  storage: string
  id: string
  dht?: { host: string; port: number }
  /** The DHT node's ID (its own key, per process). */
  dhtId?: string
}

export interface Program {
  child: ChildProcess
  start: StartLine
  /** Every JSON log line so far. */
  lines: Record<string, unknown>[]
  stderr(): string
  /** Resolves with the exit code and signal. */
  exited: Promise<[number | null, string | null]>
  /** Resolves when a log line with this `msg` appears. */
  logged(msg: string): Promise<void>
}

/** Starts passage-server and waits for its start-up line (killed at teardown if still running). */
export async function startProgram(
  t: TeardownHost,
  args: string[],
  env: Record<string, string>,
): Promise<Program> {
  const child = passageServer(args, env)
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  let stderr = ''
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  const lines: Record<string, unknown>[] = []
  const waiting: { msg: string; resolve: () => void }[] = []
  let buffered = ''
  let started: (() => void) | undefined
  child.stdout!.on('data', (chunk) => {
    buffered += chunk
    const parts = buffered.split('\n')
    buffered = parts.pop()!
    for (const part of parts) {
      const entry = JSON.parse(part) as Record<string, unknown>
      lines.push(entry)
      for (const w of waiting.filter((w) => w.msg === entry.msg)) w.resolve()
      if (typeof entry.url === 'string') started?.()
    }
  })
  const logged = (msg: string) =>
    lines.some((l) => l.msg === msg)
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiting.push({ msg, resolve }))
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    new Promise<void>((resolve) => (started = resolve)),
    exited.then(([code]) => {
      throw new Error(`exited with ${code}: ${stderr}`)
    }),
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no start-up line within ${START_TIMEOUT_MS} ms: ${stderr}`)),
        START_TIMEOUT_MS,
      )
    }),
  ]).finally(() => clearTimeout(timer))
  const start = lines.find((l) => typeof l.url === 'string') as unknown as StartLine
  return { child, start, lines, stderr: () => stderr, exited, logged }
}
