import { STATUS_CODES } from 'node:http'
import { PassageError } from '@passage/sdk'
import type { FastifyError, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { AnnounceResult } from '../metrics.js'

/** The body of every refusal (see .notes/HTTP-API.md). */
export interface ErrorBody {
  statusCode: number
  code: string
  error: string
  message: string
}

/** JSON schema of {@link ErrorBody}, for the OpenAPI document. */
export const errorBodySchema = {
  type: 'object',
  description: 'A refusal: HTTP status, stable code, reason phrase, and what to do.',
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string', examples: ['PASSAGE_ERR_MALFORMED'] },
    error: { type: 'string' },
    message: { type: 'string' },
  },
  required: ['statusCode', 'code', 'error', 'message'],
} as const

/** The one table from stable error code to HTTP status. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  PASSAGE_ERR_MALFORMED: 400,
  PASSAGE_ERR_BAD_CHECKSUM: 400,
  PASSAGE_ERR_KEY_MISMATCH: 400,
  PASSAGE_ERR_CLOCK_SKEW: 400,
  PASSAGE_ERR_BAD_SIGNATURE: 401,
  PASSAGE_ERR_NOT_FOUND: 404,
  PASSAGE_ERR_REPLAY: 409,
  PASSAGE_ERR_TOO_LARGE: 413,
  PASSAGE_ERR_WRONG_AUDIENCE: 421,
  PASSAGE_ERR_RATE_LIMITED: 429,
  PASSAGE_ERR_UNAVAILABLE: 503,
}

/** Which `passage_announces_total` result a refusal of `POST /v1/announce` counts as. */
const ANNOUNCE_RESULT_BY_CODE: Readonly<Record<string, AnnounceResult>> = {
  PASSAGE_ERR_KEY_MISMATCH: 'key_mismatch',
  PASSAGE_ERR_BAD_SIGNATURE: 'bad_signature',
  PASSAGE_ERR_WRONG_AUDIENCE: 'wrong_audience',
  PASSAGE_ERR_CLOCK_SKEW: 'skew',
  PASSAGE_ERR_REPLAY: 'replay',
  PASSAGE_ERR_RATE_LIMITED: 'rate_limited',
  PASSAGE_ERR_UNAVAILABLE: 'error',
  PASSAGE_ERR_INTERNAL: 'error',
}

/** The HTTP status of a stable error code; undefined for codes this API never sends. */
export function statusOfCode(code: string): number | undefined {
  return STATUS_BY_CODE[code]
}

/** The announce result a refusal with `code` counts as (`invalid` for any bad input, `error` for the server's own failures). */
export function announceResultOfCode(code: string): AnnounceResult {
  return ANNOUNCE_RESULT_BY_CODE[code] ?? 'invalid'
}

function body(statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
}

/** "body/addresses/0/port must be <= 65535" → "addresses[0].port must be <= 65535". */
function validationMessage(error: FastifyError): string {
  const first = error.validation?.[0]
  if (!first) return error.message
  const part = error.validationContext ?? 'request'
  const segments = first.instancePath.split('/').filter((s) => s !== '')
  const missing = (first.params as { missingProperty?: unknown }).missingProperty
  if (first.keyword === 'required' && typeof missing === 'string') segments.push(missing)
  const extra = (first.params as { additionalProperty?: unknown }).additionalProperty
  if (first.keyword === 'additionalProperties' && typeof extra === 'string') {
    return `${part}: unknown field "${[...segments, extra].join('.')}"`
  }
  const field = segments
    .map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`))
    .join('')
  const where = field === '' ? part : `${part} field "${field}"`
  if (first.keyword === 'required') return `${where} is missing`
  return `${where} ${first.message ?? 'is invalid'}`
}

/**
 * Turns anything thrown while serving a request into the refusal the client gets: SDK
 * errors by their code, Fastify's own errors (validation, body size, content type, JSON
 * syntax) into the same codes. Anything else is a 500 that says nothing about internals.
 */
export function normalizeError(error: unknown): ErrorBody {
  if (error instanceof PassageError) {
    const status = statusOfCode(error.code)
    // A code this API does not send (a timeout inside the server, say) is the server's fault.
    if (status !== undefined) return body(status, error.code, error.message)
  }
  const fastifyError = error as Partial<FastifyError> | undefined
  if (fastifyError?.validation) {
    return body(400, 'PASSAGE_ERR_MALFORMED', validationMessage(fastifyError as FastifyError))
  }
  switch (fastifyError?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return body(
        413,
        'PASSAGE_ERR_TOO_LARGE',
        'the request body is larger than this server accepts (16 KiB)',
      )
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return body(
        415,
        'PASSAGE_ERR_MALFORMED',
        'unsupported content type: send the body as JSON with "Content-Type: application/json"',
      )
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return body(400, 'PASSAGE_ERR_MALFORMED', 'the body is empty; send a JSON object')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return body(400, 'PASSAGE_ERR_MALFORMED', 'the body is not valid JSON')
  }
  const status = fastifyError?.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Other client errors Fastify detects (bad JSON, bad headers, …): keep the status.
    const code =
      status === 404
        ? 'PASSAGE_ERR_NOT_FOUND'
        : status === 413
          ? 'PASSAGE_ERR_TOO_LARGE'
          : 'PASSAGE_ERR_MALFORMED'
    return body(status, code, fastifyError?.message ?? 'bad request')
  }
  return body(500, 'PASSAGE_ERR_INTERNAL', 'internal error; the operator can find it in the logs')
}

/** The error and not-found handlers: the one place where failures become HTTP answers. */
export const errorsPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler(async (error, request, reply) => {
      const answer = normalizeError(error)
      if (answer.statusCode >= 500) {
        request.log.error({ err: error }, 'request failed')
      } else {
        // Refusals are the client's business; details (may name IDs or hosts) only at debug.
        request.log.debug({ code: answer.code, message: answer.message }, 'request refused')
      }
      return reply.code(answer.statusCode).type('application/json; charset=utf-8').send(answer)
    })
    app.setNotFoundHandler(async (request, reply) => {
      const answer = body(
        404,
        'PASSAGE_ERR_NOT_FOUND',
        `no route ${request.method} ${request.url.split('?')[0]}; see /docs/json`,
      )
      return reply.code(404).send(answer)
    })
  },
  { name: 'passage-errors', fastify: '5.x' },
)
