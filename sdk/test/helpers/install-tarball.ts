// Installs a packed SDK (`npm pack`) into an empty folder outside the repository, where plain
// `node` runs JavaScript against it: the packed-SDK test and the old-clients interop test.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository's root folder. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** `npm pack` builds the SDK first (its prepack runs `tsc -b`); npm installs from its cache. */
export const NPM_TIMEOUT_MS = 180_000

/** Runs npm in `cwd`; throws with its stderr when it fails. */
export function npm(args: string[], cwd: string): SpawnSyncReturns<string> {
  const run = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: NPM_TIMEOUT_MS })
  if (run.status !== 0) throw new Error(`npm ${args.join(' ')} failed: ${run.stderr}`)
  return run
}

/** The environment of a plain `node`: none of this process's loader flags or conditions. */
export function plainEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', ...extra }
}

/**
 * Installs `tarball` into a new folder `app` under `dir` (an ES module package) and returns
 * its path. better-sqlite3 compiles from source when installed (about a minute here): it is
 * installed without scripts and gets the addon the repository's own install built for this
 * very Node.
 */
export function installTarball(tarball: string, dir: string, app = 'app'): string {
  const folder = join(dir, app)
  mkdirSync(folder)
  writeFileSync(
    join(folder, 'package.json'),
    JSON.stringify({ name: app, private: true, type: 'module' }),
  )
  npm(
    ['install', tarball, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'],
    folder,
  )
  const require = createRequire(join(REPO_ROOT, 'package.json'))
  const addon = join(
    dirname(require.resolve('better-sqlite3/package.json')),
    'build',
    'Release',
    'better_sqlite3.node',
  )
  const installed = join(folder, 'node_modules', 'better-sqlite3', 'build', 'Release')
  mkdirSync(installed, { recursive: true })
  copyFileSync(addon, join(installed, 'better_sqlite3.node'))
  return folder
}
