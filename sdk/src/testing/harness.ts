import { createSocket } from 'node:dgram'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity } from '../core/identity/identity.js'
import { LinkListener } from '../core/link/link-listener.js'
import type { Timers } from '../core/runtime/timers.js'
import { libsignalKeys } from '../node/libsignal/key-provider.js'
import { listenTcp } from '../node/tcp-socket.js'

/** What the helpers need of a test: a way to clean up after it (tap's `t`, node:test's…). */
export interface Teardown {
  teardown(fn: () => unknown): void
}

/** How long a wait may take by default: loopback answers in well under it. */
export const WAIT_MS = 3_000

/** Resolves as `promise` does, or rejects with "timed out waiting for `what`" after `ms`. */
export function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/**
 * Polls `check` every `everyMs` (20 ms) until it holds or `ms` (15 s) passed; resolves with
 * its last answer. For state that changes without an event to wait on.
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  options: { ms?: number; everyMs?: number } = {},
): Promise<boolean> {
  const deadline = Date.now() + (options.ms ?? 15_000)
  for (;;) {
    if (await check()) return true
    if (Date.now() >= deadline) return check()
    await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 20))
  }
}

/** {@link eventually} that rejects ("timed out waiting for `what`") instead of resolving false. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  options: { ms?: number; everyMs?: number } = {},
): Promise<void> {
  if (!(await eventually(check, { ms: WAIT_MS, everyMs: 5, ...options }))) {
    throw new Error(`timed out waiting for ${what}`)
  }
}

/** A UDP port free on 127.0.0.1 now (to share between sockets that bind the same number). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const { port } = socket.address()
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return port
}

/** A fresh, empty folder under the OS's temp folder, removed at teardown. */
export function tmpHome(t: Teardown, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `passage-${name}-`))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A direct-link listener of `identity` on 127.0.0.1 (port 0: any), closed at teardown. */
export async function listenLinks(
  t: Teardown,
  identity: Identity,
  options: { port?: number; timers?: Timers } = {},
): Promise<LinkListener> {
  const listener = await LinkListener.listen({
    listen: listenTcp,
    identity,
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.timers ? { timers: options.timers } : {}),
  })
  t.teardown(() => listener.close())
  return listener
}

/**
 * Fresh identities (libsignal keys), one per name.
 *
 * @example
 * const { alice, bob } = identities('alice', 'bob')
 */
export function identities<N extends string>(...names: N[]): Record<N, Identity> {
  return Object.fromEntries(names.map((n) => [n, Identity.generate(libsignalKeys)])) as Record<
    N,
    Identity
  >
}
