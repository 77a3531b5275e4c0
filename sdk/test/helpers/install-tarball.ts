// Installs a packed SDK (`npm pack`) into an empty folder outside the repository, where plain
// `node` runs JavaScript against it: the packed-SDK test and the old-clients interop test.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
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
 * its path. better-sqlite3 is pinned (an npm `overrides` entry) to the version the repository
 * itself installed: since 13 it ships prebuilt addons for this platform and runs no install
 * script, whereas an older SDK's range (the interop fixture asks for ^12) would compile from
 * source (about a minute here). The SDK only reaches it through kysely's SqliteDialect, and
 * the database file's format is SQLite's own, so what the test exercises is unchanged.
 */
export function installTarball(tarball: string, dir: string, app = 'app'): string {
  const folder = join(dir, app)
  mkdirSync(folder)
  const require = createRequire(join(REPO_ROOT, 'package.json'))
  const sqlite = require('better-sqlite3/package.json') as { version: string }
  writeFileSync(
    join(folder, 'package.json'),
    JSON.stringify({
      name: app,
      private: true,
      type: 'module',
      overrides: { 'better-sqlite3': sqlite.version },
    }),
  )
  npm(
    ['install', tarball, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'],
    folder,
  )
  return folder
}
