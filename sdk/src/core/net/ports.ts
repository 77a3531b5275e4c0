import type { Bytes } from '../wire/bytes.js'

/** Where a datagram came from. */
export interface DatagramSource {
  host: string
  port: number
}

/**
 * The datagram socket a DHT node (or LAN discovery) talks through: a small interface so tests
 * can wrap it (loss, delay) and a React Native app can bring its own.
 */
export interface DatagramSocket {
  /** Sends one datagram; resolves when handed to the OS. May reject (the node ignores it). */
  send(bytes: Uint8Array, port: number, host: string): Promise<void>
  /** Sets the one receive handler. */
  onMessage(handler: (bytes: Bytes, from: DatagramSource) => void): void
  /** The bound local address. */
  address(): { host: string; port: number }
  close(): Promise<void>
}

/** Binds a {@link DatagramSocket} on `host:port` (port 0: any free port). */
export type DatagramBind = (host: string, port: number) => Promise<DatagramSocket>

/** Where LAN beacons travel: an IPv4 multicast group and port. */
export interface MulticastOptions {
  /** IPv4 multicast group, e.g. `239.255.77.77`. */
  group: string
  port: number
  /**
   * Local interface address to join on and send from (`127.0.0.1` keeps everything on the
   * loopback interface, for tests); default: the OS's choice.
   */
  interface?: string
  /** Whether our own datagrams come back to us (needed when peers share one host). */
  loopback?: boolean
}

/**
 * Joins a multicast group: a {@link DatagramSocket} that receives the group's datagrams and
 * sends anywhere (normally to the group).
 */
export type MulticastBind = (options: MulticastOptions) => Promise<DatagramSocket>

/**
 * One stream connection (TCP) as the link layer sees it: a small interface so the protocol
 * core stays free of `node:net` and a React Native app can bring its own sockets.
 */
export interface ByteStream {
  /** The far end's address. */
  readonly remote: { host: string; port: number }
  /** Writes bytes; resolves when handed to the OS, rejects if the stream is closed. */
  write(bytes: Uint8Array): Promise<void>
  /**
   * Writes pieces in order, without joining them, together with every other write of this
   * turn of the event loop (one system call for all where the OS allows); resolves as
   * {@link ByteStream.write}. Optional: without it a caller writes each piece.
   */
  writev?(parts: Uint8Array[]): Promise<void>
  /** Sets the one data handler (chunks received before it is set are delivered to it). */
  onData(handler: (chunk: Bytes) => void): void
  /** Sets the one close handler; called once, with the socket error if one closed it. */
  onClose(handler: (error: Error | undefined) => void): void
  /** Stops reading (backpressure) until {@link ByteStream.resume}. */
  pause(): void
  resume(): void
  /** Flushes pending writes, then closes. */
  end(): void
  /** Closes at once, dropping pending writes. */
  destroy(): void
}

/** Accepts {@link ByteStream}s. */
export interface StreamListener {
  address(): { host: string; port: number }
  onConnection(handler: (stream: ByteStream) => void): void
  /** Stops accepting; resolves once every accepted stream closed. */
  close(): Promise<void>
}

/** Opens a {@link ByteStream} to `host:port`; rejects when the connection fails. */
export type StreamConnector = (host: string, port: number) => Promise<ByteStream>

/** Listens on `host:port` (port 0: any free port). */
export type StreamListen = (host: string, port: number) => Promise<StreamListener>
