// A home this user may not read (another user's, or mode 000): commands report the
// permission problem, never "no identity… run passage init", which invites --force. The real
// program as a child process: as root (where modes do not apply) it runs as `nobody` on a
// home root made; otherwise on a home whose mode is 000.
import { execFile } from 'node:child_process'
import { chmodSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { runCli } from '../src/run-cli.js'
import { captureIo } from './helpers/capture-io.js'

/** Bound on one run of the program: the TypeScript loader compiles on first use. */
const RUN_TIMEOUT_MS = 60_000
/** `nobody` on Debian and most Linux systems. */
const NOBODY = 65_534

const root = fileURLToPath(new URL('../../', import.meta.url))
const main = join(root, 'cli', 'src', 'main.ts')
const loader = import.meta.resolve('@tapjs/typescript/import')
const asRoot = process.getuid?.() === 0

function passageAsOther(args: string[], scratch: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--conditions=@passage/source', '--import', loader, main, ...args],
      {
        cwd: root,
        timeout: RUN_TIMEOUT_MS,
        ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
        env: {
          PATH: process.env.PATH ?? '',
          HOME: scratch,
          TS_NODE_PROJECT: join(root, 'tsconfig.test.json'),
          TS_NODE_TRANSPILE_ONLY: '1',
          NO_COLOR: '1',
          PASSAGE_LAN: 'off',
          // tap's process-info hook (coverage) writes where this user can.
          _TAPJS_PROCESSINFO_CWD_: scratch,
        },
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error)
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr })
      },
    )
  })
}

t.test('an unreadable home: the permission problem, not "run passage init"', async (t) => {
  const dir = t.testdir()
  const home = join(dir, 'home')
  const io = captureIo()
  t.equal(await runCli(['init', '--home', home, '--json'], io), 0, io.err())
  const scratch = join(dir, 'scratch')
  mkdirSync(scratch, { mode: 0o777 })
  chmodSync(scratch, 0o777)
  const runs = []
  if (!asRoot) chmodSync(home, 0o000)
  try {
    // Reading (any command) and creating (init without --force) are both refused.
    for (const args of [['contacts', 'list'], ['init']]) {
      runs.push({ args, run: await passageAsOther([...args, '--home', home], scratch) })
    }
  } finally {
    if (!asRoot) chmodSync(home, 0o700)
  }
  for (const { args, run } of runs) {
    t.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`)
    t.match(run.stderr, `${home} cannot be read by this user (permission denied)`)
    t.match(run.stderr, /do not replace it with `passage init --force`/)
    t.notMatch(run.stderr, /no identity|run `passage init`|use --force/)
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace')
  }
})
