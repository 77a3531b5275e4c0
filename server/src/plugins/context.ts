import type { Bytes, Clock, NodeId, Verifier } from '@passage/sdk'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Endpoint, ServerConfig } from '../config.js'
import type { AnnounceStore } from '../db/announce-store.js'
import type { ServerMetrics } from '../metrics.js'
import type { DhtStats } from '../routes/stats.js'

/** The parts of the server's identity the HTTP service shows and checks against. */
export interface ServerIdentity {
  /** 20-byte node ID: the audience every announce to this server must name. */
  readonly id: NodeId
  readonly textId: string
  readonly publicKey: Bytes
  /** Checks the signatures of announces (the identity's key provider). */
  readonly keys: Verifier
}

/**
 * One condition of readiness (`GET /readyz`): resolves when met, rejects with the reason
 * otherwise. The storage adds one; the DHT adds its own later.
 */
export interface ReadinessCheck {
  /** Key in the `checks` object of `/readyz` (`storage`, `dht`, …). */
  name: string
  check(): Promise<void>
}

/** What every plugin and route of the app shares, as `app.passage`. */
export interface PassageContext {
  config: ServerConfig
  store: AnnounceStore
  identity: ServerIdentity
  clock: Clock
  metrics: ServerMetrics
  readinessChecks: ReadinessCheck[]
  /** The DHT endpoint to publish in `/v1/info`, or null. Read on every request. */
  dhtEndpoint(): Endpoint | null
  /** The DHT node's text ID (its own key, per process) for `/v1/info`, or null. */
  dhtId(): string | null
  /** Where the relay listens (TCP), or null without a relay. */
  relayEndpoint(): Endpoint | null
  /** When the app was built (ms, on `clock`): uptime counts from here. */
  startedAt: number
  /** What the DHT node holds (mailboxes, routing table), or null without a DHT. */
  dhtStats(): Promise<DhtStats | null>
}

declare module 'fastify' {
  interface FastifyInstance {
    passage: PassageContext
  }
}

/** Decorates the app with {@link PassageContext}: the root every other plugin depends on. */
export const contextPlugin = fp(
  async (app: FastifyInstance, context: PassageContext) => {
    app.decorate('passage', context)
  },
  { name: 'passage-context', fastify: '5.x' },
)
