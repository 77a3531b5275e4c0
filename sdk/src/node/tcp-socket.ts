import { connect, createServer, type Server, type Socket } from 'node:net'
import type { ByteStream, StreamConnector, StreamListener } from '../core/net/ports.js'
import type { Bytes } from '../core/wire/bytes.js'

/** Idle time before the OS probes a silent connection, so a vanished peer is noticed. */
const KEEPALIVE_MS = 30_000 // 30 s: a dead link is detected within about a minute

function wrap(socket: Socket): ByteStream {
  socket.setNoDelay(true)
  socket.setKeepAlive(true, KEEPALIVE_MS)
  const early: Bytes[] = []
  let dataHandler: ((chunk: Bytes) => void) | undefined
  let closeHandler: ((error: Error | undefined) => void) | undefined
  let closed: { error: Error | undefined } | undefined
  let lastError: Error | undefined
  let corked = false
  socket.on('data', (chunk: Buffer) => {
    // A view, not a copy: Node never reuses a received chunk's memory.
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength) as Bytes
    if (dataHandler) dataHandler(bytes)
    else early.push(bytes)
  })
  socket.on('error', (error) => {
    lastError = error
  })
  socket.on('close', () => {
    closed = { error: lastError }
    closeHandler?.(lastError)
  })
  return {
    remote: { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
    write(bytes) {
      return new Promise((resolve, reject) => {
        if (socket.destroyed || socket.writableEnded) {
          reject(new Error('the socket is closed'))
          return
        }
        socket.write(bytes, (error) => (error ? reject(error) : resolve()))
      })
    },
    writev(parts) {
      return new Promise((resolve, reject) => {
        if (socket.destroyed || socket.writableEnded || parts.length === 0) {
          if (parts.length === 0) resolve()
          else reject(new Error('the socket is closed'))
          return
        }
        // Corked until the end of this turn: every write of the turn (an attachment's chunks
        // answering a window of requests) goes out in one writev, not two writes per chunk.
        if (!corked) {
          corked = true
          socket.cork()
          process.nextTick(() => {
            corked = false
            socket.uncork()
          })
        }
        const last = parts.length - 1
        for (let i = 0; i < last; i++) socket.write(parts[i]!)
        socket.write(parts[last]!, (error) => (error ? reject(error) : resolve()))
      })
    },
    onData(handler) {
      dataHandler = handler
      for (const chunk of early.splice(0)) handler(chunk)
    },
    onClose(handler) {
      closeHandler = handler
      if (closed) {
        const { error } = closed
        queueMicrotask(() => handler(error))
      }
    },
    pause: () => void socket.pause(),
    resume: () => void socket.resume(),
    end() {
      socket.end(() => socket.destroy())
    },
    destroy: () => void socket.destroy(),
  }
}

/** Connects over TCP (literal addresses or host names). */
export const connectTcp: StreamConnector = (host, port) =>
  new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    const onError = (error: Error) => {
      socket.destroy()
      reject(error)
    }
    socket.once('error', onError)
    socket.once('connect', () => {
      socket.off('error', onError)
      resolve(wrap(socket))
    })
  })

/** Listens on `host:port` (port 0: any free port); default host `127.0.0.1`. */
export async function listenTcp(host = '127.0.0.1', port = 0): Promise<StreamListener> {
  const server: Server = createServer()
  let handler: (stream: ByteStream) => void = (stream) => stream.destroy()
  server.on('connection', (socket) => handler(wrap(socket)))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', () => {}) // after bind, errors belong to single connections
  return {
    address() {
      const address = server.address()
      if (!address || typeof address === 'string') throw new Error('the listener is not bound')
      return { host: address.address, port: address.port }
    },
    onConnection(h) {
      handler = h
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
