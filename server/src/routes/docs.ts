import type { FastifyInstance } from 'fastify'

/**
 * `GET /docs/json`: the OpenAPI document of every route. `GET /docs` sends there (no UI is
 * bundled: paste the document into any OpenAPI viewer, or read docs/PROTOCOL.md).
 */
export default async function docsRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/docs',
    { config: { rateLimit: false }, schema: { hide: true } },
    async (_request, reply) => reply.redirect('/docs/json'),
  )
  app.get('/docs/json', { config: { rateLimit: false }, schema: { hide: true } }, async () =>
    app.swagger(),
  )
}
