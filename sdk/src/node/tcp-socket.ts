import { connect, createServer, type Server, type Socket } from 'node:net'
import type { Bytes } from '../wire/bytes.js'

/**
 * One TCP connection as the link layer sees it: a small interface so the protocol core stays
 * free of `node:net` and a React Native app can bring its own sockets.
 */
export interface ByteStream {
  /** The far end's address. */
  readonly remote: { host: string; port: number }
  /** Writes bytes; resolves when handed to the OS, rejects if the stream is closed. */
  write(bytes: Uint8Array): Promise<void>
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
