// The one place errors become messages and exit codes.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  AlreadyExistsError,
  BadChecksumError,
  NoIdentityError,
  RemoteError,
  RetryAfterError,
  TimeoutError,
  UnavailableError,
} from '@passage/sdk'
import t from 'tap'
import { reportError } from '../src/report-error.js'
import { runCli } from '../src/run-cli.js'
import { captureIo } from './helpers/capture-io.js'

t.test('SDK errors: one line, no stack, a stable exit code', async (t) => {
  const cases: [Error, number, RegExp][] = [
    [new AlreadyExistsError(), 1, /already exists.*--force/],
    [new NoIdentityError(), 1, /passage init/],
    [new BadChecksumError(), 1, /typo/],
    [new RemoteError('could not reach it'), 3, /could not reach it/],
    [new TimeoutError(), 3, /timed out/],
    [new UnavailableError(), 3, /unavailable/],
    [new RetryAfterError(2_500, 'slow down'), 1, /slow down\nretry in 3 s/],
  ]
  for (const [error, code, message] of cases) {
    const io = captureIo()
    t.equal(reportError(error, io), code, error.name)
    t.match(io.err(), message)
    t.match(io.err(), /^error: /)
    t.notMatch(io.err(), /\n\s+at /, 'no stack trace')
  }
})

t.test('system errors are the environment, not a bug', async (t) => {
  const file = join(t.testdir(), 'a-file')
  writeFileSync(file, 'not a folder')
  const io = captureIo()
  t.equal(await runCli(['init', '--home', join(file, 'home')], io), 1)
  t.match(io.err(), /^error: ENOTDIR/)
  t.notMatch(io.err(), /\n\s+at /)
})

t.test('anything else is a bug: stack trace and exit 70', async (t) => {
  const io = captureIo()
  t.equal(reportError(new TypeError('undefined is not a function'), io), 70)
  t.match(io.err(), /this is a bug/)
  t.match(io.err(), /TypeError: undefined is not a function\n\s+at /)
})
