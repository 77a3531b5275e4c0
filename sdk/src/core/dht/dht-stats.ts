import type { DropReason, MessageKind } from './messages.js'

/** Counters of a node, for tests and for the server's /metrics. */
export interface DhtStats {
  /** Datagrams received. */
  received: number
  /** Datagrams dropped, by reason. */
  dropped: Record<DropReason, number>
  /** Requests answered, by kind. */
  handled: Partial<Record<MessageKind, number>>
  /** Requests answered with an error. */
  errors: number
  /** Responses that matched a request of ours. */
  responses: number
  /** Requests sent (first attempts) and resends. */
  sent: number
  resent: number
  timeouts: number
  lookups: number
}

/** Hooks for metrics (Prometheus in the server). All optional. */
export interface DhtMetrics {
  onDrop?(reason: DropReason): void
  /** An inbound request answered: its kind, `ok` or the error code, and handler time. */
  onRequestHandled?(kind: MessageKind, result: string, ms: number): void
  /** An outbound request finished: `ok`, `timeout` or `error`, and its round-trip time. */
  onRequestSent?(kind: MessageKind, result: 'ok' | 'timeout' | 'error', ms: number): void
  onLookup?(hops: number, ms: number, found: number): void
  onMailbox?(event: 'put' | 'get' | 'delete' | 'expire', count: number, bytes: number): void
}

/** A pino-compatible subset. */
export interface DhtLogger {
  debug(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

/** Fresh counters, every one at zero. */
export function emptyDhtStats(): DhtStats {
  return {
    received: 0,
    dropped: {
      oversized: 0,
      malformed: 0,
      'unknown-type': 0,
      'bad-version': 0,
      'bad-proof': 0,
      unsolicited: 0,
      'rate-limited': 0,
      unproven: 0,
    },
    handled: {},
    errors: 0,
    responses: 0,
    sent: 0,
    resent: 0,
    timeouts: 0,
    lookups: 0,
  }
}
