import type { DhtMetrics, DropReason, MessageKind } from '@passage/sdk'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { METRIC_PREFIX } from '../metrics.js'
import type { UdpSocketCounters } from './udp-socket-counters.js'

/** Every drop reason of the SDK's codec and node, so each counter starts at zero. */
export const DROP_REASONS: readonly DropReason[] = [
  'oversized',
  'malformed',
  'unknown-type',
  'bad-version',
  'bad-proof',
  'unsolicited',
  'rate-limited',
  'unproven',
]

/** The mailbox operations counted in `passage_mailbox_operations_total{op}`. */
export const MAILBOX_OPS = ['put', 'get', 'delete', 'expire'] as const

/** RPC latency buckets in seconds: 50 µs (a ping on loopback) to 5 s (resends gave up). */
const RPC_BUCKETS_S = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
  5,
]
/** Hop buckets: Kademlia lookups take about log16(n) hops; 10 is far beyond any real network. */
const HOP_BUCKETS = [0, 1, 2, 3, 4, 5, 6, 8, 10]
/** Store statistics are read at most this often, however many gauges a scrape collects. */
const STATS_CACHE_MS = 1_000 // 1 s: one SQL aggregate per scrape
const UDP_DROPS_METRIC = `${METRIC_PREFIX}dht_udp_receive_drops_total`
const UDP_QUEUE_METRIC = `${METRIC_PREFIX}dht_udp_receive_queue_bytes`

/** Where the gauges read their values at scrape time. */
export interface DhtMetricSources {
  /** Verified nodes in the routing table. */
  routingTableNodes(): number
  /** Unexpired envelopes and bytes in the mailbox store. */
  mailboxStats(): Promise<{ envelopes: number; bytes: number }>
  /**
   * The kernel's counters of the DHT's UDP socket (Linux `/proc/net/udp`). Omitted where
   * they cannot be read: the two socket metrics are then not exported at all.
   */
  udpSocket?(): Promise<UdpSocketCounters | undefined>
}

const instances = new WeakMap<Registry, DhtPrometheusMetrics>()

/**
 * The DHT's Prometheus metrics on the server's registry, and the {@link DhtMetrics} hooks
 * that feed them. Names (all `passage_`):
 *
 * - `passage_dht_routing_table_nodes` gauge
 * - `passage_dht_rpcs_total{type,result,direction}` counter: `direction="inbound"` requests
 *   this node answered (`result` is `ok` or the wire error code), `direction="outbound"`
 *   requests it sent (`ok`, `timeout`, `error`)
 * - `passage_dht_rpc_duration_seconds{type,direction}` histogram: handler time inbound,
 *   round-trip time outbound
 * - `passage_dht_datagrams_dropped_total{reason}` counter (the SDK's `DropReason`s)
 * - `passage_dht_lookups_total` counter, `passage_dht_lookup_hops` histogram
 * - `passage_mailbox_messages`, `passage_mailbox_bytes` gauges (store statistics at scrape)
 * - `passage_mailbox_operations_total{op="put|get|delete|expire"}` counter
 * - `passage_dht_udp_receive_drops_total` counter: datagrams the kernel dropped for the DHT
 *   socket (receive buffer full: the node is overloaded), and
 *   `passage_dht_udp_receive_queue_bytes` gauge; only where `/proc/net/udp` is readable
 *
 * One instance per registry: {@link DhtPrometheusMetrics.on} returns the existing one.
 */
export class DhtPrometheusMetrics {
  readonly routingTableNodes: Gauge
  readonly rpcs: Counter<'type' | 'result' | 'direction'>
  readonly rpcDuration: Histogram<'type' | 'direction'>
  readonly dropped: Counter<'reason'>
  readonly lookups: Counter
  readonly lookupHops: Histogram
  readonly mailboxMessages: Gauge
  readonly mailboxBytes: Gauge
  readonly mailboxOperations: Counter<'op'>
  /** Registered once a source for them is tracked (Linux). */
  readonly udpReceiveDrops: Counter
  readonly udpReceiveQueue: Gauge
  /** The hooks to pass as `DhtNodeOptions.metrics`. */
  readonly hooks: DhtMetrics
  private sources: DhtMetricSources | undefined
  private stats: { at: number; value: Promise<{ envelopes: number; bytes: number }> } | undefined
  private udp: Promise<UdpSocketCounters | undefined> | undefined
  /** The socket's drops already counted (the kernel's counter starts at 0 at bind). */
  private udpDropsCounted = 0
  private readonly registry: Registry

  /** The DHT metrics of `registry`, created on first use. */
  static on(registry: Registry): DhtPrometheusMetrics {
    let metrics = instances.get(registry)
    if (!metrics) {
      metrics = new DhtPrometheusMetrics(registry)
      instances.set(registry, metrics)
    }
    return metrics
  }

  private constructor(registry: Registry) {
    this.registry = registry
    const registers = [registry]
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client binds `this` in collect()
    const self = this
    this.routingTableNodes = new Gauge({
      name: `${METRIC_PREFIX}dht_routing_table_nodes`,
      help: 'Verified nodes in the DHT routing table.',
      registers,
      collect() {
        if (self.sources) this.set(self.sources.routingTableNodes())
      },
    })
    this.rpcs = new Counter({
      name: `${METRIC_PREFIX}dht_rpcs_total`,
      help: 'DHT requests answered (inbound) and sent (outbound), by type and result.',
      labelNames: ['type', 'result', 'direction'],
      registers,
    })
    this.rpcDuration = new Histogram({
      name: `${METRIC_PREFIX}dht_rpc_duration_seconds`,
      help: 'DHT request handling time (inbound) and round-trip time (outbound), by type.',
      labelNames: ['type', 'direction'],
      buckets: RPC_BUCKETS_S,
      registers,
    })
    this.dropped = new Counter({
      name: `${METRIC_PREFIX}dht_datagrams_dropped_total`,
      help: 'DHT datagrams dropped, by reason.',
      labelNames: ['reason'],
      registers,
    })
    for (const reason of DROP_REASONS) this.dropped.inc({ reason }, 0)
    this.lookups = new Counter({
      name: `${METRIC_PREFIX}dht_lookups_total`,
      help: 'Iterative DHT lookups run by this node.',
      registers,
    })
    this.lookupHops = new Histogram({
      name: `${METRIC_PREFIX}dht_lookup_hops`,
      help: 'Hops from the routing table to the closest node a lookup found.',
      buckets: HOP_BUCKETS,
      registers,
    })
    const statsGauge = (name: string, help: string, pick: 'envelopes' | 'bytes') =>
      new Gauge({
        name: `${METRIC_PREFIX}${name}`,
        help,
        registers,
        async collect() {
          try {
            const stats = await self.mailboxStats()
            if (stats) this.set(stats[pick])
          } catch {
            // Storage down: keep the last value; /readyz tells why.
          }
        },
      })
    this.mailboxMessages = statsGauge(
      'mailbox_messages',
      'Unexpired envelopes in the mailbox store, counted at scrape time.',
      'envelopes',
    )
    this.mailboxBytes = statsGauge(
      'mailbox_bytes',
      'Bytes of unexpired envelopes in the mailbox store, counted at scrape time.',
      'bytes',
    )
    this.mailboxOperations = new Counter({
      name: `${METRIC_PREFIX}mailbox_operations_total`,
      help: 'Mailbox envelopes stored, fetched, deleted and expired.',
      labelNames: ['op'],
      registers,
    })
    for (const op of MAILBOX_OPS) this.mailboxOperations.inc({ op }, 0)
    this.udpReceiveDrops = new Counter({
      name: UDP_DROPS_METRIC,
      help: 'Datagrams the kernel dropped for the DHT socket, mostly for a full receive buffer (overload).',
      registers: [],
      async collect() {
        const counters = await self.udpCounters()
        if (!counters) return
        // A new socket (rebound) counts from 0 again: its drops are all new.
        const fresh =
          counters.drops >= self.udpDropsCounted
            ? counters.drops - self.udpDropsCounted
            : counters.drops
        this.inc(fresh)
        self.udpDropsCounted = counters.drops
      },
    })
    this.udpReceiveQueue = new Gauge({
      name: UDP_QUEUE_METRIC,
      help: "Bytes waiting in the DHT socket's receive buffer at scrape time.",
      registers: [],
      async collect() {
        const counters = await self.udpCounters()
        if (counters) this.set(counters.receiveQueueBytes)
      },
    })

    this.hooks = {
      onDrop: (reason) => this.dropped.inc({ reason }),
      onRequestHandled: (kind, result, ms) => this.rpc(kind, result, 'inbound', ms),
      onRequestSent: (kind, result, ms) => this.rpc(kind, result, 'outbound', ms),
      onLookup: (hops) => {
        this.lookups.inc()
        this.lookupHops.observe(hops)
      },
      onMailbox: (event, count) => this.mailboxOperations.inc({ op: event }, count),
    }
  }

  /** Sets where the gauges read from (the running node and its store). */
  track(sources: DhtMetricSources | undefined): void {
    this.sources = sources
    this.stats = undefined
    this.udp = undefined
    if (!sources?.udpSocket) return
    this.udpDropsCounted = 0
    const metrics: [string, Counter | Gauge][] = [
      [UDP_DROPS_METRIC, this.udpReceiveDrops],
      [UDP_QUEUE_METRIC, this.udpReceiveQueue],
    ]
    for (const [name, metric] of metrics) {
      if (!this.registry.getSingleMetric(name)) this.registry.registerMetric(metric)
    }
  }

  /** The socket's counters: one read of /proc in flight, shared by both metrics of a scrape. */
  private udpCounters(): Promise<UdpSocketCounters | undefined> {
    const source = this.sources?.udpSocket
    if (!source) return Promise.resolve(undefined)
    return (this.udp ??= source()
      .catch(() => undefined)
      .finally(() => (this.udp = undefined)))
  }

  private rpc(type: MessageKind, result: string, direction: string, ms: number): void {
    this.rpcs.inc({ type, result, direction })
    this.rpcDuration.observe({ type, direction }, ms / 1000)
  }

  private mailboxStats(): Promise<{ envelopes: number; bytes: number }> | undefined {
    if (!this.sources) return undefined
    const now = Date.now() // a cache age only, never a data decision
    if (!this.stats || now - this.stats.at > STATS_CACHE_MS) {
      this.stats = { at: now, value: this.sources.mailboxStats() }
    }
    return this.stats.value
  }
}
