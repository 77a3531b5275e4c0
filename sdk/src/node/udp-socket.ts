import DgramAsPromised, { type SocketAsPromised } from 'dgram-as-promised'
import type { Bytes } from '../wire/bytes.js'

/** Where a datagram came from. */
export interface DatagramSource {
  host: string
  port: number
}

/**
 * The datagram socket a DHT node talks through: a small interface so tests can wrap it
 * (loss, delay) and a React Native app can bring its own.
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

/** Receive buffer asked of the OS: bursts of hundreds of datagrams arrive in tests. */
const RECV_BUFFER_BYTES = 4 * 1024 * 1024 // 4 MiB

/**
 * Binds a UDP socket (via `dgram-as-promised`) on `host:port` (port 0: any free port).
 * Only literal addresses; IPv6 when `host` contains a colon.
 */
export async function bindUdpSocket(host = '127.0.0.1', port = 0): Promise<DatagramSocket> {
  let handler: (bytes: Bytes, from: DatagramSource) => void = () => {}
  const socket: SocketAsPromised = DgramAsPromised.createSocket(
    { type: host.includes(':') ? 'udp6' : 'udp4' },
    // A view, not a copy: every received datagram has its own buffer, and the DHT codec copies
    // the fields it keeps.
    (msg, rinfo) =>
      handler(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength) as Bytes, {
        host: rinfo.address,
        port: rinfo.port,
      }),
  )
  // Errors after bind (ICMP unreachable on some systems) must not crash the process.
  socket.socket.on('error', () => {})
  const bound = await socket.bind(port, host)
  try {
    socket.setRecvBufferSize(RECV_BUFFER_BYTES)
    socket.setSendBufferSize(RECV_BUFFER_BYTES)
  } catch {
    // The OS may refuse a larger buffer; the default still works.
  }
  let closed = false
  return {
    async send(bytes, toPort, toHost) {
      if (closed) return
      await socket.send(bytes, toPort, toHost)
    },
    onMessage(h) {
      handler = h
    },
    address: () => ({ host: bound.address, port: bound.port }),
    async close() {
      if (closed) return
      closed = true
      await socket.close()
    },
  }
}
