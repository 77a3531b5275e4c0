// Issue 14 item 12: the cold start of `passage` for commands that draw no screen. Each run is a
// new process (spawned, waited for), wall time; the ceiling is `node -e 0` measured in the
// same run, interleaved with the others so that machine noise hits both alike. Goal: a
// non-screen command within 300 ms of wall time (it was 1.0 s when every command and Ink were
// imported up front).
import Database from 'better-sqlite3'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fmt, median } from './lib.js'

const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 15) // per command; medians of at least 10
const WARMUP = 2 // runs of each before timing: the OS file cache
const GOAL_MS = 300 // wall time of a non-screen command, issue 14
const main = fileURLToPath(new URL('../cli/dist/main.js', import.meta.url))

/** Wall time of one `node args…` process, in ms; throws when it fails. */
function wallMs(args, env) {
  const start = performance.now()
  const run = spawnSync(process.execPath, args, {
    env: { ...process.env, NO_COLOR: '1', PASSAGE_LAN: 'off', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 30_000,
  })
  const ms = performance.now() - start
  if (run.status !== 0) throw new Error(`node ${args.join(' ')} failed: ${run.stderr}`)
  return ms
}

export async function benchCli() {
  const home = mkdtempSync(join(tmpdir(), 'passage-bench-cli-'))
  try {
    wallMs([main, 'init', '--home', join(home, 'h'), '--json'])
    // A home as made before the public key was kept (0009): `id` derives it with libsignal.
    wallMs([main, 'init', '--home', join(home, 'old'), '--json'])
    const old = new Database(join(home, 'old', 'passage.sqlite'))
    old.prepare('update identity set public_key = null').run()
    old.close()
    const env = { PASSAGE_HOME: join(home, 'h') }
    const variants = {
      'node -e 0 (ceiling)': ['-e', '0'],
      'passage --version': [main, '--version'],
      'passage id': [main, 'id'],
      'passage id (home before 0009)': [main, 'id', '--home', join(home, 'old')],
      'passage contacts list': [main, 'contacts', 'list'],
    }
    const times = Object.fromEntries(Object.keys(variants).map((name) => [name, []]))
    for (let i = 0; i < WARMUP + RUNS; i++) {
      for (const [name, args] of Object.entries(variants)) {
        const ms = wallMs(args, env)
        if (i >= WARMUP) times[name].push(ms)
      }
    }
    const ceiling = median(times['node -e 0 (ceiling)'])
    console.log(`cli cold start, wall time, median of ${RUNS} spawned processes`)
    for (const [name, list] of Object.entries(times)) {
      const ms = median(list)
      const verdict = name.startsWith('node')
        ? ''
        : ms < GOAL_MS
          ? `  meets goal < ${GOAL_MS} ms`
          : `  ABOVE goal < ${GOAL_MS} ms`
      console.log(
        `${name.padEnd(32)} ${fmt(ms).padStart(6)} ms  node -e 0 ${fmt(ceiling).padStart(4)} ms  ratio ${(ms / ceiling).toFixed(2)}  +${fmt(ms - ceiling)} ms${verdict}`,
      )
    }
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
}
