import { Identity, nodeListToJson, UnavailableError } from '@passage/sdk'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Gauge } from 'prom-client'
import { METRIC_PREFIX } from '../metrics.js'
import { PeerNodeChecker, type PeerNodeStatus } from '../nodes/peer-node-checker.js'
import { refusals } from './schemas.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The other super-nodes this one checks (`--peer-node`); null when it cannot sign. */
    peerNodes: PeerNodeChecker | null
  }
}

const endpointSchema = {
  description: 'Its DHT endpoint (UDP), or null without a DHT.',
  anyOf: [
    {
      type: 'object',
      properties: { host: { type: 'string' }, port: { type: 'integer' } },
      required: ['host', 'port'],
    },
    { type: 'null' },
  ],
} as const

const nodeListSchema = {
  type: 'object',
  description:
    'Healthy super-nodes known to this one. Only `record` is signed: verify it with the ' +
    "server's public key from /v1/info (docs/PROTOCOL.md, record type 5).",
  properties: {
    id: { type: 'string', description: 'The signer: this server.' },
    publicKey: { type: 'string' },
    seq: { type: 'integer' },
    timestamp: { type: 'integer' },
    nodes: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          url: { type: 'string' },
          id: { type: 'string' },
          dht: endpointSchema,
          lastChecked: { type: 'integer', description: 'When it last answered, ms since epoch.' },
        },
        required: ['url', 'id', 'dht', 'lastChecked'],
      },
    },
    record: { type: 'string', description: 'The signed record (type 5), base64url.' },
  },
  required: ['id', 'publicKey', 'seq', 'timestamp', 'nodes', 'record'],
} as const

/**
 * `GET /v1/nodes`: the other super-nodes this one knows (`--peer-node`) that answered their
 * last check, in a record signed by this server's key. Checks run from `onReady` until close.
 * Also exports `passage_peer_nodes{state}`.
 */
async function nodeRoutes(app: FastifyInstance): Promise<void> {
  const { config, identity, clock, metrics } = app.passage
  const gaugeName = `${METRIC_PREFIX}peer_nodes`
  const gauge =
    (metrics.registry.getSingleMetric(gaugeName) as Gauge<'state'> | undefined) ??
    new Gauge({
      name: gaugeName,
      help: 'Other super-nodes (--peer-node) by the result of their last check: healthy or unhealthy.',
      labelNames: ['state'],
      registers: [metrics.registry],
    })
  const count = (statuses: readonly PeerNodeStatus[]): void => {
    const healthy = statuses.filter((node) => node.healthy).length
    gauge.set({ state: 'healthy' }, healthy)
    gauge.set({ state: 'unhealthy' }, statuses.length - healthy)
  }
  // The app is handed an Identity (it can sign) by startServer; a bare public identity cannot.
  const checker =
    identity instanceof Identity
      ? new PeerNodeChecker({
          urls: config.peerNodes,
          identity,
          clock,
          intervalMs: config.peerNodeCheckIntervalMs,
          timeoutMs: config.peerNodeTimeoutMs,
          logger: app.log,
          onRound: count,
        })
      : null
  gauge.set({ state: 'healthy' }, 0)
  gauge.set({ state: 'unhealthy' }, config.peerNodes.length)
  app.decorate('peerNodes', checker)
  app.addHook('onReady', async () => {
    if (config.peerNodes.length > 0) checker?.start()
  })
  app.addHook('onClose', async () => {
    await checker?.stop()
  })

  app.get(
    '/v1/nodes',
    {
      schema: {
        tags: ['bootstrap'],
        summary: 'Other super-nodes that answered their last check, signed by this server.',
        response: { 200: nodeListSchema, ...refusals(429, 503) },
      },
    },
    async () => {
      if (!checker) throw new UnavailableError('this server has no signing key for a node list')
      return nodeListToJson(checker.signedList())
    },
  )
}

export default fp(nodeRoutes, { name: 'passage-nodes', dependencies: ['passage-context'] })
