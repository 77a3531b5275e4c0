// The public API of @passage/server: an explicit list, nothing else is exported.
export { buildApp, type AppOptions } from './app.js'
export { startServer, type StartServerOptions, type RunningServer } from './start-server.js'
export {
  type ServerConfig,
  type Endpoint,
  type LogLevel,
  type TrustProxy,
  DEFAULT_HTTP_PORT,
  DEFAULT_ANNOUNCE_TTL_MS,
  DEFAULT_ANNOUNCE_SKEW_MS,
  DEFAULT_RATE_LIMIT_PER_MINUTE,
  BODY_LIMIT_BYTES,
  DEFAULT_SWEEP_INTERVAL_MS,
  defaultConfig,
  buildCommand,
  parseConfig,
  parseEndpoint,
  parseTrustProxy,
} from './config.js'
export { createLogger } from './logger.js'
export {
  ServerMetrics,
  type ServerMetricsOptions,
  ANNOUNCE_RESULTS,
  type AnnounceResult,
  METRIC_PREFIX,
} from './metrics.js'
export {
  AnnounceSweeper,
  type AnnounceSweeperOptions,
  type IntervalTimers,
} from './announce-sweeper.js'
export { type ReadinessCheck, type ServerIdentity, type PassageContext } from './plugins/context.js'
export { type ErrorBody, normalizeError, statusOfCode } from './plugins/errors.js'
export { type Peer } from './routes/peer.js'
export type { AnnounceStore, StoredAnnounce, PutResult } from './db/announce-store.js'
export {
  openDatabase,
  type OpenDatabaseOptions,
  type OpenedDatabase,
  type DatabaseKind,
} from './db/database.js'
export { PostgresAnnounceStore } from './db/postgres-announce-store.js'
export { loadOrCreateNodeIdentity } from './db/node-identity-store.js'
