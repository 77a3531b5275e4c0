import { systemClock, type Clock } from '../runtime/clock.js'
import { LinkClosedError, UnreachableError, type PassageError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import { compareBytes, type NodeId } from '../identity/node-id.js'
import { encodeTextId } from '../identity/text-id.js'
import { toBytes, toHex, type Bytes } from '../wire/bytes.js'
import { backoffDelay, type BackoffOptions } from '../util/backoff.js'
import { dialLink, type DialLinkOptions, type Link, type LinkAddress } from './link.js'
import type { LinkPeer } from './link-protocol.js'
import type { LinkAccount } from './link-messages.js'
import type { AbortSignalLike } from '../runtime/host.js'
import type { StreamConnector } from '../net/ports.js'
import { systemTimers, type TimerHandle, type Timers } from '../runtime/timers.js'

/**
 * Time a direct address gets to connect and handshake when a relay address comes after it: a
 * host behind NAT or a firewall that drops packets never answers, and the relay should not
 * wait the full {@link HANDSHAKE_TIMEOUT_MS} behind it.
 */
export const DIRECT_BEFORE_RELAY_TIMEOUT_MS = 3_000 // 3 s: a LAN or internet SYN-ACK is far faster

export interface LinkManagerOptions {
  identity: Identity
  /** The account this device speaks for now, when it is not its own key (asked at each dial). */
  account?: () => LinkAccount | undefined
  /**
   * Where a peer can be dialed now, best first (LAN addresses before internet ones). An empty
   * list makes the peer unreachable.
   */
  resolve: (peerId: NodeId) => Promise<LinkAddress[]> | LinkAddress[]
  /** Opens the stream a link runs on (TCP in Node: `connectTcp` of `@passage/sdk/node`). */
  connect: StreamConnector
  /**
   * The connector for an address with `via: 'relay'`: it reaches `peerId` through that relay.
   * Without it such addresses are skipped.
   */
  relayConnect?: (peerId: Bytes, address: LinkAddress) => StreamConnector
  /** Dialer; default {@link dialLink} over {@link connect}. */
  dial?: (options: DialLinkOptions) => Promise<Link>
  clock?: Clock
  timers?: Timers
  /** [0, 1) source for backoff jitter; default `Math.random`. */
  random?: () => number
  backoff?: BackoffOptions
  handshakeTimeoutMs?: number
}

/** Reconnect state of one peer. */
export interface PeerBackoff {
  /** Failed dials in a row. */
  failures: number
  /** No dial before this time (ms since the epoch); `send` fails fast until then. */
  retryAt: number
}

type LinkHandler = (link: Link) => void
type FrameHandler = (payload: Bytes, peer: LinkPeer) => void
type DownHandler = (peer: LinkPeer, error: PassageError | undefined) => void
type UnreachableHandler = (peerId: NodeId, error: UnreachableError, retryInMs: number) => void

interface Handlers {
  link: Set<LinkHandler>
  frame: Set<FrameHandler>
  down: Set<DownHandler>
  unreachable: Set<UnreachableHandler>
}

/**
 * Keeps at most one {@link Link} per peer ID, dialing on demand and reconnecting to peers
 * it was asked to {@link LinkManager.keep} with capped, jittered exponential backoff.
 *
 * It queues nothing: {@link LinkManager.send} either hands the payload to an open link or
 * rejects with {@link UnreachableError} (no address, every dial failed, or backing off after
 * failures), so the caller falls back to the recipient's mailbox at once.
 *
 * When both peers dial each other at the same time, both keep the link dialed by the smaller
 * ID and close the other; a newer link in the same direction replaces the older one (the peer
 * restarted).
 *
 * Events: `link` (every link it keeps, dialed or adopted), `frame` (payload and peer, from
 * every kept link), `down` (a kept link closed), `unreachable` (a dial failed; with the delay
 * before the next attempt).
 *
 * @example
 * const listener = await LinkListener.listen({ identity, host: '0.0.0.0', port: 7400, listen: listenTcp })
 * const lan = new LanDiscovery({ identity, tcpPort: 7400 })
 * const links = new LinkManager({
 *   identity,
 *   // LAN first, then what the super-nodes and the DHT say (the client's resolver).
 *   resolve: async (id) => {
 *     const near = lan.peer(id)
 *     return [...(near ? [{ host: near.host, port: near.tcpPort }] : []), ...(await internet(id))]
 *   },
 *   connect: connectTcp,
 * })
 * listener.on('link', (link) => links.adopt(link))
 * links.on('frame', (payload, peer) => handleSignalMessage(peer, payload))
 * try {
 *   await links.send(bob.id, ciphertext)
 * } catch (error) {
 *   if (error instanceof UnreachableError) await putInMailbox(bob, ciphertext)
 *   else throw error
 * }
 */
export class LinkManager {
  private readonly links = new Map<string, Link>()
  private readonly dialing = new Map<string, Promise<Link>>()
  private readonly backoff = new Map<string, PeerBackoff>()
  private readonly timersByPeer = new Map<string, TimerHandle>()
  private readonly kept = new Map<string, NodeId>()
  private readonly handlers: Handlers = {
    link: new Set(),
    frame: new Set(),
    down: new Set(),
    unreachable: new Set(),
  }
  private readonly clock: Clock
  private readonly timers: Timers
  private readonly random: () => number
  private readonly dial: (options: DialLinkOptions) => Promise<Link>
  private closed = false

  constructor(private readonly options: LinkManagerOptions) {
    this.clock = options.clock ?? systemClock
    this.timers = options.timers ?? systemTimers
    this.random = options.random ?? Math.random
    this.dial = options.dial ?? dialLink
  }

  on(event: 'link', handler: LinkHandler): this
  on(event: 'frame', handler: FrameHandler): this
  on(event: 'down', handler: DownHandler): this
  on(event: 'unreachable', handler: UnreachableHandler): this
  on(event: keyof Handlers, handler: (...args: never[]) => void): this {
    ;(this.handlers[event] as Set<typeof handler>).add(handler)
    return this
  }

  off(event: keyof Handlers, handler: (...args: never[]) => void): this {
    ;(this.handlers[event] as Set<typeof handler>).delete(handler)
    return this
  }

  /** The open link to `peerId`, if any. */
  link(peerId: Uint8Array): Link | undefined {
    const link = this.links.get(toHex(peerId))
    return link && !link.closed ? link : undefined
  }

  /** Every open link. */
  openLinks(): Link[] {
    return [...this.links.values()].filter((link) => !link.closed)
  }

  /**
   * Whether {@link send} to `peerId` could go out now: a link is open or being dialed, or no
   * backoff holds the next dial. False is the cheap answer a sender asks before each copy of a
   * fan-out (a peer offline since its last failed dial goes to the mailbox at once).
   */
  reachable(peerId: Uint8Array): boolean {
    if (this.closed) return false
    const key = toHex(peerId)
    const link = this.links.get(key)
    if ((link && !link.closed) || this.dialing.has(key)) return true
    const state = this.backoff.get(key)
    return !state || this.clock.now() >= state.retryAt
  }

  /** The reconnect state of `peerId`, or undefined when its last dial worked (or none failed). */
  backoffOf(peerId: Uint8Array): PeerBackoff | undefined {
    const state = this.backoff.get(toHex(peerId))
    return state ? { ...state } : undefined
  }

  /**
   * Takes over a link accepted by a {@link LinkListener} (or dialed elsewhere). Returns the
   * link the manager keeps for that peer: this one, or an existing one it prefers (then
   * `link` is closed).
   */
  adopt(link: Link): Link {
    if (this.closed || link.closed) {
      link.close()
      // Closed by the peer right after the handshake: it keeps the link it dialed (below).
      return (!this.closed && this.link(link.peer.id)) || link
    }
    const key = toHex(link.peer.id)
    const existing = this.link(link.peer.id)
    if (existing && existing !== link) {
      if (this.prefers(existing, link)) {
        // What came on it before it closes is not lost (the peer may have sent before it
        // learned which link stays); answers go on the link kept.
        link.on('frame', (payload) => this.emit('frame', payload, link.peer))
        link.close()
        return existing
      }
      this.links.delete(key)
      existing.close()
    }
    this.links.set(key, link)
    this.clearBackoff(key)
    link.on('frame', (payload) => this.emit('frame', payload, link.peer))
    link.on('close', (error) => this.onLinkClosed(key, link, error))
    this.emit('link', link)
    return link
  }

  /**
   * The open link to `peerId`, dialing it if needed (concurrent calls share one dial).
   * Rejects with {@link UnreachableError} when backing off, when no address is known or
   * when every address failed (the error's `cause` is the last dial error).
   */
  async connect(peerId: Uint8Array, signal?: AbortSignalLike): Promise<Link> {
    return this.connectInternal(toBytes(peerId), signal, false)
  }

  /**
   * Sends one payload to `peerId` over its link, dialing first if needed. Never queues:
   * rejects with {@link UnreachableError} when no link can be had now (fall back to the
   * mailbox), or {@link LinkClosedError} if the link closed during the write.
   */
  async send(peerId: Uint8Array, payload: Uint8Array, signal?: AbortSignalLike): Promise<void> {
    const link = await this.connect(peerId, signal)
    await link.send(payload)
  }

  /** Keeps a link to `peerId` up: dials now if none, and redials with backoff whenever it drops. */
  keep(peerId: Uint8Array): void {
    const id = toBytes(peerId)
    const key = toHex(id)
    if (this.closed || this.kept.has(key)) return
    this.kept.set(key, id)
    if (!this.link(id) && !this.dialing.has(key) && !this.timersByPeer.has(key)) {
      this.connectInternal(id, undefined, true).catch(() => {})
    }
  }

  /** Stops keeping `peerId` up (an open link stays open; no more redials). */
  release(peerId: Uint8Array): void {
    const key = toHex(peerId)
    this.kept.delete(key)
    this.clearTimer(key)
  }

  /** Forgets the backoff of `peerId` (for example when it was just seen on the LAN). */
  retryNow(peerId: Uint8Array): void {
    const key = toHex(peerId)
    this.backoff.delete(key)
    const id = this.kept.get(key)
    if (id && !this.link(id) && !this.dialing.has(key)) {
      this.clearTimer(key)
      this.connectInternal(id, undefined, true).catch(() => {})
    }
  }

  /**
   * Closes every open link and keeps running: the next send dials anew (this node's account
   * claim changed, and links carry the claim of their handshake).
   */
  closeLinks(): void {
    for (const link of [...this.links.values()]) link.close()
  }

  /** Closes every link and cancels every redial. */
  close(): void {
    this.closed = true
    for (const key of [...this.timersByPeer.keys()]) this.clearTimer(key)
    this.kept.clear()
    for (const link of this.links.values()) link.close()
    this.links.clear()
  }

  private async connectInternal(
    peerId: Bytes,
    signal: AbortSignalLike | undefined,
    ignoreBackoff: boolean,
  ): Promise<Link> {
    const key = toHex(peerId)
    const open = this.link(peerId)
    if (open) return open
    if (this.closed) throw new UnreachableError('the link manager is closed')
    const inflight = this.dialing.get(key)
    if (inflight) return inflight
    const state = this.backoff.get(key)
    const now = this.clock.now()
    if (!ignoreBackoff && state && now < state.retryAt) {
      throw new UnreachableError(
        `no direct link to ${encodeTextId(peerId)}: ${state.failures} failed dials, next try in ${state.retryAt - now} ms`,
      )
    }
    const attempt = this.dialAll(peerId, signal).finally(() => this.dialing.delete(key))
    this.dialing.set(key, attempt)
    return attempt
  }

  private async dialAll(peerId: Bytes, signal: AbortSignalLike | undefined): Promise<Link> {
    const key = toHex(peerId)
    let lastError: unknown
    let addresses: LinkAddress[] = []
    try {
      addresses = await this.options.resolve(peerId)
    } catch (error) {
      lastError = error
    }
    const account = this.options.account?.()
    for (const [i, address] of addresses.entries()) {
      if (signal?.aborted || this.closed) break
      const relayed = address.via === 'relay'
      const relayNext = !relayed && addresses.slice(i + 1).some((a) => a.via === 'relay')
      const timeoutMs = relayNext
        ? Math.min(
            DIRECT_BEFORE_RELAY_TIMEOUT_MS,
            this.options.handshakeTimeoutMs ?? DIRECT_BEFORE_RELAY_TIMEOUT_MS,
          )
        : this.options.handshakeTimeoutMs
      if (relayed && !this.options.relayConnect) continue
      try {
        const link = await this.dial({
          host: address.host,
          port: address.port,
          expectedId: peerId,
          identity: this.options.identity,
          ...(account ? { account } : {}),
          connect: relayed ? this.options.relayConnect!(peerId, address) : this.options.connect,
          route: relayed ? 'relay' : 'direct',
          timers: this.timers,
          ...(signal ? { signal } : {}),
          ...(timeoutMs !== undefined ? { handshakeTimeoutMs: timeoutMs } : {}),
        })
        if (this.closed) {
          link.close()
          throw new UnreachableError('the link manager is closed')
        }
        return this.adopt(link)
      } catch (error) {
        lastError = error
      }
    }
    if (signal?.aborted) {
      throw new LinkClosedError('the dial was aborted', { cause: signal.reason })
    }
    const reason =
      addresses.length === 0
        ? 'no address known'
        : `${addresses.length} address(es) failed: ${lastError instanceof Error ? lastError.message : String(lastError)}`
    const error = new UnreachableError(`no direct link to ${encodeTextId(peerId)}: ${reason}`, {
      cause: lastError,
    })
    this.recordFailure(key, peerId, error)
    throw error
  }

  private recordFailure(key: string, peerId: Bytes, error: UnreachableError): void {
    if (this.closed) return
    const failures = (this.backoff.get(key)?.failures ?? 0) + 1
    const delay = backoffDelay(failures, this.random, this.options.backoff)
    this.backoff.set(key, { failures, retryAt: this.clock.now() + delay })
    if (this.kept.has(key)) this.scheduleDial(key, peerId, delay)
    this.emit('unreachable', peerId, error, delay)
  }

  private onLinkClosed(key: string, link: Link, error: PassageError | undefined): void {
    if (this.links.get(key) !== link) return // replaced by a preferred link
    this.links.delete(key)
    this.emit('down', link.peer, error)
    const id = this.kept.get(key)
    if (id && !this.closed) {
      this.scheduleDial(key, id, backoffDelay(1, this.random, this.options.backoff))
    }
  }

  private scheduleDial(key: string, peerId: Bytes, delay: number): void {
    this.clearTimer(key)
    const timer = this.timers.setTimeout(() => {
      this.timersByPeer.delete(key)
      if (this.closed || !this.kept.has(key) || this.link(peerId)) return
      this.connectInternal(peerId, undefined, true).catch(() => {})
    }, delay)
    this.timersByPeer.set(key, timer)
  }

  private clearBackoff(key: string): void {
    this.backoff.delete(key)
    this.clearTimer(key)
  }

  private clearTimer(key: string): void {
    const timer = this.timersByPeer.get(key)
    if (timer !== undefined) this.timers.clearTimeout(timer)
    this.timersByPeer.delete(key)
  }

  /** True when `a` should be kept over `b` (two links to the same peer). */
  private prefers(a: Link, b: Link): boolean {
    if (a.initiator === b.initiator) return false // same direction: the newer one wins
    const dialerOf = (link: Link) => (link.initiator ? this.options.identity.id : link.peer.id)
    return compareBytes(dialerOf(a), dialerOf(b)) < 0
  }

  private emit<E extends keyof Handlers>(
    event: E,
    ...args: Parameters<
      Handlers[E] extends Set<infer H>
        ? H extends (...a: infer P) => void
          ? (...a: P) => void
          : never
        : never
    >
  ): void {
    for (const handler of this.handlers[event]) {
      try {
        ;(handler as (...a: unknown[]) => void)(...args)
      } catch {
        // A throwing handler is the caller's bug; it must not break the manager.
      }
    }
  }
}
