import type { Identity } from '../identity/identity.js'
import { FrameDecoder } from '../link/frame-codec.js'
import { establishLink, type Link } from '../link/link.js'
import { LinkRole, type LinkAccount } from '../link/link-messages.js'
import type { ByteStream, StreamConnector } from '../net/ports.js'
import { systemTimers, type TimerHandle, type Timers } from '../runtime/timers.js'
import { backoffDelay, type BackoffOptions } from '../util/backoff.js'
import { MAX_RELAY_FRAME_BYTES, RelayFrameType, decodeRelayFrame } from './relay-messages.js'
import { relayHandshake } from './relay-client.js'

export interface RelayRegistrationOptions {
  identity: Identity
  /** The account this device speaks for, when it is not its own key (asked at each link). */
  account?: () => LinkAccount | undefined
  connect: StreamConnector
  host: string
  port: number
  /** The relay's ID (the super-node's): another one at that address is refused. */
  relayId?: Uint8Array
  /** Each relayed link that peers open to us, authenticated end to end (we are its listener). */
  onLink: (link: Link) => void
  /** Registered or not any more. */
  onChange?: () => void
  timers?: Timers
  /** [0, 1) source for backoff jitter; default `Math.random`. */
  random?: () => number
  backoff?: BackoffOptions
}

/**
 * Keeps this client reachable through one relay: an outbound connection on which it registered
 * (signed by its identity key), re-registering with backoff when it drops. For each `incoming`
 * the relay announces, it opens a second connection, accepts with the token, and runs the link
 * handshake on it as the listener: the relay only carries the bytes of a link whose ends
 * authenticated each other.
 */
export class RelayRegistration {
  private control: ByteStream | undefined
  private timer: TimerHandle | undefined
  private failures = 0
  private closed = false
  private isRegistered = false
  private readonly timers: Timers
  private readonly pending = new Set<ByteStream>()

  constructor(private readonly options: RelayRegistrationOptions) {
    this.timers = options.timers ?? systemTimers
  }

  /** True while the relay holds our registration. */
  get registered(): boolean {
    return this.isRegistered
  }

  /** The relay's address. */
  get address(): { host: string; port: number } {
    return { host: this.options.host, port: this.options.port }
  }

  start(): void {
    if (this.closed || this.control || this.timer !== undefined) return
    void this.register()
  }

  close(): void {
    this.closed = true
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    this.timer = undefined
    this.control?.destroy()
    for (const stream of this.pending) stream.destroy()
    this.setRegistered(false)
  }

  private async register(): Promise<void> {
    const { options } = this
    let stream: ByteStream
    try {
      stream = await relayHandshake({
        connect: options.connect,
        host: options.host,
        port: options.port,
        identity: options.identity,
        ask: { type: 'register' },
        ...(options.relayId ? { relayId: options.relayId } : {}),
        timers: this.timers,
      })
    } catch {
      this.retry()
      return
    }
    if (this.closed) {
      stream.destroy()
      return
    }
    this.control = stream
    this.failures = 0
    this.setRegistered(true)
    const decoder = new FrameDecoder(MAX_RELAY_FRAME_BYTES)
    stream.onData((chunk) => {
      try {
        for (const body of decoder.push(chunk)) {
          const frame = decodeRelayFrame(body)
          if (frame.type !== RelayFrameType.incoming) throw new Error('unexpected relay frame')
          void this.accept(frame.token)
        }
      } catch {
        stream.destroy()
      }
    })
    stream.onClose(() => {
      if (this.control !== stream) return
      this.control = undefined
      this.setRegistered(false)
      this.retry()
    })
  }

  private async accept(token: Uint8Array): Promise<void> {
    const { options } = this
    let stream: ByteStream | undefined
    try {
      stream = await relayHandshake({
        connect: options.connect,
        host: options.host,
        port: options.port,
        identity: options.identity,
        ask: { type: 'accept', token },
        ...(options.relayId ? { relayId: options.relayId } : {}),
        timers: this.timers,
      })
      if (this.closed) throw new Error('closed')
      this.pending.add(stream)
      const account = options.account?.()
      const link = await establishLink(stream, LinkRole.listener, {
        identity: options.identity,
        ...(account ? { account } : {}),
        timers: this.timers,
        route: 'relay',
      })
      this.pending.delete(stream)
      if (this.closed) link.close()
      else options.onLink(link)
    } catch {
      // The dialer gave up, the relay cut it, or the far end failed the handshake: it will
      // dial again or use our mailbox.
      if (stream) {
        this.pending.delete(stream)
        stream.destroy()
      }
    }
  }

  private retry(): void {
    if (this.closed) return
    this.failures++
    const delay = backoffDelay(
      this.failures,
      this.options.random ?? Math.random,
      this.options.backoff,
    )
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined
      void this.register()
    }, delay)
  }

  private setRegistered(value: boolean): void {
    if (this.isRegistered === value) return
    this.isRegistered = value
    this.options.onChange?.()
  }
}
