import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { KeyProvider } from '../core/crypto/key-provider.js'
import { NoIdentityError } from '../core/errors.js'
import { Identity } from '../core/identity/identity.js'
import type { Clock } from '../core/runtime/clock.js'
import { libsignalKeys } from './libsignal/key-provider.js'
import { CLIENT_DB_FILE, openClientStore } from './sqlite/sqlite-client-store.js'
import type { HomeInfo } from './read-home.js'

export { readHome, readHomeCard, type HomeCard, type HomeInfo } from './read-home.js'

/** True when `dir` is a Passage home (it has the database, with or without an identity). */
export function homeExists(dir: string): boolean {
  return existsSync(join(resolve(dir), CLIENT_DB_FILE))
}

/**
 * Creates a home (the folder too, owner-only) and its identity. Throws `AlreadyExistsError`
 * when the home has an identity, unless `force` (the old one is then lost for good).
 *
 * @example
 * const { identity } = await initHome(join(homedir(), '.passage'), { name: 'Alice' })
 */
export async function initHome(
  dir: string,
  options: { name?: string; force?: boolean; clock?: Clock; keys?: KeyProvider } = {},
): Promise<HomeInfo> {
  const store = await openClientStore(dir, options.clock ? { clock: options.clock } : {})
  try {
    const stored = await store.saveIdentity(Identity.generate(options.keys ?? libsignalKeys), {
      force: options.force === true,
      ...(options.name !== undefined ? { name: options.name } : {}),
    })
    return { ...stored, home: store.homeDir }
  } finally {
    await store.close()
  }
}

/**
 * {@link readHome} through the client store: its migrations run first. For a home whose
 * schema is older than the identity columns; `readHome` falls back to it.
 * @internal
 */
export async function readHomeMigrating(
  dir: string,
  keys: KeyProvider = libsignalKeys,
): Promise<HomeInfo> {
  const store = await openClientStore(dir, { create: false })
  try {
    const stored = await store.loadIdentity(keys)
    if (!stored) {
      throw new NoIdentityError(
        `there is no identity in ${store.homeDir} yet; run \`passage init\` to create one`,
      )
    }
    return { ...stored, home: store.homeDir }
  } finally {
    await store.close()
  }
}
