import { homedir } from 'node:os'
import { createInterface } from 'node:readline'

/** Somewhere to write text: process.stdout, or a buffer in tests. */
export interface TextSink {
  write(text: string): unknown
  isTTY?: boolean
}

/**
 * Everything a command touches outside its arguments, passed in so tests can capture the
 * output and set the environment without touching the real process.
 */
export interface CliIo {
  stdout: TextSink
  stderr: TextSink
  env: Record<string, string | undefined>
  /** The user's home folder, for the default `~/.passage`. */
  homedir: string
  /** Where answers to questions come from (absent: nobody to ask, as in CI). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean }
}

/**
 * Asks `question` on stderr and resolves with the line typed (trimmed), or `undefined` when
 * there is no terminal to ask (no stdin, or it ended).
 */
export async function ask(io: CliIo, question: string): Promise<string | undefined> {
  const input = io.stdin
  if (!input || input.isTTY !== true) return undefined
  const rl = createInterface({ input, terminal: false })
  io.stderr.write(question)
  try {
    return await new Promise<string | undefined>((resolve) => {
      rl.once('line', (line) => resolve(line.trim()))
      rl.once('close', () => resolve(undefined))
    })
  } finally {
    rl.close()
  }
}

/** The real process's streams and environment. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    homedir: homedir(),
    stdin: process.stdin,
  }
}
