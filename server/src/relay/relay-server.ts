import { randomBytes } from 'node:crypto'
import { createServer, type Server, type Socket } from 'node:net'
import {
  FrameDecoder,
  MAX_RELAY_FRAME_BYTES,
  RELAY_NONCE_BYTES,
  RELAY_REFUSAL_NAMES,
  RELAY_TOKEN_BYTES,
  RelayFrameType,
  RelayRefusal,
  decodeRelayFrame,
  encodeFrame,
  encodeRelayChallenge,
  encodeRelayIncoming,
  encodeRelayOk,
  encodeRelayRefused,
  nodeIdFromPublicKey,
  relaySigningInput,
  systemClock,
  systemTimers,
  toHex,
  type Bytes,
  type Clock,
  type Identity,
  type RelayRequest,
  type TimerHandle,
  type Timers,
} from '@passage/sdk'
import { DEFAULT_RELAY_LIMITS, type RelayLimits } from './relay-limits.js'
import type { RelayCloseReason, RelayMetrics, RelayResult } from './relay-metrics.js'

/** Time a connection gets to answer the challenge, and a callee to accept a link. */
const RELAY_HANDSHAKE_TIMEOUT_MS = 10_000 // as a link handshake
/** Idle time before the OS probes a silent connection (a vanished client is noticed). */
const KEEPALIVE_MS = 30_000
/** Bytes buffered per socket before the relay stops reading the other end (backpressure). */
const RELAY_BUFFER_BYTES = 256 * 1024 // a few link frames; bounds memory per relayed link
/** Connections still in their handshake at once; more are dropped until some finish. */
const MAX_PENDING_CONNECTIONS = 1_024 // each costs a socket and one signature check

export interface RelayServerOptions {
  /** The super-node's identity: its ID is the relay's, which clients sign for. */
  identity: Identity
  host: string
  /** 0 picks a free port. */
  port: number
  limits?: Partial<RelayLimits>
  metrics?: RelayMetrics
  clock?: Clock
  timers?: Timers
}

interface RelayedLink {
  ends: [Socket, Socket]
  /** Hex IDs of the dialer and the callee. */
  ids: [string, string]
  timer: TimerHandle
  closed: boolean
}

interface Usage {
  links: Set<RelayedLink>
  bytes: number
  windowStart: number
}

interface Pending {
  dialer: Socket
  dialerId: string
  targetId: string
  timer: TimerHandle
}

/**
 * The super-node's relay (docs/PROTOCOL.md, "Relay through a super-node"): clients that cannot
 * dial each other both keep a connection here. A client registers (signed with its identity
 * key over the relay's fresh challenge); a peer asks to connect to a registered ID; the relay
 * tells the callee on its registration, the callee opens a second connection and accepts with
 * the token, and from then on the relay copies bytes between the two connections. Those bytes
 * are a link whose ends authenticate each other end to end: the relay sees only its frames.
 */
export class RelayServer {
  private readonly registered = new Map<string, Socket>()
  private readonly usage = new Map<string, Usage>()
  private readonly pending = new Map<string, Pending>()
  private readonly sockets = new Set<Socket>()
  private readonly limits: RelayLimits
  private readonly clock: Clock
  private readonly timers: Timers
  private handshaking = 0
  private closing = false
  /** The relay's ID: its super-node's, which clients sign their requests for. */
  readonly id: Bytes

  private constructor(
    private readonly server: Server,
    private readonly options: RelayServerOptions,
  ) {
    this.id = options.identity.id
    this.limits = { ...DEFAULT_RELAY_LIMITS, ...options.limits }
    this.clock = options.clock ?? systemClock
    this.timers = options.timers ?? systemTimers
    server.on('connection', (socket) => this.onConnection(socket))
  }

  /** Binds and starts relaying. */
  static async start(options: RelayServerOptions): Promise<RelayServer> {
    // Bigger socket buffers than the 16 KiB default: fewer pause/resume turns per copied MiB.
    const server = createServer({ highWaterMark: RELAY_BUFFER_BYTES })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port, options.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', () => {}) // after bind, errors belong to single connections
    return new RelayServer(server, options)
  }

  /** The bound address. */
  address(): { host: string; port: number } {
    const address = this.server.address()
    if (!address || typeof address === 'string') throw new Error('the relay is not bound')
    return { host: address.address, port: address.port }
  }

  /** Registered clients and open relayed links now. */
  stats(): { clients: number; links: number } {
    const links = new Set<RelayedLink>()
    for (const usage of this.usage.values()) for (const link of usage.links) links.add(link)
    return { clients: this.registered.size, links: links.size }
  }

  /** Stops accepting and closes every connection (relayed links end: their ends fall back). */
  async close(): Promise<void> {
    this.closing = true
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const usage of this.usage.values()) {
      for (const link of usage.links) this.end(link, 'shutdown')
    }
    for (const pending of this.pending.values()) this.timers.clearTimeout(pending.timer)
    this.pending.clear()
    for (const socket of this.sockets) socket.destroy()
    await closed
  }

  private onConnection(socket: Socket): void {
    socket.on('error', () => {})
    if (this.closing || this.handshaking >= MAX_PENDING_CONNECTIONS) {
      socket.destroy()
      return
    }
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.setNoDelay(true)
    socket.setKeepAlive(true, KEEPALIVE_MS)
    this.handshaking++
    let answered = false
    const done = () => {
      if (answered) return
      answered = true
      this.handshaking--
      this.timers.clearTimeout(timer)
    }
    const timer = this.timers.setTimeout(() => {
      done()
      this.refuse(socket, RelayRefusal.timeout, 'no request within 10 s')
    }, RELAY_HANDSHAKE_TIMEOUT_MS)
    socket.on('close', done)
    const relayId = this.options.identity.id
    const nonce = randomBytes(RELAY_NONCE_BYTES)
    const decoder = new FrameDecoder(MAX_RELAY_FRAME_BYTES)
    const onData = (chunk: Buffer) => {
      let request: RelayRequest
      try {
        const [body] = decoder.push(chunk)
        if (!body) return
        const frame = decodeRelayFrame(body)
        if (
          frame.type !== RelayFrameType.register &&
          frame.type !== RelayFrameType.connect &&
          frame.type !== RelayFrameType.accept
        ) {
          throw new Error(`frame type ${frame.type} is not a request`)
        }
        request = frame
      } catch (error) {
        done()
        socket.off('data', onData)
        this.refuse(socket, RelayRefusal.malformed, String(error))
        return
      }
      done()
      socket.off('data', onData)
      const { signature, ...head } = request
      const input = relaySigningInput(relayId, nonce, head)
      if (!this.options.identity.keys.verify(request.publicKey, input, signature)) {
        this.refuse(socket, RelayRefusal.badSignature, 'the signature does not verify')
        return
      }
      const id = toHex(nodeIdFromPublicKey(request.publicKey))
      if (request.type === RelayFrameType.register) this.register(socket, id)
      else if (request.type === RelayFrameType.connect) this.connect(socket, id, request.target)
      else this.accept(socket, id, request.token, decoder.takeRest())
    }
    socket.on('data', onData)
    socket.write(encodeFrame(encodeRelayChallenge(relayId, nonce)))
  }

  private register(socket: Socket, id: string): void {
    const previous = this.registered.get(id)
    if (!previous && this.registered.size >= this.limits.maxClients) {
      this.refuse(socket, RelayRefusal.full, 'the relay has all the clients it takes')
      return
    }
    // The same key again: the client reconnected (only its key signs a registration).
    previous?.destroy()
    this.registered.set(id, socket)
    this.options.metrics?.clients.set(this.registered.size)
    this.count('registered')
    socket.on('data', () => socket.destroy()) // nothing may follow a registration
    socket.on('close', () => {
      if (this.registered.get(id) !== socket) return
      this.registered.delete(id)
      this.options.metrics?.clients.set(this.registered.size)
    })
    socket.write(encodeFrame(encodeRelayOk()))
  }

  private connect(socket: Socket, id: string, target: Uint8Array): void {
    const targetId = toHex(target)
    const control = this.registered.get(targetId)
    if (!control) {
      this.refuse(socket, RelayRefusal.notRegistered, 'that peer is not registered here')
      return
    }
    for (const end of [id, targetId]) {
      const usage = this.usageOf(end)
      if (usage.links.size >= this.limits.maxLinks || usage.bytes >= this.limits.maxBytes) {
        const who = end === id ? 'you have' : 'that peer has'
        this.refuse(socket, RelayRefusal.limit, `${who} all the relayed links or bytes allowed now`)
        return
      }
    }
    const token = randomBytes(RELAY_TOKEN_BYTES)
    const key = token.toString('hex')
    const timer = this.timers.setTimeout(() => {
      this.pending.delete(key)
      this.refuse(socket, RelayRefusal.timeout, 'the peer did not accept in time')
    }, RELAY_HANDSHAKE_TIMEOUT_MS)
    this.pending.set(key, { dialer: socket, dialerId: id, targetId, timer })
    socket.on('data', () => socket.destroy()) // the dialer waits for ok
    socket.on('close', () => {
      const entry = this.pending.get(key)
      if (entry?.dialer !== socket) return
      this.timers.clearTimeout(entry.timer)
      this.pending.delete(key)
    })
    control.write(encodeFrame(encodeRelayIncoming(token, Buffer.from(id, 'hex'))))
  }

  private accept(socket: Socket, id: string, token: Uint8Array, rest: Uint8Array): void {
    const key = toHex(token)
    const entry = this.pending.get(key)
    if (!entry || entry.targetId !== id) {
      this.refuse(socket, RelayRefusal.unknownToken, 'no pending link with that token for you')
      return
    }
    this.pending.delete(key)
    this.timers.clearTimeout(entry.timer)
    const { dialer } = entry
    if (dialer.destroyed) {
      socket.destroy()
      return
    }
    dialer.removeAllListeners('data')
    this.count('linked')
    const link: RelayedLink = {
      ends: [dialer, socket],
      ids: [entry.dialerId, id],
      timer: this.timers.setTimeout(() => this.end(link, 'duration'), this.limits.maxDurationMs),
      closed: false,
    }
    for (const end of link.ids) this.usageOf(end).links.add(link)
    this.options.metrics?.links.inc()
    const ok = encodeFrame(encodeRelayOk())
    dialer.write(ok)
    socket.write(ok)
    this.pipe(link, 1, 0)
    this.pipe(link, 0, 1)
    if (rest.byteLength > 0) this.forward(link, 1, Buffer.from(rest))
  }

  /** Copies what end `from` sends to end `to`, with backpressure, counting it against `from`. */
  private pipe(link: RelayedLink, from: 0 | 1, to: 0 | 1): void {
    const source = link.ends[from]
    source.on('data', (chunk: Buffer) => this.forward(link, from, chunk))
    link.ends[to].on('drain', () => source.resume())
    source.on('close', () => this.end(link, 'closed'))
  }

  private forward(link: RelayedLink, from: 0 | 1, chunk: Buffer): void {
    if (link.closed) return
    const id = link.ids[from]
    const usage = this.usageOf(id)
    usage.bytes += chunk.byteLength
    this.options.metrics?.bytes.inc(chunk.byteLength)
    if (usage.bytes > this.limits.maxBytes) {
      // Over its budget: every relayed link of this client is cut; its peers' other links stay.
      for (const own of [...usage.links]) this.end(own, 'bytes')
      return
    }
    if (!link.ends[from === 0 ? 1 : 0].write(chunk)) link.ends[from].pause()
  }

  private end(link: RelayedLink, reason: RelayCloseReason): void {
    if (link.closed) return
    link.closed = true
    this.timers.clearTimeout(link.timer)
    for (const id of link.ids) {
      const usage = this.usage.get(id)
      usage?.links.delete(link)
    }
    if (reason === 'closed') for (const end of link.ends) end.end()
    else for (const end of link.ends) end.destroy()
    this.options.metrics?.links.dec()
    this.options.metrics?.closed.inc({ reason })
  }

  /** The usage of `id`, its byte count restarted when its window is over. */
  private usageOf(id: string): Usage {
    const now = this.clock.now()
    let usage = this.usage.get(id)
    if (!usage && this.usage.size >= 2 * this.limits.maxClients) this.forgetIdle(now)
    if (!usage) {
      usage = { links: new Set(), bytes: 0, windowStart: now }
      this.usage.set(id, usage)
    } else if (now - usage.windowStart >= this.limits.bytesWindowMs) {
      usage.bytes = 0
      usage.windowStart = now
    }
    return usage
  }

  /** Drops the usage of clients with no link whose byte window is over (bounds the map). */
  private forgetIdle(now: number): void {
    for (const [id, usage] of this.usage) {
      if (usage.links.size === 0 && now - usage.windowStart >= this.limits.bytesWindowMs) {
        this.usage.delete(id)
      }
    }
  }

  private refuse(socket: Socket, code: RelayRefusal, reason: string): void {
    this.count(RELAY_REFUSAL_NAMES[code] as RelayResult)
    if (socket.destroyed) return
    socket.end(encodeFrame(encodeRelayRefused(code, reason)), () => socket.destroy())
  }

  private count(result: RelayResult): void {
    this.options.metrics?.requests.inc({ result })
  }
}
