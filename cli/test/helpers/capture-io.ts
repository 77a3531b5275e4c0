// A CliIo whose output is kept in strings, for running commands in-process.
import type { CliIo } from '../../src/cli-io.js'

export interface CapturedIo extends CliIo {
  out(): string
  err(): string
}

export function captureIo(
  env: Record<string, string | undefined> = {},
  homedir = '/nonexistent',
): CapturedIo {
  let out = ''
  let err = ''
  return {
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text) },
    env: { NO_COLOR: '1', ...env },
    homedir,
    out: () => out,
    err: () => err,
  }
}
