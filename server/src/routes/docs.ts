import type { FastifyInstance } from 'fastify'

/** `GET /docs/json`: the OpenAPI document of every route. */
export default async function docsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/docs/json', { config: { rateLimit: false }, schema: { hide: true } }, async () =>
    app.swagger(),
  )
}
