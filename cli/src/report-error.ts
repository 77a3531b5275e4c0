import { CommanderError } from 'commander'
import {
  AlreadyExistsError,
  NoIdentityError,
  NotAccountDeviceError,
  NotLinkedError,
  RevokedDeviceError,
  UnreachableError,
  UnsupportedError,
  PassageError,
  RemoteError,
  RetryAfterError,
  TimeoutError,
  UnavailableError,
} from '@passage/sdk'
import type { CliIo } from './cli-io.js'
import { ExitCode } from './exit-code.js'
import { style } from './style.js'

/** Extra advice printed under an error's own message, by error class. */
function hint(error: PassageError): string | undefined {
  if (error instanceof RetryAfterError && error.retryAfterMs !== undefined) {
    return `retry in ${Math.ceil(error.retryAfterMs / 1000)} s`
  }
  if (error instanceof AlreadyExistsError && !/--force/.test(error.message)) {
    return 'use --force to replace it'
  }
  if (error instanceof NoIdentityError && !/passage init/.test(error.message)) {
    return 'run `passage init` to create one'
  }
  if (error instanceof NotLinkedError) {
    return 'run `passage init --link` here and `passage devices link <uri>` on your first device'
  }
  if (error instanceof NotAccountDeviceError) {
    return 'run it on device 1 (`passage devices list` shows which this is)'
  }
  if (error instanceof RevokedDeviceError) {
    return 'this device was revoked; link it again from device 1 with a new home'
  }
  if (error instanceof UnsupportedError) return 'send it from your first device'
  return undefined
}

function exitCodeOf(error: PassageError): ExitCode {
  if (
    error instanceof RemoteError ||
    error instanceof TimeoutError ||
    error instanceof UnavailableError ||
    error instanceof UnreachableError
  ) {
    return ExitCode.unreachable
  }
  return ExitCode.failure
}

/**
 * The one place that turns an error into what the user sees and the exit code. SDK errors
 * and system errors (a folder that cannot be created, a locked database) are the user's to
 * fix: one line, no stack trace. Anything else is a bug in passage: the stack trace is
 * printed, exit code 70.
 */
export function reportError(error: unknown, io: CliIo): ExitCode {
  const s = style(io, io.stderr)
  if (error instanceof CommanderError) {
    // commander already printed its message (see run-cli.ts's configureOutput).
    return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage
  }
  if (error instanceof PassageError) {
    io.stderr.write(`${s.red('error:')} ${error.message}\n`)
    const advice = hint(error)
    if (advice) io.stderr.write(`${s.dim(advice)}\n`)
    return exitCodeOf(error)
  }
  if (isSystemError(error)) {
    io.stderr.write(`${s.red('error:')} ${error.message}\n`)
    return ExitCode.failure
  }
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
  io.stderr.write(`${s.red('passage crashed; this is a bug, please report it:')}\n${text}\n`)
  return ExitCode.software
}

/** Errors from the OS or SQLite (`EACCES`, `SQLITE_BUSY`…): the environment, not a bug. */
function isSystemError(error: unknown): error is Error & { code: string } {
  if (!(error instanceof Error)) return false
  const code: unknown = (error as Error & { code?: unknown }).code
  return typeof code === 'string' && /^(E[A-Z]+|SQLITE_[A-Z_]+)$/.test(code)
}
