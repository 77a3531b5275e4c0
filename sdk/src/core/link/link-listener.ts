import type { PassageError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import type { ByteStream, StreamListen, StreamListener } from '../net/ports.js'
import type { AbortSignalLike } from '../runtime/host.js'
import { establishLink, HANDSHAKE_TIMEOUT_MS, type Link, type LinkAddress } from './link.js'
import { LinkRole, type LinkAccount } from './link-messages.js'
import type { Timers } from '../runtime/timers.js'

/** Handshakes in progress at once; more connections are dropped until some finish. */
const MAX_PENDING_HANDSHAKES = 128 // each costs a socket and one signature; bounds a flood

export interface LinkListenerOptions {
  identity: Identity
  /** The account this device speaks for now, when it is not its own key (asked at each handshake). */
  account?: () => LinkAccount | undefined
  /** Literal address to bind; default `127.0.0.1`. */
  host?: string
  /** TCP port; 0 (default) picks a free one. */
  port?: number
  timers?: Timers
  /** Default {@link HANDSHAKE_TIMEOUT_MS}. */
  handshakeTimeoutMs?: number
  /** Binds the listening socket (TCP in Node: `listenTcp` of `@passage/sdk/node`). */
  listen: StreamListen
}

/** Counters of a {@link LinkListener}. */
export interface LinkListenerStats {
  accepted: number
  refused: number
  /** Refusals by error code (`PASSAGE_ERR_BAD_SIGNATURE`, `PASSAGE_ERR_TIMEOUT`, …). */
  refusedByCode: Record<string, number>
}

type LinkHandler = (link: Link) => void
type RefusedHandler = (error: PassageError, remote: LinkAddress) => void

/**
 * Accepts TCP connections and hands out {@link Link}s whose peer proved its identity. A
 * connection that fails the handshake (bad proof, garbage, too slow) is closed and reported
 * as `refused`, never as a link.
 *
 * @example
 * const listener = await LinkListener.listen({ identity: bob, listen: listenTcp })
 * listener.on('link', (link) => link.on('frame', onMessage))
 * // … later
 * await listener.close()
 */
export class LinkListener {
  private readonly links = new Set<Link>()
  private readonly pending = new Set<ByteStream>()
  private readonly linkHandlers = new Set<LinkHandler>()
  private readonly refusedHandlers = new Set<RefusedHandler>()
  private closing = false
  private readonly stopWaiters = new Set<() => void>()
  readonly stats: LinkListenerStats = { accepted: 0, refused: 0, refusedByCode: {} }

  private constructor(
    private readonly server: StreamListener,
    private readonly options: LinkListenerOptions,
  ) {
    server.onConnection((stream) => this.onConnection(stream))
  }

  /** Binds and starts listening. */
  static async listen(options: LinkListenerOptions): Promise<LinkListener> {
    const server = await options.listen(options.host ?? '127.0.0.1', options.port ?? 0)
    return new LinkListener(server, options)
  }

  /** The bound address (the port matters when 0 was asked). */
  address(): LinkAddress {
    return this.server.address()
  }

  /** Links that are open now. */
  openLinks(): Link[] {
    return [...this.links]
  }

  on(event: 'link', handler: LinkHandler): this
  on(event: 'refused', handler: RefusedHandler): this
  on(event: 'link' | 'refused', handler: LinkHandler | RefusedHandler): this {
    if (event === 'link') this.linkHandlers.add(handler as LinkHandler)
    else this.refusedHandlers.add(handler as RefusedHandler)
    return this
  }

  off(event: 'link' | 'refused', handler: LinkHandler | RefusedHandler): this {
    if (event === 'link') this.linkHandlers.delete(handler as LinkHandler)
    else this.refusedHandlers.delete(handler as RefusedHandler)
    return this
  }

  /**
   * The links accepted from now on, as an async iterator; it ends when the listener closes or
   * `signal` aborts. Links that arrive while the loop body runs are queued for it.
   *
   * @example
   * for await (const link of listener.accepted()) link.on('frame', onMessage)
   */
  async *accepted(signal?: AbortSignalLike): AsyncGenerator<Link> {
    const queue: Link[] = []
    let wake: (() => void) | undefined
    const onLink = (link: Link) => {
      queue.push(link)
      wake?.()
    }
    const onStop = () => wake?.()
    this.on('link', onLink)
    this.stopWaiters.add(onStop)
    signal?.addEventListener('abort', onStop)
    try {
      for (;;) {
        const next = queue.shift()
        if (next) {
          yield next
          continue
        }
        if (this.closing || signal?.aborted) return
        await new Promise<void>((resolve) => (wake = resolve))
        wake = undefined
      }
    } finally {
      this.off('link', onLink)
      this.stopWaiters.delete(onStop)
      signal?.removeEventListener('abort', onStop)
    }
  }

  /** Stops listening and closes every link and pending handshake. */
  async close(): Promise<void> {
    this.closing = true
    for (const wake of this.stopWaiters) wake()
    for (const stream of this.pending) stream.destroy()
    for (const link of this.links) link.close()
    await this.server.close()
  }

  private onConnection(stream: ByteStream): void {
    if (this.closing || this.pending.size >= MAX_PENDING_HANDSHAKES) {
      stream.destroy()
      return
    }
    const remote = { ...stream.remote }
    this.pending.add(stream)
    const account = this.options.account?.()
    establishLink(stream, LinkRole.listener, {
      identity: this.options.identity,
      ...(account ? { account } : {}),
      ...(this.options.timers ? { timers: this.options.timers } : {}),
      handshakeTimeoutMs: this.options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
    }).then(
      (link) => {
        this.pending.delete(stream)
        if (this.closing) {
          link.close()
          return
        }
        this.stats.accepted++
        this.links.add(link)
        link.on('close', () => this.links.delete(link))
        for (const handler of this.linkHandlers) {
          try {
            handler(link)
          } catch {
            // The caller's bug; the listener goes on.
          }
        }
      },
      (error: PassageError) => {
        this.pending.delete(stream)
        this.stats.refused++
        this.stats.refusedByCode[error.code] = (this.stats.refusedByCode[error.code] ?? 0) + 1
        for (const handler of this.refusedHandlers) {
          try {
            handler(error, remote)
          } catch {
            // As above.
          }
        }
      },
    )
  }
}
