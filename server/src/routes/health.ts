import type { FastifyInstance } from 'fastify'
import type { ReadinessCheck } from '../plugins/context.js'
import { errorBodySchema } from '../plugins/errors.js'

/** A readiness check that has not answered in this long counts as failed. */
const READINESS_TIMEOUT_MS = 2_000

async function runCheck(check: ReadinessCheck): Promise<string> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${READINESS_TIMEOUT_MS} ms`)),
      READINESS_TIMEOUT_MS,
    )
    timer.unref()
  })
  try {
    await Promise.race([check.check(), timeout])
    return 'ok'
  } catch (error) {
    return error instanceof Error && error.message ? error.message : String(error)
  } finally {
    clearTimeout(timer)
  }
}

const checksSchema = {
  type: 'object',
  description: '"ok" per check, or why it failed.',
  additionalProperties: { type: 'string' },
} as const

/** `GET /healthz` (the process answers) and `GET /readyz` (every readiness check passes). */
export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  const { readinessChecks } = app.passage

  app.get(
    '/healthz',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process is up and answers.',
        response: {
          200: {
            type: 'object',
            properties: { status: { type: 'string', enum: ['ok'] } },
            required: ['status'],
          },
        },
      },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/readyz',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['operations'],
        summary: 'Readiness: storage reachable (and, later, DHT connected).',
        response: {
          200: {
            type: 'object',
            properties: { status: { type: 'string', enum: ['ready'] }, checks: checksSchema },
            required: ['status', 'checks'],
          },
          503: {
            type: 'object',
            properties: {
              ...errorBodySchema.properties,
              status: { type: 'string', enum: ['unready'] },
              checks: checksSchema,
            },
            required: [...errorBodySchema.required, 'status', 'checks'],
          },
        },
      },
    },
    async (_request, reply) => {
      const results = await Promise.all(readinessChecks.map(runCheck))
      const checks = Object.fromEntries(readinessChecks.map((c, i) => [c.name, results[i]!]))
      const failed = readinessChecks.filter((_, i) => results[i] !== 'ok')
      if (failed.length === 0) return { status: 'ready' as const, checks }
      return reply.code(503).send({
        statusCode: 503,
        code: 'PASSAGE_ERR_UNAVAILABLE',
        error: 'Service Unavailable',
        message: `not ready: ${failed.map((c) => `${c.name}: ${checks[c.name]}`).join('; ')}`,
        status: 'unready' as const,
        checks,
      })
    },
  )
}
