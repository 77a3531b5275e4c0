import type { Bytes } from '../wire/bytes.js'

/**
 * An abort signal as the core uses it: the subset of the web platform's `AbortSignal` that
 * every JavaScript host has (Node.js, browsers, React Native). A real `AbortSignal` is one.
 */
export interface AbortSignalLike {
  readonly aborted: boolean
  readonly reason?: unknown
  throwIfAborted(): void
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

/**
 * The host's own `AbortSignal` type where the compilation knows one (Node's or the DOM's
 * typings), else {@link AbortSignalLike}: so the host's `fetch` takes the signals the core
 * makes with the host's `AbortController`, and the core compiles without any host typings.
 */
export type HostAbortSignal = typeof globalThis extends { AbortSignal: { prototype: infer S } }
  ? S & AbortSignalLike
  : AbortSignalLike

/** A request as the core makes it over HTTP (a subset of `fetch`'s `RequestInit`). */
export interface FetchRequest {
  method?: string
  headers?: Record<string, string>
  body?: string
  signal?: HostAbortSignal
}

/** An HTTP answer as the core reads it (a subset of `fetch`'s `Response`). */
export interface FetchResponse {
  readonly status: number
  readonly ok: boolean
  readonly headers: { get(name: string): string | null }
  readonly body: { cancel(reason?: unknown): Promise<void> } | null
  text(): Promise<string>
}

/** HTTP for the bootstrap client: the host's `fetch`, or any function of the same shape. */
export type Fetch = (url: string, request: FetchRequest) => Promise<FetchResponse>

/** A parsed URL (the subset of WHATWG `URL` the core reads and edits). */
export interface UrlLike {
  readonly href: string
  readonly origin: string
  readonly protocol: string
  readonly hostname: string
  pathname: string
  search: string
  hash: string
}

/**
 * What the core takes from its host beyond ECMAScript: web-platform globals that Node.js,
 * browsers, Deno, Bun and React Native all provide (WinterCG's minimum common API). Each one
 * is only a default behind a port: timers, random and fetch can all be passed in instead.
 */
interface HostGlobals {
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
  setInterval(callback: () => void, ms: number): unknown
  clearInterval(handle: unknown): void
  queueMicrotask(callback: () => void): void
  /** Node.js and React Native have it; elsewhere a zero timeout stands in. */
  setImmediate?(callback: () => void): unknown
  performance?: { now(): number }
  crypto?: { getRandomValues(array: Uint8Array): Uint8Array }
  TextEncoder: new () => { encode(text: string): Uint8Array }
  TextDecoder: new (
    label: string,
    options: { fatal: boolean },
  ) => { decode(bytes: Uint8Array): string }
  URL: new (input: string, base?: string) => UrlLike
  AbortController: new () => { readonly signal: HostAbortSignal; abort(reason?: unknown): void }
  fetch?: Fetch
}

/** @internal The host's globals, typed by what the core expects of them. */
export const host = globalThis as unknown as HostGlobals

/** Runs `fn` once the current turn, its microtasks included, is over. */
export function nextTurn(fn: () => void): void {
  if (host.setImmediate) host.setImmediate(fn)
  else host.setTimeout(fn, 0)
}

/** The host's `fetch`, looked up when called (tests may replace the global). */
export const hostFetch: Fetch = (url, request) => {
  if (!host.fetch) throw new Error('this host has no fetch(): pass one in the options')
  return host.fetch(url, request)
}

/** Bytes of the host's `crypto.getRandomValues` at most per call (the Web Crypto limit). */
const MAX_RANDOM_CALL_BYTES = 65_536

/** Fresh random bytes from a cryptographically secure source. */
export type Random = (length: number) => Bytes

/**
 * The host's `crypto.getRandomValues`. React Native has none by default: install
 * `react-native-get-random-values`, or pass a {@link Random} in the options.
 */
export const systemRandom: Random = (length) => {
  const crypto = host.crypto
  if (!crypto) {
    throw new Error(
      'this host has no crypto.getRandomValues(): pass a random source in the options',
    )
  }
  const out = new Uint8Array(length)
  for (let at = 0; at < length; at += MAX_RANDOM_CALL_BYTES) {
    crypto.getRandomValues(out.subarray(at, Math.min(length, at + MAX_RANDOM_CALL_BYTES)))
  }
  return out
}

/** A number in [0, 1) from a {@link Random} (for jitter). */
export function randomFraction(random: Random): number {
  const b = random(4)
  return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) / 4_294_967_296
}
