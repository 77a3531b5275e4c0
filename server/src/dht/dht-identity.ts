import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Identity } from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { lockFile } from '../db/folder-lock.js'

/** The DHT node's key pair in the data folder (mode 0600). */
export const DHT_KEY_FILE = 'dht-node.key'

/** A DHT identity of this process, and the release of its lock. */
export interface DhtIdentity {
  identity: Identity
  /** Releases the key file's lock (at shutdown). */
  release(): Promise<void>
}

/**
 * The DHT node's identity: a key pair of this process's own in `<dataDir>/dht-node.key`,
 * created on the first start and the same on every start after. It is not the server's
 * stored identity (`node_identity`, which signs HTTP answers and stays shared): several
 * servers on one database each run a DHT node, and two nodes with one ID would fight over
 * one place in everyone's routing table. A second process on the same data folder is refused
 * (the key file is locked): give each process its own `PASSAGE_DATA_DIR`.
 *
 * @example
 * const { identity, release } = await loadOrCreateDhtIdentity(config.dataDir)
 */
export async function loadOrCreateDhtIdentity(dataDir: string): Promise<DhtIdentity> {
  await mkdir(dataDir, { recursive: true })
  const path = join(dataDir, DHT_KEY_FILE)
  const release = await lockFile(
    `${path}.lock`,
    `the DHT key ${path}`,
    'give each server process its own data folder (PASSAGE_DATA_DIR)',
  )
  try {
    return { identity: await readOrCreate(path), release }
  } catch (error) {
    await release()
    throw error
  }
}

async function readOrCreate(path: string): Promise<Identity> {
  let stored: Buffer | undefined
  try {
    stored = await readFile(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  if (stored) {
    try {
      return Identity.deserialize(libsignalKeys, new Uint8Array(stored))
    } catch (error) {
      throw new Error(
        `the DHT key ${path} is unreadable (${(error as Error).message}); delete it to make a new one`,
      )
    }
  }
  const identity = Identity.generate(libsignalKeys)
  // Written aside, then renamed: a crash leaves no half-written key.
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, identity.serialize(), { mode: 0o600 })
  await rename(temporary, path)
  return identity
}
