import {
  announceFromJson,
  announceToJson,
  nodeIdToHex,
  ReplayError,
  verifyAnnounce,
  type AnnounceJson,
} from '@passage/sdk'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { announceResultOfCode, normalizeError } from '../plugins/errors.js'
import { toPeer } from './peer.js'
import { announceBodySchema, observedSchema, peerListSchema, refusals } from './schemas.js'

/** Peers handed back with an accepted announce: enough to start a DHT lookup. */
const ANNOUNCE_PEER_SAMPLE = 20

/** The client address as this server sees it; IPv4-mapped IPv6 shown as plain IPv4. */
export function observedAddress(request: FastifyRequest): { host: string; port: number } {
  const host = request.ip.startsWith('::ffff:') ? request.ip.slice(7) : request.ip
  return { host, port: request.socket.remotePort ?? 0 }
}

/**
 * `POST /v1/announce`: checks in the contract's order (schema, key matches ID, signature,
 * audience, skew, replay), stores, and answers the observed address, the TTL and a sample
 * of other live peers. Every outcome is counted in `passage_announces_total{result}`.
 */
export default async function announceRoutes(app: FastifyInstance): Promise<void> {
  const { config, store, identity, clock, metrics } = app.passage

  app.post<{ Body: AnnounceJson }>(
    '/v1/announce',
    {
      schema: {
        tags: ['bootstrap'],
        summary: 'Announce this node: its ID, key and addresses, signed for this server.',
        body: announceBodySchema,
        response: {
          200: {
            type: 'object',
            properties: {
              observed: observedSchema,
              ttlMs: { type: 'integer' },
              expiresAt: { type: 'integer' },
              peers: peerListSchema,
            },
            required: ['observed', 'ttlMs', 'expiresAt', 'peers'],
          },
          ...refusals(400, 401, 409, 413, 415, 421, 429, 503),
        },
      },
      // Every refusal, wherever it happened (rate limit, body parser, schema, handler).
      onError: async (_request, _reply, error) => {
        metrics.countAnnounce(announceResultOfCode(normalizeError(error).code))
      },
    },
    async (request) => {
      const announce = announceFromJson(request.body)
      const now = clock.now()
      verifyAnnounce(announce, identity.keys, {
        audience: identity.id,
        now,
        skewMs: config.announceSkewMs,
      })
      const observed = observedAddress(request)
      const idHex = nodeIdToHex(announce.id)
      const expiresAt = now + config.announceTtlMs
      const result = await store.put({
        announce: announceToJson(announce),
        idHex,
        observed,
        expiresAt,
      })
      if (result === 'replay') {
        throw new ReplayError(
          `replayed: this server already holds seq ${announce.seq} or later for this ID; sign a new announce with a greater seq`,
        )
      }
      metrics.countAnnounce('accepted')
      // Other users' addresses go to anyone who announces only when the operator chose so.
      const sample = config.peersPublic ? await store.sample(ANNOUNCE_PEER_SAMPLE + 1, now) : []
      const peers = sample
        .filter((entry) => entry.idHex !== idHex)
        .slice(0, ANNOUNCE_PEER_SAMPLE)
        .map(toPeer)
      return { observed, ttlMs: config.announceTtlMs, expiresAt, peers }
    },
  )
}
