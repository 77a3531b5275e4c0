import { PassageError, systemClock, UnavailableError, type Clock } from '@passage/sdk'
import { Ajv, type Options as AjvOptions } from 'ajv'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { defaultConfig, type Endpoint, type ServerConfig, type TrustProxy } from './config.js'
import type { AnnounceStore } from './db/announce-store.js'
import { ServerMetrics } from './metrics.js'
import {
  contextPlugin,
  type PassageContext,
  type ReadinessCheck,
  type ServerIdentity,
} from './plugins/context.js'
import { errorsPlugin } from './plugins/errors.js'
import { observabilityPlugin } from './plugins/observability.js'
import { rateLimitPlugin } from './plugins/rate-limit.js'
import { readinessMetricPlugin } from './plugins/readiness-metric.js'
import { swaggerPlugin } from './plugins/swagger.js'
import announceRoutes from './routes/announce.js'
import docsRoutes from './routes/docs.js'
import healthRoutes from './routes/health.js'
import infoRoutes from './routes/info.js'
import metricsRoutes from './routes/metrics.js'
import nodeRoutes from './routes/nodes.js'
import peerRoutes from './routes/peers.js'
import statsRoutes, { type DhtStats } from './routes/stats.js'

/** Options of {@link buildApp}. */
export interface AppOptions {
  /** Full configuration; `defaultConfig()` fills what is missing. */
  config?: Partial<ServerConfig>
  store: AnnounceStore
  identity: ServerIdentity
  clock?: Clock
  /** A pino logger; none (silent) by default. */
  logger?: Logger
  /** Metrics to record into; a fresh registry by default. */
  metrics?: ServerMetrics
  /**
   * How `/readyz` checks the storage: resolves when it answers. Default: count live
   * announces through the store. `startServer` passes the database's `ping()`.
   */
  storagePing?: () => Promise<void>
  /** More readiness checks besides `storage` (the DHT adds `dht`). */
  readinessChecks?: ReadinessCheck[]
  /** The DHT endpoint for `/v1/info`, read per request; default `config.dhtEndpoint`. */
  dhtEndpoint?: () => Endpoint | null
  /** The DHT node's text ID for `/v1/info` (its own key, per process); default none. */
  dhtId?: () => string | null
  /** The relay's endpoint for `/v1/info` (TCP), read per request; default: no relay. */
  relayEndpoint?: () => Endpoint | null
  /** The DHT node's figures for `/v1/stats`; default none (null). */
  dhtStats?: () => Promise<DhtStats | null>
}

/** A request must arrive whole within 30 s: slow-drip clients cannot hold sockets forever. */
const REQUEST_TIMEOUT_MS = 30_000

const AJV_BASE: AjvOptions = {
  useDefaults: true,
  allErrors: false, // all errors on hostile input is a DoS lever (Fastify's default too)
  strict: true,
}

/**
 * The store as the routes see it: a storage failure (connection refused, database closed)
 * becomes a 503 `PASSAGE_ERR_UNAVAILABLE` that tells the client to retry, not a bare 500.
 * Methods are looked up on every call, so the store stays the single source of behaviour.
 */
function guardStore(store: AnnounceStore): AnnounceStore {
  const guard =
    <K extends keyof AnnounceStore>(method: K) =>
    async (
      ...args: Parameters<AnnounceStore[K]>
    ): Promise<Awaited<ReturnType<AnnounceStore[K]>>> => {
      try {
        return await (store[method] as (...a: typeof args) => ReturnType<AnnounceStore[K]>)(...args)
      } catch (error) {
        if (error instanceof PassageError) throw error
        throw new UnavailableError('storage is unavailable; retry later', { cause: error })
      }
    }
  return {
    put: guard('put'),
    get: guard('get'),
    closest: guard('closest'),
    sample: guard('sample'),
    countLive: guard('countLive'),
    sweep: guard('sweep'),
  }
}

/** Fastify's types lack the hop count its runtime accepts: express it as a function. */
function trustProxyOption(
  value: TrustProxy,
): boolean | string[] | ((ip: string, hop: number) => boolean) {
  if (typeof value !== 'number') return value
  return (_ip, hop) => hop < value
}

/**
 * Builds the super-node's HTTP app (bootstrap API, health, metrics, OpenAPI) without
 * listening: call `app.inject()` in tests, `app.listen()` in {@link startServer}. The app
 * owns neither the store nor the metrics registry; closing it closes neither.
 *
 * @example
 * const app = await buildApp({ store, identity, config: { rateLimitPerMinute: 5 } })
 * const res = await app.inject({ method: 'GET', url: '/v1/info' })
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const config = defaultConfig(options.config)
  const clock = options.clock ?? systemClock
  const metrics = options.metrics ?? new ServerMetrics()
  const store = guardStore(options.store)
  metrics.trackLivePeers(() => store.countLive(clock.now()))
  const storagePing =
    options.storagePing ??
    (async () => {
      await store.countLive(clock.now())
    })
  const context: PassageContext = {
    config,
    store,
    identity: options.identity,
    clock,
    metrics,
    readinessChecks: [{ name: 'storage', check: storagePing }, ...(options.readinessChecks ?? [])],
    dhtEndpoint: options.dhtEndpoint ?? (() => config.dhtEndpoint),
    dhtId: options.dhtId ?? (() => null),
    relayEndpoint: options.relayEndpoint ?? (() => null),
    startedAt: clock.now(),
    dhtStats: options.dhtStats ?? (() => Promise.resolve(null)),
  }

  const fastifyOptions = {
    // One line per request comes from the observability plugin, without IPs, URLs or IDs.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    requestTimeout: REQUEST_TIMEOUT_MS,
    trustProxy: trustProxyOption(config.trustProxy),
    return503OnClosing: true,
  }
  const app = options.logger
    ? Fastify({
        ...fastifyOptions,
        loggerInstance: options.logger as unknown as FastifyBaseLogger,
      })
    : Fastify({ ...fastifyOptions, logger: false })

  // Bodies are validated strictly (no type coercion: `"seq": "5"` or `true` is refused);
  // query strings and path parameters are text and are coerced (`limit=20` is a number).
  const bodyAjv = new Ajv({ ...AJV_BASE, coerceTypes: false, removeAdditional: false })
  const textAjv = new Ajv({ ...AJV_BASE, coerceTypes: 'array', removeAdditional: true })
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : textAjv).compile(schema),
  )
  // Only JSON bodies: text/plain would reach the schema as a string.
  app.removeContentTypeParser('text/plain')

  await app.register(contextPlugin, context)
  await app.register(errorsPlugin)
  await app.register(swaggerPlugin)
  await app.register(rateLimitPlugin)
  await app.register(observabilityPlugin)

  await app.register(announceRoutes)
  await app.register(peerRoutes)
  await app.register(infoRoutes)
  await app.register(healthRoutes)
  await app.register(metricsRoutes)
  await app.register(docsRoutes)
  await app.register(nodeRoutes)
  await app.register(statsRoutes)
  await app.register(readinessMetricPlugin)
  return app
}
