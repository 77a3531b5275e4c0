import { PassageError, UnavailableError } from '@passage/sdk'
import type { FastifyInstance } from 'fastify'
import { SERVER_VERSION } from '../plugins/swagger.js'
import { refusals } from './schemas.js'

/** What the DHT node holds, for `GET /v1/stats`. */
export interface DhtStats {
  /** Unexpired envelopes in the mailboxes this node stores, and their bytes. */
  mailboxes: { messages: number; bytes: number }
  /** Verified nodes in its routing table. */
  routingTableNodes: number
}

/**
 * `GET /v1/stats`: the figures an operator (or `passage status`) asks first: version,
 * uptime, live peers, mailboxes and the DHT routing table. The same numbers as `/metrics`
 * (`passage_mailbox_messages`, `passage_mailbox_bytes`, `passage_dht_routing_table_nodes`,
 * `passage_live_peers`, `passage_build_info`, `passage_process_start_time_seconds`), as JSON.
 */
export default async function statsRoutes(app: FastifyInstance): Promise<void> {
  const { store, clock, startedAt } = app.passage

  app.get(
    '/v1/stats',
    {
      schema: {
        tags: ['operations'],
        summary: 'Version, uptime, live peers, mailbox count and bytes, DHT routing-table size.',
        response: {
          200: {
            type: 'object',
            properties: {
              version: { type: 'string' },
              startedAt: { type: 'integer', description: 'When the server started (ms).' },
              uptimeMs: { type: 'integer' },
              livePeers: { type: 'integer', description: 'Announces that have not expired.' },
              mailboxes: {
                anyOf: [
                  {
                    type: 'object',
                    properties: { messages: { type: 'integer' }, bytes: { type: 'integer' } },
                    required: ['messages', 'bytes'],
                  },
                  { type: 'null' },
                ],
              },
              dht: {
                anyOf: [
                  {
                    type: 'object',
                    properties: { routingTableNodes: { type: 'integer' } },
                    required: ['routingTableNodes'],
                  },
                  { type: 'null' },
                ],
              },
            },
            required: ['version', 'startedAt', 'uptimeMs', 'livePeers', 'mailboxes', 'dht'],
          },
          ...refusals(429, 503),
        },
      },
    },
    async () => {
      const now = clock.now()
      const [livePeers, dht] = await Promise.all([
        store.countLive(now),
        app.passage.dhtStats().catch((error: unknown) => {
          if (error instanceof PassageError) throw error
          throw new UnavailableError('storage is unavailable; retry later', { cause: error })
        }),
      ])
      return {
        version: SERVER_VERSION,
        startedAt,
        uptimeMs: Math.max(0, now - startedAt),
        livePeers,
        mailboxes: dht?.mailboxes ?? null,
        dht: dht ? { routingTableNodes: dht.routingTableNodes } : null,
      }
    },
  )
}
