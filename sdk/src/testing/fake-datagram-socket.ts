import type { DatagramSocket, DatagramSource } from '../core/net/ports.js'
import type { Bytes } from '../core/wire/bytes.js'

/** A datagram a {@link FakeDatagramSocket} was asked to send. */
export interface SentDatagram {
  bytes: Bytes
  host: string
  port: number
}

/**
 * A {@link DatagramSocket} in memory, for unit tests without UDP: it records what is sent and
 * hands the receive handler whatever the test delivers. Sends resolve at once (reject once
 * closed), as a real socket's hand-over to the OS does.
 *
 * @example
 * const socket = new FakeDatagramSocket()
 * const node = new DhtNode({ identity, socket, timers })
 * socket.deliver(encodeMessage(ping), { host: '127.0.0.1', port: 7401 })
 * const [pong] = socket.take()
 */
export class FakeDatagramSocket implements DatagramSocket {
  /** Everything sent so far, oldest first (copies: the sender may reuse its buffer). */
  readonly sent: SentDatagram[] = []
  private handler: ((bytes: Bytes, from: DatagramSource) => void) | undefined
  private closed = false

  constructor(private readonly local: { host: string; port: number } = LOCAL) {}

  send(bytes: Uint8Array, port: number, host: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error('socket closed'))
    this.sent.push({ bytes: Uint8Array.from(bytes) as Bytes, host, port })
    return Promise.resolve()
  }

  onMessage(handler: (bytes: Bytes, from: DatagramSource) => void): void {
    this.handler = handler
  }

  address(): { host: string; port: number } {
    return { host: this.local.host, port: this.local.port }
  }

  close(): Promise<void> {
    this.closed = true
    return Promise.resolve()
  }

  /** Hands `bytes` to the receive handler as if they arrived from `from` (dropped once closed). */
  deliver(bytes: Uint8Array, from: DatagramSource): void {
    if (!this.closed) this.handler?.(Uint8Array.from(bytes) as Bytes, { ...from })
  }

  /** The datagrams sent since the last call, oldest first (and forgets them). */
  take(): SentDatagram[] {
    return this.sent.splice(0)
  }
}

/** Where a fake socket says it is bound unless told otherwise (TEST-NET-1, port 7400). */
const LOCAL = { host: '192.0.2.1', port: 7400 }
