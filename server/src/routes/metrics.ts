import type { FastifyInstance } from 'fastify'

/** `GET /metrics`: Prometheus text exposition of the app's own registry. */
export default async function metricsRoutes(app: FastifyInstance): Promise<void> {
  const { metrics } = app.passage

  app.get(
    '/metrics',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format).',
        produces: ['text/plain'],
        response: { 200: { type: 'string', description: 'Prometheus text format 0.0.4.' } },
      },
    },
    async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()),
  )
}
