// Builds the real app on real storage for one backend (see databases.ts), for app.inject().
import {
  announceToJson,
  createAnnounce,
  Identity,
  ManualClock,
  type AnnounceJson,
  type NodeId,
  type PeerAddress,
} from '@passage/sdk'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Logger } from 'pino'
import { buildApp } from '../../src/app.js'
import type { ServerConfig } from '../../src/config.js'
import { loadOrCreateNodeIdentity } from '../../src/db/node-identity-store.js'
import { PostgresAnnounceStore } from '../../src/db/postgres-announce-store.js'
import { ServerMetrics } from '../../src/metrics.js'
import type { Backend, TeardownHost, TestDatabase } from './databases.js'

/** Fixed start of the manual clock in app tests. */
export const T0 = 1_764_000_000_000

export interface AppFixture {
  app: FastifyInstance
  database: TestDatabase
  store: PostgresAnnounceStore
  identity: Identity
  clock: ManualClock
  metrics: ServerMetrics
  /** Closes the app (not the storage): the first half of a restart. */
  close(): Promise<void>
}

export interface FixtureOptions {
  config?: Partial<ServerConfig>
  logger?: Logger
  clock?: ManualClock
  database?: TestDatabase
  defaultMetrics?: boolean
}

/** A fresh database on `backend`, the server identity in it, and the app over it. */
export async function appFixture(
  t: TeardownHost,
  backend: Backend,
  options: FixtureOptions = {},
): Promise<AppFixture> {
  const metrics = new ServerMetrics({ defaultMetrics: options.defaultMetrics ?? false })
  const database =
    options.database ?? (await backend.openDatabase(t, { onQuery: metrics.observeStorageQuery }))
  const clock = options.clock ?? new ManualClock(T0)
  const identity = await loadOrCreateNodeIdentity(database.db, clock)
  const store = new PostgresAnnounceStore(database.db, { clock })
  const app = await buildApp({
    config: { rateLimitPerMinute: 10_000, ...options.config },
    store,
    identity,
    clock,
    metrics,
    storagePing: () => database.ping(),
    ...(options.logger && { logger: options.logger }),
  })
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await app.close()
  }
  t.teardown(close)
  return { app, database, store, identity, clock, metrics, close }
}

/** A signed announce (JSON form) of `node` for the server `audience`. */
export function signedAnnounce(
  node: Identity,
  audience: NodeId,
  fields: { seq?: number; timestamp: number; addresses?: PeerAddress[] },
): AnnounceJson {
  return announceToJson(
    createAnnounce(node, {
      audience,
      seq: fields.seq ?? 1,
      timestamp: fields.timestamp,
      addresses: fields.addresses ?? [{ transport: 'tcp', host: '', port: 7400 }],
    }),
  )
}

/** Posts an announce through app.inject(). */
export function postAnnounce(
  app: FastifyInstance,
  body: unknown,
  extra: { remoteAddress?: string; headers?: Record<string, string> } = {},
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/v1/announce',
    ...(typeof body === 'string' ? { payload: body } : { payload: body as object }),
    headers: { 'content-type': 'application/json', ...extra.headers },
    ...(extra.remoteAddress && { remoteAddress: extra.remoteAddress }),
  })
}

/** The value of one sample in Prometheus text, e.g. `passage_announces_total{result="replay"}`. */
export function sampleValue(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1))
  }
  return undefined
}

/** `passage_announces_total` per result, from the app's /metrics. */
export async function announceCounts(app: FastifyInstance): Promise<Record<string, number>> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const counts: Record<string, number> = {}
  for (const match of text.matchAll(/^passage_announces_total\{result="([a-z_]+)"\} (\d+)$/gm)) {
    counts[match[1]!] = Number(match[2])
  }
  return counts
}

export { Identity }
