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
// The super-node's DHT node (issue 3)
export {
  SuperNodeDht,
  type SuperNodeDhtOptions,
  type SuperNodeDhtLogger,
  type BootstrapState,
  DHT_MAINTAIN_INTERVAL_MS,
  DHT_SAVE_CONTACTS_INTERVAL_MS,
  DHT_BOOTSTRAP_RETRY_MS,
  DHT_BOOTSTRAP_RETRY_MAX_MS,
} from './dht/super-node-dht.js'
export { DEFAULT_DHT_PORT } from './dht/default-dht-port.js'
export {
  DhtPrometheusMetrics,
  type DhtMetricSources,
  DROP_REASONS,
  MAILBOX_OPS,
} from './dht/dht-metrics.js'
export { type StartServerDhtOptions } from './start-server.js'
export { PostgresMailboxStore } from './db/postgres-mailbox-store.js'
export { PostgresRecordStore } from './db/postgres-record-store.js'
export { DhtContactsStore } from './db/dht-contacts-store.js'
// The relay through the super-node (issue 16)
export { RelayServer, type RelayServerOptions } from './relay/relay-server.js'
export { DEFAULT_RELAY_LIMITS, DEFAULT_RELAY_PORT, type RelayLimits } from './relay/relay-limits.js'
export {
  RelayMetrics,
  RELAY_RESULTS,
  RELAY_CLOSE_REASONS,
  type RelayResult,
  type RelayCloseReason,
} from './relay/relay-metrics.js'
