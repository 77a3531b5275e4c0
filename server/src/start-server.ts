import { systemClock, type Clock, type Identity } from '@passage/sdk'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { AnnounceSweeper } from './announce-sweeper.js'
import { buildApp } from './app.js'
import type { Endpoint, ServerConfig } from './config.js'
import type { AnnounceStore } from './db/announce-store.js'
import { openDatabase, type DatabaseKind, type OpenedDatabase } from './db/database.js'
import { loadOrCreateNodeIdentity } from './db/node-identity-store.js'
import { type DhtIdentity, loadOrCreateDhtIdentity } from './dht/dht-identity.js'
import { PostgresAnnounceStore } from './db/postgres-announce-store.js'
import { DEFAULT_DHT_PORT } from './dht/default-dht-port.js'
import { SuperNodeDht, type SuperNodeDhtOptions } from './dht/super-node-dht.js'
import { ServerMetrics } from './metrics.js'
import type { ReadinessCheck } from './plugins/context.js'
import { RelayMetrics } from './relay/relay-metrics.js'
import { RelayServer } from './relay/relay-server.js'

/** Options of {@link startServer}. */
export interface StartServerOptions {
  config: ServerConfig
  logger?: Logger
  clock?: Clock
  metrics?: ServerMetrics
  readinessChecks?: ReadinessCheck[]
  dhtEndpoint?: () => Endpoint | null
  /**
   * The DHT node. It runs when `config.dhtPort` is set (0: a free port; `passage-server`
   * sets {@link DEFAULT_DHT_PORT} when the flag is absent) or when this is an object
   * (then on `config.dhtPort ?? DEFAULT_DHT_PORT`); `false` turns it off. It binds on
   * `config.httpHost`, joins through `config.bootstrap`, and adds the `dht` readiness check
   * and the `/v1/info` endpoint. The object tunes it (timers, intervals, node options).
   */
  dht?: false | StartServerDhtOptions
}

/** Tuning of the super-node's DHT node (see {@link SuperNodeDhtOptions}). */
export type StartServerDhtOptions = Partial<
  Pick<
    SuperNodeDhtOptions,
    | 'advertise'
    | 'timers'
    | 'maintainIntervalMs'
    | 'saveContactsIntervalMs'
    | 'bootstrapRetryMs'
    | 'bootstrapRetryMaxMs'
    | 'node'
  >
>

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
  /** The DHT node (its UDP port: `dht.node.address().port`), undefined when off. */
  dht: SuperNodeDht | undefined
  /** The relay (`config.relay`; its port: `relay.address().port`), undefined when off. */
  relay: RelayServer | undefined
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
  // A storage fault while opening is the start-up failure itself (main.ts says it in one
  // sentence): logged at debug until the database is open, at error after.
  let opened = false
  const databaseLogger = logger && {
    info: (obj: object, msg: string) => logger.info(obj, msg),
    error: (obj: object, msg: string) => (opened ? logger.error(obj, msg) : logger.debug(obj, msg)),
  }
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    logger: databaseLogger,
    onQuery: metrics.observeStorageQuery,
    onFault: metrics.countStorageFault,
  })
  opened = true
  let app: FastifyInstance | undefined
  let dht: SuperNodeDht | undefined
  let dhtKey: DhtIdentity | undefined
  let relay: RelayServer | undefined
  try {
    const identity = await loadOrCreateNodeIdentity(database.db, clock)
    const store = new PostgresAnnounceStore(database.db, { clock })
    const dhtOn =
      options.dht !== false && (config.dhtPort !== undefined || options.dht !== undefined)
    if (dhtOn) {
      const tuning = options.dht || {}
      // The DHT node's own key (per process); the stored identity signs HTTP answers.
      dhtKey = await loadOrCreateDhtIdentity(config.dataDir)
      dht = await SuperNodeDht.start({
        ...tuning,
        node: { quota: config.mailboxQuota, ...tuning.node },
        db: database.db,
        identity: dhtKey.identity,
        host: config.httpHost,
        port: config.dhtPort ?? DEFAULT_DHT_PORT,
        bootstrap: config.bootstrap,
        advertise: tuning.advertise ?? config.dhtEndpoint,
        clock,
        registry: metrics.registry,
        ...(logger && { logger }),
      })
    }
    if (config.relay) {
      relay = await RelayServer.start({
        identity,
        host: config.httpHost,
        port: config.relayPort,
        limits: config.relayLimits,
        metrics: new RelayMetrics(metrics.registry),
        clock,
      })
    }
    const relayRunning = relay
    const running = dht
    const readinessChecks = [
      ...(options.readinessChecks ?? []),
      ...(running ? [running.readiness()] : []),
    ]
    const dhtEndpoint = options.dhtEndpoint ?? (running && (() => running.endpoint()))
    app = await buildApp({
      config,
      store,
      identity,
      clock,
      metrics,
      ...(logger && { logger }),
      storagePing: () => database.ping(),
      ...(readinessChecks.length > 0 && { readinessChecks }),
      ...(dhtEndpoint && { dhtEndpoint }),
      ...(relayRunning && { relayEndpoint: () => relayRunning.address() }),
      ...(running && {
        dhtId: () => running.node.identity.textId,
        dhtStats: async () => {
          const { envelopes, bytes } = await running.mailboxStore.stats(clock.now())
          return {
            mailboxes: { messages: envelopes, bytes },
            routingTableNodes: running.node.table.size,
          }
        },
      }),
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
      {
        url,
        storage: database.kind,
        id: identity.textId,
        dht: dht?.endpoint() ?? null,
        relay: relay?.address() ?? null,
        dhtId: dht?.node.identity.textId ?? null,
      },
      `passage-server listening on ${url} (storage: ${database.kind}, id: ${identity.textId})`,
    )
    const runningApp = app
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
      dht,
      relay,
      close: () =>
        (closing ??= (async () => {
          try {
            await relay?.close()
            await runningApp.close()
            await sweeper.stop()
          } finally {
            await dht?.close().catch((error: unknown) => {
              logger?.warn({ err: error }, 'closing the dht node failed')
            })
            await dhtKey?.release()
            await database.close()
          }
        })()),
    }
  } catch (error) {
    await relay?.close()
    await app?.close()
    await dht?.close().catch(() => undefined)
    await dhtKey?.release()
    await database.close()
    throw error
  }
}
