import { NotFoundError, nodeIdToHex, parseTextId } from '@passage/sdk'
import type { FastifyInstance } from 'fastify'
import { toPeer } from './peer.js'
import { peerListSchema, peerSchema, refusals, textIdSchema } from './schemas.js'

/** Peers per `GET /v1/peers` when `limit` is not given. */
const DEFAULT_PEER_LIMIT = 20
/** Most peers one `GET /v1/peers` returns. */
const MAX_PEER_LIMIT = 100

/**
 * `GET /v1/peers` (closest to `near` by XOR, or random) and `GET /v1/peers/:id`. The list
 * names nobody unless the operator made it public (`--peers-public`): it would give every
 * online user's ID, IP address and port to anyone. Resolving one ID the asker already knows
 * (a contact) stays open: clients need it.
 */
export default async function peerRoutes(app: FastifyInstance): Promise<void> {
  const { store, clock, config } = app.passage

  app.get<{ Querystring: { near?: string; limit: number } }>(
    '/v1/peers',
    {
      schema: {
        tags: ['bootstrap'],
        summary:
          'Live peers: closest to `near` by XOR distance when given, random otherwise; none unless the operator lists peers publicly (`peersPublic` in /v1/info).',
        querystring: {
          type: 'object',
          properties: {
            near: textIdSchema,
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: MAX_PEER_LIMIT,
              default: DEFAULT_PEER_LIMIT,
            },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: { peers: peerListSchema },
            required: ['peers'],
          },
          ...refusals(400, 429, 503),
        },
      },
    },
    async (request) => {
      const { near, limit } = request.query
      // A bad `near` is refused the same whether or not peers are listed.
      const nearHex = near === undefined ? undefined : nodeIdToHex(parseTextId(near))
      if (!config.peersPublic) return { peers: [] }
      const now = clock.now()
      const entries =
        nearHex === undefined
          ? await store.sample(limit, now)
          : await store.closest(nearHex, limit, now)
      return { peers: entries.map(toPeer) }
    },
  )

  app.get<{ Params: { id: string } }>(
    '/v1/peers/:id',
    {
      schema: {
        tags: ['bootstrap'],
        summary: 'The latest live announce of one ID.',
        params: {
          type: 'object',
          properties: { id: textIdSchema },
          required: ['id'],
        },
        response: { 200: peerSchema, ...refusals(400, 404, 429, 503) },
      },
    },
    async (request) => {
      const entry = await store.get(nodeIdToHex(parseTextId(request.params.id)), clock.now())
      if (!entry) throw new NotFoundError('no live announce for this ID')
      return toPeer(entry)
    },
  )
}
