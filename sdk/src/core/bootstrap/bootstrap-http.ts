import {
  BadChecksumError,
  BadSignatureError,
  ClockSkewError,
  KeyMismatchError,
  MalformedError,
  NotFoundError,
  PassageError,
  RemoteError,
  ReplayError,
  RetryAfterError,
  TimeoutError,
  TooLargeError,
  UnavailableError,
  WrongAudienceError,
} from '../errors.js'
import type { Clock } from '../runtime/clock.js'
import {
  host,
  type AbortSignalLike,
  type Fetch,
  type FetchResponse,
  type UrlLike,
} from '../runtime/host.js'
import type { Timers } from '../runtime/timers.js'

/** An answer of a super-node: status, headers, and the body parsed as JSON (else its text). */
export interface Reply {
  status: number
  headers: FetchResponse['headers']
  body: unknown
}

type ErrorClass = new (message?: string, options?: { cause?: unknown }) => PassageError

/** The one place that turns a server's refusal `code` back into the SDK's error classes. */
const ERRORS_BY_CODE: ReadonlyMap<string, ErrorClass> = new Map<string, ErrorClass>([
  [MalformedError.code, MalformedError],
  [BadChecksumError.code, BadChecksumError],
  [KeyMismatchError.code, KeyMismatchError],
  [BadSignatureError.code, BadSignatureError],
  [ClockSkewError.code, ClockSkewError],
  [WrongAudienceError.code, WrongAudienceError],
  [ReplayError.code, ReplayError],
  [TooLargeError.code, TooLargeError],
  [NotFoundError.code, NotFoundError],
  [UnavailableError.code, UnavailableError],
])

/** For answers without a recognised `code` (a proxy in between, an older server). */
const ERRORS_BY_STATUS: ReadonlyMap<number, ErrorClass> = new Map<number, ErrorClass>([
  [404, NotFoundError],
  [413, TooLargeError],
  [503, UnavailableError],
])

/**
 * The largest answer read from a super-node: 1 MiB. A full peer list of 100 is about 60 KB;
 * anything much larger is a broken or hostile server, not worth the memory.
 */
export const MAX_RESPONSE_BYTES = 1_048_576

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_SOCKET: 'the connection closed unexpectedly',
}

/** How one super-node is reached over HTTP. */
export interface BootstrapHttpOptions {
  url: UrlLike
  fetch: Fetch
  timers: Pick<Timers, 'setTimeout' | 'clearTimeout'>
  clock: Clock
  timeoutMs: number
}

/**
 * Requests to one super-node: a timeout per request (body included), the caller's abort
 * signal, a cap on the answer's size, and every refusal turned back into the SDK's errors.
 */
export class BootstrapHttp {
  constructor(private readonly options: BootstrapHttpOptions) {}

  async request(
    method: 'GET' | 'POST',
    path: string,
    options: { signal?: AbortSignalLike; json?: unknown; accept?: (status: number) => boolean },
  ): Promise<Reply> {
    const { url: base, timeoutMs, timers } = this.options
    const url = new host.URL(path, base.href)
    const where = `the super-node at ${base.href}`
    const outer = options.signal
    outer?.throwIfAborted()
    const controller = new host.AbortController()
    let timedOut = false
    const timer = timers.setTimeout(() => {
      timedOut = true
      controller.abort()
    }, timeoutMs)
    const forward = () => controller.abort(outer?.reason)
    outer?.addEventListener('abort', forward, { once: true })
    try {
      const headers: Record<string, string> = { accept: 'application/json' }
      if (options.json !== undefined) headers['content-type'] = 'application/json'
      const response = await this.options.fetch(url.href, {
        method,
        headers,
        ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
        signal: controller.signal,
      })
      const declared = Number(response.headers.get('content-length') ?? 0)
      if (declared > MAX_RESPONSE_BYTES) {
        await response.body?.cancel()
        throw new RemoteError(
          `${where} sent an answer of ${declared} bytes, over the ${MAX_RESPONSE_BYTES} accepted`,
        )
      }
      const text = await response.text()
      if (text.length > MAX_RESPONSE_BYTES) {
        throw new RemoteError(
          `${where} sent an answer over the ${MAX_RESPONSE_BYTES} bytes accepted`,
        )
      }
      let body: unknown = undefined
      if (text.length > 0) {
        try {
          body = JSON.parse(text)
        } catch {
          body = text
        }
      }
      const reply: Reply = { status: response.status, headers: response.headers, body }
      if (response.ok || options.accept?.(response.status)) return reply
      throw this.refusal(reply)
    } catch (error) {
      if (outer?.aborted) throw outer.reason
      if (timedOut) {
        throw new TimeoutError(
          `${where} did not answer ${method} /${path.split('?')[0]} within ${timeoutMs / 1000} s; check the URL and your network, or retry later`,
          { cause: error },
        )
      }
      if (error instanceof PassageError) throw error
      throw new RemoteError(
        `could not reach ${where} (${networkReason(error)}); check the URL and that the server is running`,
        { cause: error },
      )
    } finally {
      timers.clearTimeout(timer)
      outer?.removeEventListener('abort', forward)
    }
  }

  /** The typed error for a refusal (a non-2xx answer). */
  refusal(reply: Reply): PassageError {
    const base = this.options.url
    const body = isObject(reply.body) ? reply.body : {}
    const code = typeof body.code === 'string' ? body.code : undefined
    const message = typeof body.message === 'string' && body.message ? body.message : undefined
    if (code === RetryAfterError.code || reply.status === 429) {
      return new RetryAfterError(
        retryAfterMs(reply.headers.get('retry-after'), this.options.clock),
        message ?? `the super-node at ${base.origin} is rate limiting this client; retry later`,
      )
    }
    const byCode = code === undefined ? undefined : ERRORS_BY_CODE.get(code)
    const ErrorClass = byCode ?? ERRORS_BY_STATUS.get(reply.status)
    if (ErrorClass) return new ErrorClass(message)
    return new RemoteError(
      `the super-node at ${base.origin} answered HTTP ${reply.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`,
    )
  }
}

/** The base URL of a super-node: `http://` when no scheme is given, ending with `/`. */
export function parseServerUrl(input: string | { readonly href: string }): UrlLike {
  const given = typeof input === 'string' ? input : input.href
  let text = given.trim()
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `http://${text}`
  let url: UrlLike
  try {
    url = new host.URL(text)
  } catch (cause) {
    throw new MalformedError(`not a URL: ${JSON.stringify(given)}`, { cause })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MalformedError(`a super-node URL is http:// or https://, got ${url.protocol}//`)
  }
  url.search = ''
  url.hash = ''
  if (!url.pathname.endsWith('/')) url.pathname += '/'
  return url
}

/** `Retry-After` is either seconds or an HTTP date. */
function retryAfterMs(header: string | null, clock: Clock): number | undefined {
  if (header === null || header.trim() === '') return undefined
  const trimmed = header.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - clock.now())
}

function networkReason(error: unknown): string {
  let message = error instanceof Error ? error.message : String(error)
  for (let e = error, depth = 0; isObject(e) && depth < 4; e = e.cause, depth++) {
    const code = e.code
    if (typeof code === 'string') return NETWORK_REASONS[code] ?? code
    if (typeof e.message === 'string' && e.message) message = e.message
  }
  return message
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
