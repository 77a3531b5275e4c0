import { createSocket } from 'node:dgram'
import { toBytes, type Bytes } from '../core/wire/bytes.js'
import type {
  DatagramSocket,
  DatagramSource,
  MulticastBind,
  MulticastOptions,
} from '../core/net/ports.js'

/** Hops a beacon may travel: 1 keeps it on the local network segment. */
const MULTICAST_TTL = 1 // the LAN only, by design

/**
 * Binds a UDP socket to an IPv4 multicast group (`SO_REUSEADDR`, so several nodes on one
 * host share the port) and joins it. Bound to the group address, it receives only the group's
 * datagrams. `send(bytes, port, host)` sends anywhere, normally to the group.
 */
export const bindMulticastSocket: MulticastBind = async (
  options: MulticastOptions,
): Promise<DatagramSocket> => {
  const socket = createSocket({ type: 'udp4', reuseAddr: true })
  let handler: (bytes: Bytes, from: DatagramSource) => void = () => {}
  socket.on('message', (msg, rinfo) =>
    handler(toBytes(msg), { host: rinfo.address, port: rinfo.port }),
  )
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(options.port, options.group, () => {
      socket.off('error', reject)
      resolve()
    })
  })
  socket.on('error', () => {}) // send errors after bind (no route) must not crash the process
  try {
    socket.addMembership(options.group, options.interface)
    if (options.interface) socket.setMulticastInterface(options.interface)
    socket.setMulticastLoopback(options.loopback ?? true)
    socket.setMulticastTTL(MULTICAST_TTL)
  } catch (error) {
    socket.close()
    throw error
  }
  let closed = false
  return {
    send(bytes, port, host) {
      if (closed) return Promise.resolve()
      return new Promise((resolve, reject) =>
        socket.send(bytes, port, host, (error) => (error ? reject(error) : resolve())),
      )
    },
    onMessage(h) {
      handler = h
    },
    address() {
      const address = socket.address()
      return { host: address.address, port: address.port }
    },
    close() {
      if (closed) return Promise.resolve()
      closed = true
      return new Promise((resolve) => socket.close(() => resolve()))
    },
  }
}
