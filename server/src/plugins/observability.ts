import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** Label of requests that matched no route (so raw URLs never become label values). */
const UNMATCHED_ROUTE = 'unmatched'

/**
 * Times every request into `passage_http_request_duration_seconds{method,route,status}`
 * (the route *pattern*, e.g. `/v1/peers/:id`) and writes one log line per request that
 * names the route pattern and status only: no client address, no URL, no ID.
 */
export const observabilityPlugin = fp(
  async (app: FastifyInstance) => {
    const { metrics } = app.passage
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? UNMATCHED_ROUTE
      const status = String(reply.statusCode)
      metrics.httpRequestDuration.observe(
        { method: request.method, route, status },
        reply.elapsedTime / 1000,
      )
      request.log.info(
        {
          method: request.method,
          route,
          statusCode: reply.statusCode,
          responseTimeMs: Math.round(reply.elapsedTime * 100) / 100,
        },
        'request completed',
      )
    })
  },
  { name: 'passage-observability', fastify: '5.x', dependencies: ['passage-context'] },
)
