// A real super-node (passage-server's startServer) on 127.0.0.1: HTTP on a free port, its
// DHT node on a free UDP port, storage in embedded Postgres (PGlite) in a tmp folder.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defaultConfig, startServer, type RunningServer } from '@passage/server'

export interface SuperNode {
  url: string
  server: RunningServer
  /** Stops it and removes its data folder. Idempotent. */
  stop(): Promise<void>
}

/** Starts a super-node for tests; see the file comment. */
export async function startSuperNode(): Promise<SuperNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'passage-cli-super-node-'))
  let server: RunningServer
  try {
    server = await startServer({
      config: defaultConfig({
        httpHost: '127.0.0.1',
        httpPort: 0,
        dhtPort: 0,
        dataDir,
        logLevel: 'silent',
        // Tests start many clients from one address.
        rateLimitPerMinute: 0,
        // `passage peers` lists what the server lists: public here (off by default).
        peersPublic: true,
      }),
    })
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true })
    throw error
  }
  let stopped: Promise<void> | undefined
  return {
    url: server.url,
    server,
    stop: () =>
      (stopped ??= server.close().finally(() => rmSync(dataDir, { recursive: true, force: true }))),
  }
}
