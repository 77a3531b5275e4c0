import swagger from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { SERVER_VERSION } from '../version.js'

export { SERVER_VERSION } from '../version.js'

/**
 * Collects every route's schema into an OpenAPI 3.1 document, served at `/docs/json`.
 * Registered before the routes so that it sees them all.
 */
export const swaggerPlugin = fp(
  async (app: FastifyInstance) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Passage super-node: bootstrap API',
          description:
            'Peer discovery for Passage: signed announces in, live peers out. Every refusal is ' +
            '`{ statusCode, code, error, message }` with a stable `PASSAGE_ERR_*` code.',
          version: SERVER_VERSION,
        },
        tags: [
          { name: 'bootstrap', description: 'announces and peers' },
          { name: 'operations', description: 'health, readiness, metrics' },
        ],
      },
    })
  },
  { name: 'passage-swagger', fastify: '5.x' },
)
