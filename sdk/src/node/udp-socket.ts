import { createSocket } from 'node:dgram'
import type { DatagramSocket, DatagramSource } from '../core/net/ports.js'
import type { Bytes } from '../core/wire/bytes.js'

/** Receive buffer asked of the OS: bursts of hundreds of datagrams arrive in tests. */
const RECV_BUFFER_BYTES = 4 * 1024 * 1024 // 4 MiB

/**
 * Binds a UDP socket (`node:dgram`) on `host:port` (port 0: any free port). Only literal
 * addresses; IPv6 when `host` contains a colon.
 */
export async function bindUdpSocket(host = '127.0.0.1', port = 0): Promise<DatagramSocket> {
  let handler: (bytes: Bytes, from: DatagramSource) => void = () => {}
  const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' })
  // A view, not a copy: every received datagram has its own buffer, and the DHT codec copies
  // the fields it keeps.
  socket.on('message', (msg, rinfo) =>
    handler(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength) as Bytes, {
      host: rinfo.address,
      port: rinfo.port,
    }),
  )
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(port, host, () => {
      socket.off('error', reject)
      resolve()
    })
  })
  // Errors after bind (ICMP unreachable on some systems) must not crash the process.
  socket.on('error', () => {})
  try {
    socket.setRecvBufferSize(RECV_BUFFER_BYTES)
    socket.setSendBufferSize(RECV_BUFFER_BYTES)
  } catch {
    // The OS may refuse a larger buffer; the default still works.
  }
  const bound = socket.address()
  let closed = false
  return {
    send(bytes, toPort, toHost) {
      if (closed) return Promise.resolve()
      return new Promise((resolve, reject) =>
        socket.send(bytes, toPort, toHost, (error) => (error ? reject(error) : resolve())),
      )
    },
    onMessage(h) {
      handler = h
    },
    address: () => ({ host: bound.address, port: bound.port }),
    close() {
      if (closed) return Promise.resolve()
      closed = true
      return new Promise((resolve) => socket.close(() => resolve()))
    },
  }
}
