import {
  BadSignatureError,
  BadTokenError,
  ClockSkewError,
  KeyMismatchError,
  MailboxFullError,
  MalformedError,
  NotFoundError,
  QuotaExceededError,
  RateLimitedError,
  RemoteError,
  ReplayError,
  TooLargeError,
  UnavailableError,
  WrongAudienceError,
  type PassageError,
} from '../errors.js'

// The DHT's wire error codes: the one place that maps SDK errors to numbers and back.

type ErrorClass = new (message?: string) => PassageError

/** Wire error numbers. Numbers are never reused; unknown numbers decode as {@link RemoteError}. */
export const WIRE_ERRORS: ReadonlyArray<readonly [number, ErrorClass]> = [
  [1, MalformedError],
  [2, BadSignatureError],
  [3, KeyMismatchError],
  [4, ClockSkewError],
  [5, ReplayError],
  [6, WrongAudienceError],
  [7, RateLimitedError],
  [8, NotFoundError],
  [9, BadTokenError],
  [10, MailboxFullError],
  [11, QuotaExceededError],
  [12, TooLargeError],
  [13, UnavailableError],
]
/** The number sent for failures without a more specific code. */
export const WIRE_ERROR_INTERNAL = 0

/** The wire error number for an error (0 for anything not in {@link WIRE_ERRORS}). */
export function wireErrorCode(error: unknown): number {
  for (const [code, cls] of WIRE_ERRORS) if (error instanceof cls) return code
  return WIRE_ERROR_INTERNAL
}

/** The SDK error for a wire error number and text. */
export function errorFromWire(code: number, message: string): PassageError {
  const found = WIRE_ERRORS.find(([c]) => c === code)
  const text = `remote: ${message}`
  return found ? new found[1](text) : new RemoteError(text)
}
