import { Counter, Gauge, type Registry } from 'prom-client'
import { METRIC_PREFIX } from '../metrics.js'

/** Outcomes counted in `passage_relay_requests_total{result}`. */
export const RELAY_RESULTS = [
  'registered',
  'linked',
  'malformed',
  'bad_signature',
  'not_registered',
  'limit',
  'timeout',
  'full',
  'unknown_token',
] as const
export type RelayResult = (typeof RELAY_RESULTS)[number]

/** Why relayed links end, in `passage_relay_links_closed_total{reason}`. */
export const RELAY_CLOSE_REASONS = ['closed', 'bytes', 'duration', 'shutdown'] as const
export type RelayCloseReason = (typeof RELAY_CLOSE_REASONS)[number]

/** The relay's Prometheus metrics, in the server's registry. */
export class RelayMetrics {
  readonly requests: Counter<'result'>
  readonly clients: Gauge
  readonly links: Gauge
  readonly bytes: Counter
  readonly closed: Counter<'reason'>

  constructor(registry: Registry) {
    const registers = [registry]
    this.requests = new Counter({
      name: `${METRIC_PREFIX}relay_requests_total`,
      help: 'Relay requests (register, connect, accept), by result.',
      labelNames: ['result'],
      registers,
    })
    for (const result of RELAY_RESULTS) this.requests.inc({ result }, 0)
    this.clients = new Gauge({
      name: `${METRIC_PREFIX}relay_clients`,
      help: 'Clients registered at the relay now (reachable through it).',
      registers,
    })
    this.links = new Gauge({
      name: `${METRIC_PREFIX}relay_links`,
      help: 'Relayed links open now.',
      registers,
    })
    this.bytes = new Counter({
      name: `${METRIC_PREFIX}relay_bytes_total`,
      help: 'Bytes relayed (both directions; end-to-end encrypted link frames).',
      registers,
    })
    this.closed = new Counter({
      name: `${METRIC_PREFIX}relay_links_closed_total`,
      help: 'Relayed links ended: by an end (closed), or cut by the relay for a client over its byte or duration limit, or at shutdown.',
      labelNames: ['reason'],
      registers,
    })
    for (const reason of RELAY_CLOSE_REASONS) this.closed.inc({ reason }, 0)
  }
}
