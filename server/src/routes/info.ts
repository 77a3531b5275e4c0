import { toBase64Url } from '@passage/sdk'
import type { FastifyInstance } from 'fastify'
import { SERVER_VERSION } from '../plugins/swagger.js'
import { refusals } from './schemas.js'

/** `GET /v1/info`: who this server is, its DHT endpoint, and its announce rules. */
export default async function infoRoutes(app: FastifyInstance): Promise<void> {
  const { config, identity } = app.passage
  const publicKey = toBase64Url(identity.publicKey)

  app.get(
    '/v1/info',
    {
      schema: {
        tags: ['bootstrap'],
        summary: "This server's ID, public key, version, DHT endpoint and announce rules.",
        response: {
          200: {
            type: 'object',
            properties: {
              id: { type: 'string', description: "The server's ID: the audience of announces." },
              publicKey: { type: 'string' },
              version: { type: 'string' },
              dht: {
                description: 'Where its DHT node listens (UDP), or null without a DHT.',
                anyOf: [
                  {
                    type: 'object',
                    properties: {
                      host: { type: 'string' },
                      port: { type: 'integer' },
                      id: {
                        type: 'string',
                        description:
                          "The DHT node's ID (its own key, per server process): the key its pong must prove.",
                      },
                    },
                    required: ['host', 'port'],
                  },
                  { type: 'null' },
                ],
              },
              relay: {
                description:
                  'Where its relay listens (TCP) for clients that cannot dial each other, or null without a relay.',
                anyOf: [
                  {
                    type: 'object',
                    properties: { host: { type: 'string' }, port: { type: 'integer' } },
                    required: ['host', 'port'],
                  },
                  { type: 'null' },
                ],
              },
              announceTtlMs: { type: 'integer' },
              announceSkewMs: { type: 'integer' },
              peersPublic: {
                type: 'boolean',
                description:
                  'Whether GET /v1/peers and announce answers list live peers; false: they list nobody.',
              },
            },
            required: [
              'id',
              'publicKey',
              'version',
              'dht',
              'announceTtlMs',
              'announceSkewMs',
              'peersPublic',
            ],
          },
          ...refusals(429),
        },
      },
    },
    async (request) => ({
      id: identity.textId,
      publicKey,
      version: SERVER_VERSION,
      dht: withDhtId(
        publishedEndpoint(app.passage.dhtEndpoint(), request.hostname, request.socket.localAddress),
        app.passage.dhtId(),
      ),
      relay: publishedEndpoint(
        app.passage.relayEndpoint(),
        request.hostname,
        request.socket.localAddress,
      ),
      announceTtlMs: config.announceTtlMs,
      announceSkewMs: config.announceSkewMs,
      peersPublic: config.peersPublic,
    }),
  )
}

/** The published DHT endpoint with the node's ID, when the server knows it. */
function withDhtId(
  endpoint: { host: string; port: number } | null,
  id: string | null,
): { host: string; port: number; id?: string } | null {
  return endpoint && id !== null ? { ...endpoint, id } : endpoint
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', ''])
const IP_LITERAL = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:.]*)$/i

/**
 * A DHT bound to a wildcard address is published at the IP address the client reached this
 * server on: the host of the request when it is an IP literal, else the local address of the
 * connection (DHT addresses are IP literals; a name would not match the UDP replies). Behind
 * NAT or a proxy, `--dht-advertise` sets the public endpoint instead.
 */
export function publishedEndpoint(
  endpoint: { host: string; port: number } | null,
  requestHostname: string,
  localAddress?: string,
): { host: string; port: number } | null {
  if (!endpoint || !WILDCARD_HOSTS.has(endpoint.host)) return endpoint
  const requested = requestHostname
    .replace(/^\[(.*)\](:\d+)?$/, '$1')
    .replace(/^([^:]*):\d+$/, '$1')
  const local = localAddress?.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1')
  const host = IP_LITERAL.test(requested) ? requested : local || requested || endpoint.host
  return { host, port: endpoint.port }
}
