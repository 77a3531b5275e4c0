import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { SERVER_VERSION } from './version.js'

/** Prefix of every metric this server exports. */
export const METRIC_PREFIX = 'passage_'

/** The outcomes counted in `passage_announces_total{result}`. */
export const ANNOUNCE_RESULTS = [
  'accepted',
  'invalid',
  'key_mismatch',
  'bad_signature',
  'wrong_audience',
  'skew',
  'replay',
  'rate_limited',
  'error', // the server failed (storage down): not the announcer's fault
] as const
export type AnnounceResult = (typeof ANNOUNCE_RESULTS)[number]

/** HTTP latency buckets in seconds: 0.5 ms (a cached GET) to 5 s (storage in trouble). */
const HTTP_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
/** Storage latency buckets in seconds: 0.1 ms (PGlite by key) to 2.5 s (a stuck pool). */
const STORAGE_BUCKETS_S = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5,
]

/** Options of {@link ServerMetrics}. */
export interface ServerMetricsOptions {
  /** Where the metrics live; a fresh one by default (never prom-client's global registry). */
  registry?: Registry
  /** Also export Node's process metrics (CPU, memory, event loop, GC) with the prefix. */
  defaultMetrics?: boolean
}

/**
 * The super-node's Prometheus metrics, in a registry of their own so that many apps can
 * live in one process (tests). Counters for every announce result start at zero.
 *
 * @example
 * const metrics = new ServerMetrics()
 * const storage = await openDatabase({ dataDir, onQuery: metrics.observeStorageQuery })
 * const app = await buildApp({ …, metrics })
 */
export class ServerMetrics {
  readonly registry: Registry
  readonly announces: Counter<'result'>
  readonly livePeers: Gauge
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>
  readonly storageQueryDuration: Histogram<'storage' | 'operation'>
  readonly storageFaults: Counter<'event'>
  private livePeerSource: (() => Promise<number>) | undefined

  constructor(options: ServerMetricsOptions = {}) {
    this.registry = options.registry ?? new Registry()
    const registers = [this.registry]
    this.announces = new Counter({
      name: `${METRIC_PREFIX}announces_total`,
      help: 'Announces received, by result.',
      labelNames: ['result'],
      registers,
    })
    for (const result of ANNOUNCE_RESULTS) this.announces.inc({ result }, 0)
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client binds `this` in collect()
    const self = this
    this.livePeers = new Gauge({
      name: `${METRIC_PREFIX}live_peers`,
      help: 'Announces that have not expired, counted in storage at scrape time.',
      registers,
      async collect() {
        if (!self.livePeerSource) return
        try {
          this.set(await self.livePeerSource())
        } catch {
          // Storage down: keep the last value; /readyz and the storage histogram tell why.
        }
      },
    })
    this.httpRequestDuration = new Histogram({
      name: `${METRIC_PREFIX}http_request_duration_seconds`,
      help: 'HTTP request duration, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS_S,
      registers,
    })
    this.storageQueryDuration = new Histogram({
      name: `${METRIC_PREFIX}storage_query_duration_seconds`,
      help: 'Storage query duration, by storage kind and statement kind.',
      labelNames: ['storage', 'operation'],
      buckets: STORAGE_BUCKETS_S,
      registers,
    })
    this.storageFaults = new Counter({
      name: `${METRIC_PREFIX}storage_faults_total`,
      help: 'Storage faults (lost connection, full or failing disk): answered "unavailable" (fault), or a query sent again on a fresh connection (retried, retry_failed).',
      labelNames: ['event'],
      registers,
    })
    for (const event of ['fault', 'retried', 'retry_failed']) this.storageFaults.inc({ event }, 0)
    // The version as Prometheus says it: a constant 1 labelled with it (as /v1/stats shows).
    new Gauge({
      name: `${METRIC_PREFIX}build_info`,
      help: 'Always 1; the label `version` is the server software version.',
      labelNames: ['version'],
      registers,
    }).set({ version: SERVER_VERSION }, 1)
    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX })
      // Gauges named *_total fail `promtool check metrics`; the unsuffixed ones (by type) stay.
      for (const name of [
        'active_handles_total',
        'active_requests_total',
        'active_resources_total',
      ]) {
        this.registry.removeSingleMetric(`${METRIC_PREFIX}nodejs_${name}`)
      }
    }
  }

  /** Counts one announce outcome. */
  countAnnounce(result: AnnounceResult): void {
    this.announces.inc({ result })
  }

  /** Sets where `passage_live_peers` comes from (asked on every scrape). */
  trackLivePeers(source: () => Promise<number>): void {
    this.livePeerSource = source
  }

  /** The storage's `onQuery` hook (bound, so it can be passed as is). */
  readonly observeStorageQuery = (seconds: number, storage: string, operation: string): void => {
    this.storageQueryDuration.observe({ storage, operation }, seconds)
  }

  /** The storage's `onFault` hook (bound, so it can be passed as is). */
  readonly countStorageFault = (event: string): void => {
    this.storageFaults.inc({ event })
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }
}
