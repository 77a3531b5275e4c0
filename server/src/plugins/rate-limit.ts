import rateLimit from '@fastify/rate-limit'
import { RateLimitedError } from '@passage/sdk'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** The window the per-IP limit counts in: one minute, as `--rate-limit` is per minute. */
const RATE_LIMIT_WINDOW_MS = 60_000

/**
 * Per-IP rate limit on every route that does not opt out (`config: { rateLimit: false }`:
 * health, readiness, metrics, docs). A refusal is a 429 `PASSAGE_ERR_RATE_LIMITED` with
 * `Retry-After` in seconds. `rateLimitPerMinute: 0` turns the limit off.
 */
export const rateLimitPlugin = fp(
  async (app: FastifyInstance) => {
    const max = app.passage.config.rateLimitPerMinute
    if (max === 0) return
    await app.register(rateLimit, {
      global: true,
      max,
      timeWindow: RATE_LIMIT_WINDOW_MS,
      // The client IP (honours --trust-proxy); never logged.
      keyGenerator: (request) => request.ip,
      addHeadersOnExceeding: {
        'x-ratelimit-limit': false,
        'x-ratelimit-remaining': false,
        'x-ratelimit-reset': false,
      },
      addHeaders: {
        'x-ratelimit-limit': true,
        'x-ratelimit-remaining': true,
        'x-ratelimit-reset': true,
        'retry-after': true,
      },
      errorResponseBuilder: (_request, context) =>
        new RateLimitedError(
          `too many requests from this address (${context.max} per minute); retry in ${context.after}`,
        ),
    })
  },
  {
    name: 'passage-rate-limit',
    fastify: '5.x',
    dependencies: ['passage-context', 'passage-errors'],
  },
)
