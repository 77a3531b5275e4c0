import { homedir } from 'node:os'

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
}

/** The real process's streams and environment. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, homedir: homedir() }
}
