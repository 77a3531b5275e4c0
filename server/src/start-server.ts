import { systemClock, type Clock, type Identity } from '@passage/sdk'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { AnnounceSweeper } from './announce-sweeper.js'
import { buildApp } from './app.js'
import type { Endpoint, ServerConfig } from './config.js'
import type { AnnounceStore } from './db/announce-store.js'
import { openDatabase, type DatabaseKind, type OpenedDatabase } from './db/database.js'
import { loadOrCreateNodeIdentity } from './db/node-identity-store.js'
import { PostgresAnnounceStore } from './db/postgres-announce-store.js'
import { ServerMetrics } from './metrics.js'
import type { ReadinessCheck } from './plugins/context.js'

/** Options of {@link startServer}. */
export interface StartServerOptions {
  config: ServerConfig
  logger?: Logger
  clock?: Clock
  metrics?: ServerMetrics
  readinessChecks?: ReadinessCheck[]
  dhtEndpoint?: () => Endpoint | null
}

/** A listening super-node. */
export interface RunningServer {
  app: FastifyInstance
  /** Where it listens, e.g. `http://127.0.0.1:8080`. */
  url: string
  /** The port it listens on (useful with `httpPort: 0`). */
  port: number
  identity: Identity
  storageKind: DatabaseKind
  database: OpenedDatabase
  store: AnnounceStore
  sweeper: AnnounceSweeper
  /** Stops accepting, finishes in-flight requests, stops the sweeper, closes storage. */
  close(): Promise<void>
}

/**
 * Opens storage (Postgres when `config.databaseUrl` is set, PGlite in `config.dataDir`
 * otherwise; migrations run), loads or creates the server's identity, builds the app,
 * listens, and starts sweeping expired announces.
 *
 * @example
 * const server = await startServer({ config: defaultConfig({ httpPort: 0, dataDir }) })
 * console.log(server.url)
 * await server.close()
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { config, logger } = options
  const clock = options.clock ?? systemClock
  const metrics = options.metrics ?? new ServerMetrics()
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    logger,
    onQuery: metrics.observeStorageQuery,
  })
  let app: FastifyInstance | undefined
  try {
    const identity = await loadOrCreateNodeIdentity(database.db, clock)
    const store = new PostgresAnnounceStore(database.db, { clock })
    app = await buildApp({
      config,
      store,
      identity,
      clock,
      metrics,
      ...(logger && { logger }),
      storagePing: () => database.ping(),
      ...(options.readinessChecks && { readinessChecks: options.readinessChecks }),
      ...(options.dhtEndpoint && { dhtEndpoint: options.dhtEndpoint }),
    })
    const sweeper = new AnnounceSweeper({
      store,
      clock,
      intervalMs: config.sweepIntervalMs,
      ...(logger && { logger }),
    })
    const url = await app.listen({ host: config.httpHost, port: config.httpPort })
    const address = app.server.address()
    const port = typeof address === 'object' && address ? address.port : config.httpPort
    sweeper.start()
    logger?.info(
      { url, storage: database.kind, id: identity.textId },
      `passage-server listening on ${url} (storage: ${database.kind}, id: ${identity.textId})`,
    )
    const running = app
    let closing: Promise<void> | undefined
    return {
      app,
      url,
      port,
      identity,
      storageKind: database.kind,
      database,
      store,
      sweeper,
      close: () =>
        (closing ??= (async () => {
          try {
            await running.close()
            await sweeper.stop()
          } finally {
            await database.close()
          }
        })()),
    }
  } catch (error) {
    await app?.close()
    await database.close()
    throw error
  }
}
