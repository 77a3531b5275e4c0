import {
  LinkClosedError,
  MalformedError,
  PassageError,
  TimeoutError,
  TooLargeError,
  UnreachableError,
} from '../errors.js'
import type { Identity } from '../identity/identity.js'
import type { ByteStream, StreamConnector } from '../net/ports.js'
import { host, nextTurn, type AbortSignalLike } from '../runtime/host.js'
import { concatBytes, type Bytes } from '../wire/bytes.js'
import { LinkRole, type LinkAccount } from './link-messages.js'
import { LinkProtocol, MAX_LINK_PAYLOAD_BYTES, type LinkPeer } from './link-protocol.js'
import { systemTimers, type Timers } from '../runtime/timers.js'

/** Time a peer gets to connect and to complete the handshake (each). */
export const HANDSHAKE_TIMEOUT_MS = 10_000 // 10 s: generous for mobile links, short for idle sockets
/** Frames kept for a link nobody listens to yet; at this count reading pauses (backpressure). */
const MAX_BACKLOG_FRAMES = 64 // the reader attaches within a tick; this only covers that gap

/** Bytes of frames written in one socket write at most; a fuller batch is written at once. */
const MAX_WRITE_BATCH_BYTES = 64 * 1024 // a few hundred chat messages; bounds the copy

/** How a link's bytes travel: straight between the two ends, or through a super-node's relay. */
export type LinkRoute = 'direct' | 'relay'

/** Where a link's far end is. */
export interface LinkAddress {
  host: string
  port: number
  /** `relay`: host and port are a relay's, which connects us to the peer (default: the peer's own). */
  via?: 'relay'
  /** With `via: 'relay'`: the relay's ID (its super-node's), when known. */
  relayId?: Uint8Array
}

/** Frames waiting for one socket write, and the promise their senders wait on. */
interface WriteBatch {
  frames: Bytes[]
  bytes: number
  written: Promise<void>
  resolve: () => void
  reject: (error: unknown) => void
}

type FrameListener = (payload: Bytes) => void
type CloseListener = (error: PassageError | undefined) => void

/**
 * An authenticated direct link to one peer over TCP. Both identities were proven before it
 * exists; every payload after that is opaque (a Signal message for the client, already end to
 * end encrypted, so the link itself adds no encryption).
 *
 * Events: `frame` (payload bytes, in order; frames that arrive before the first listener are
 * kept and delivered to it) and `close` (once; with the error that closed it, or undefined for
 * an orderly close by either side).
 *
 * @example
 * const link = await dialLink({ host: '127.0.0.1', port, expectedId: bob.id, identity: alice,
 *   connect: connectTcp })
 * link.on('frame', (payload) => console.log(fromUtf8(payload)))
 * await link.send(utf8('hi'))
 * link.close()
 */
export class Link {
  /** The authenticated far end. */
  readonly peer: LinkPeer
  /** True when we dialed, false when we accepted. */
  readonly initiator: boolean
  /** The far end's TCP address (through a relay: the relay's). */
  readonly remote: LinkAddress
  /** Direct, or through a relay (whose end sees only the end-to-end encrypted payloads). */
  readonly route: LinkRoute
  private readonly frameListeners = new Set<FrameListener>()
  private readonly closeListeners = new Set<CloseListener>()
  private backlog: Bytes[]
  private closedWith: { error: PassageError | undefined } | undefined

  /** @internal use {@link dialLink} or {@link LinkListener}. */
  constructor(
    private readonly stream: ByteStream,
    private readonly protocol: LinkProtocol,
    initiator: boolean,
    early: Bytes[],
    route: LinkRoute = 'direct',
  ) {
    this.peer = protocol.peer!
    this.initiator = initiator
    this.route = route
    this.remote = { ...stream.remote }
    this.backlog = early
    stream.onData((chunk) => this.onData(chunk))
    stream.onClose((error) => {
      if (error) this.finish(new LinkClosedError(error.message, { cause: error }))
      else if (protocol.pendingBytes > 0) {
        this.finish(
          new MalformedError(
            `the peer closed the link inside a frame (${protocol.pendingBytes} bytes)`,
          ),
        )
      } else this.finish(undefined)
    })
    if (early.length >= MAX_BACKLOG_FRAMES) stream.pause()
  }

  /** True once closed (by either side or by an error). */
  get closed(): boolean {
    return this.closedWith !== undefined
  }

  on(event: 'frame', listener: FrameListener): this
  on(event: 'close', listener: CloseListener): this
  on(event: 'frame' | 'close', listener: FrameListener | CloseListener): this {
    if (event === 'frame') {
      this.frameListeners.add(listener as FrameListener)
      const pending = this.backlog
      this.backlog = []
      for (const payload of pending) this.deliver(listener as FrameListener, payload)
      if (!this.closed) this.stream.resume()
    } else if (this.closedWith) {
      const { error } = this.closedWith
      host.queueMicrotask(() => (listener as CloseListener)(error))
    } else {
      this.closeListeners.add(listener as CloseListener)
    }
    return this
  }

  off(event: 'frame' | 'close', listener: FrameListener | CloseListener): this {
    if (event === 'frame') this.frameListeners.delete(listener as FrameListener)
    else this.closeListeners.delete(listener as CloseListener)
    return this
  }

  /**
   * Sends one payload (1 byte to {@link MAX_LINK_PAYLOAD_BYTES}); resolves when handed to the
   * OS. Rejects with {@link LinkClosedError} when the link is closed, {@link TooLargeError}
   * when the payload is too large (the link stays open).
   */
  async send(payload: Uint8Array): Promise<void> {
    if (this.closedWith) throw new LinkClosedError()
    if (payload.byteLength > MAX_LINK_PAYLOAD_BYTES) {
      throw new TooLargeError(`a link payload is at most ${MAX_LINK_PAYLOAD_BYTES} bytes`)
    }
    try {
      await this.write(this.protocol.encodeData(payload))
    } catch (cause) {
      throw new LinkClosedError('the link closed while sending', { cause })
    }
  }

  /**
   * Sends one payload, `head ‖ tail`, without copying `tail` (an attachment's chunk, a view of
   * the ciphertext held): after every frame sent before it, in one vectored write with the
   * other writes of this turn when the stream has one ({@link ByteStream.writev}), else as two
   * socket writes. Rejects as {@link Link.send}.
   */
  async sendParts(head: Uint8Array, tail: Uint8Array): Promise<void> {
    if (this.closedWith) throw new LinkClosedError()
    if (head.byteLength + tail.byteLength > MAX_LINK_PAYLOAD_BYTES) {
      throw new TooLargeError(`a link payload is at most ${MAX_LINK_PAYLOAD_BYTES} bytes`)
    }
    const [first, rest] = this.protocol.encodeDataParts(head, tail)
    try {
      if (this.stream.writev) {
        // The frames batched this turn, then this one's head and tail: written together.
        const batch = this.batch
        this.batch = undefined
        const parts = batch ? [...batch.frames, first, rest] : [first, rest]
        if (batch) batch.frames = [] // its scheduled flush finds it empty
        const written = this.stream.writev(parts)
        if (batch) written.then(batch.resolve, batch.reject)
        await written
        return
      }
      const queued = this.write(first)
      this.flushBatch() // the head ends the batch, so nothing can come between it and the tail
      await Promise.all([queued, this.stream.write(rest)])
    } catch (cause) {
      throw new LinkClosedError('the link closed while sending', { cause })
    }
  }

  /**
   * Frames sent in the same turn of the event loop, written together: with many messages in
   * flight one socket write (one syscall, one TCP segment, one read on the far side) carries
   * several frames instead of one each. Order is kept; each sender resolves when the write
   * carrying its frame was handed to the OS.
   */
  private batch: WriteBatch | undefined

  private write(frame: Bytes): Promise<void> {
    let batch = this.batch
    if (!batch) {
      let resolve!: () => void
      let reject!: (error: unknown) => void
      const written = new Promise<void>((yes, no) => {
        resolve = yes
        reject = no
      })
      const started: WriteBatch = { frames: [], bytes: 0, written, resolve, reject }
      this.batch = batch = started
      nextTurn(() => this.flushBatch(started))
    }
    batch.frames.push(frame)
    batch.bytes += frame.byteLength
    const { written } = batch
    if (batch.bytes >= MAX_WRITE_BATCH_BYTES) this.flushBatch(batch)
    return written
  }

  /** Writes a batch in one socket write (once: a flushed batch is empty). */
  private flushBatch(batch: WriteBatch | undefined = this.batch): void {
    if (!batch || batch.frames.length === 0) return
    if (this.batch === batch) this.batch = undefined
    const { frames } = batch
    batch.frames = []
    this.stream
      .write(frames.length === 1 ? frames[0]! : concatBytes(...frames))
      .then(batch.resolve, batch.reject)
  }

  /** Closes the link after pending writes; idempotent. */
  close(): void {
    if (this.closedWith) return
    this.flushBatch()
    this.finish(undefined)
    this.stream.end()
  }

  private onData(chunk: Bytes): void {
    if (this.closedWith) return
    let payloads: Bytes[]
    try {
      payloads = this.protocol.receive(chunk).payloads
    } catch (error) {
      this.finish(asPassageError(error))
      this.stream.destroy()
      return
    }
    for (const payload of payloads) {
      if (this.frameListeners.size === 0) {
        this.backlog.push(payload)
        if (this.backlog.length >= MAX_BACKLOG_FRAMES) this.stream.pause()
        continue
      }
      for (const listener of this.frameListeners) this.deliver(listener, payload)
    }
  }

  private deliver(listener: FrameListener, payload: Bytes): void {
    try {
      listener(payload)
    } catch {
      // A throwing listener is the caller's bug; it must not tear down the link.
    }
  }

  private finish(error: PassageError | undefined): void {
    if (this.closedWith) return
    this.closedWith = { error }
    for (const listener of this.closeListeners) {
      try {
        listener(error)
      } catch {
        // Same as frame listeners: never crash the process from a socket event.
      }
    }
    this.closeListeners.clear()
  }
}

function asPassageError(error: unknown): PassageError {
  if (error instanceof PassageError) return error
  return new LinkClosedError(error instanceof Error ? error.message : String(error), {
    cause: error,
  })
}

export interface HandshakeOptions {
  identity: Identity
  /** The account this device speaks for, when it is not its own key (see `LinkProtocolOptions.account`). */
  account?: LinkAccount
  timers?: Timers
  /** Default {@link HANDSHAKE_TIMEOUT_MS}. */
  handshakeTimeoutMs?: number
  signal?: AbortSignalLike
  /** Dialer only: the ID we mean to reach. */
  expectedId?: Uint8Array
  /** How the stream travels (default `direct`); the link reports it. */
  route?: LinkRoute
}

/**
 * Runs the handshake on a connected stream (either role); resolves with the open link, or
 * destroys the stream and rejects with a typed error.
 * @internal
 */
export function establishLink(
  stream: ByteStream,
  role: LinkRole,
  options: HandshakeOptions,
): Promise<Link> {
  const timers = options.timers ?? systemTimers
  const protocol = new LinkProtocol({
    identity: options.identity,
    ...(options.account ? { account: options.account } : {}),
    role,
    ...(options.expectedId ? { expectedId: options.expectedId } : {}),
  })
  return new Promise<Link>((resolve, reject) => {
    let settled = false
    const done = (error: PassageError | undefined, link?: Link) => {
      if (settled) return
      settled = true
      timers.clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      if (error) {
        stream.destroy()
        reject(error)
      } else resolve(link!)
    }
    const timer = timers.setTimeout(
      () => done(new TimeoutError('the peer did not complete the link handshake in time')),
      options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
    )
    const onAbort = () =>
      done(new LinkClosedError('the link handshake was aborted', { cause: options.signal?.reason }))
    if (options.signal?.aborted) return onAbort()
    options.signal?.addEventListener('abort', onAbort, { once: true })
    // Our hello goes first, before any byte is read: a stream may hand over bytes that came
    // before its reader (the peer's hello right behind a relay's `ok`) as soon as it gets one.
    stream.write(protocol.start()).catch(() => {})
    stream.onClose((error) =>
      done(
        error
          ? new UnreachableError(`the link failed: ${error.message}`, { cause: error })
          : new LinkClosedError('the peer closed the connection during the handshake'),
      ),
    )
    stream.onData((chunk) => {
      if (settled) return
      try {
        const step = protocol.receive(chunk)
        for (const bytes of step.out) stream.write(bytes).catch(() => {})
        if (step.authenticated) {
          done(
            undefined,
            new Link(stream, protocol, role === LinkRole.dialer, step.payloads, options.route),
          )
        }
      } catch (error) {
        done(asPassageError(error))
      }
    })
  })
}

export interface DialLinkOptions extends HandshakeOptions {
  host: string
  port: number
  /** The ID we mean to reach: another identity at that address is refused ({@link WrongPeerError}). */
  expectedId: Uint8Array
  /** Opens the stream (TCP in Node: `connectTcp` of `@passage/sdk/node`). */
  connect: StreamConnector
}

/**
 * Dials `host:port` and authenticates both sides. Rejects with {@link UnreachableError}
 * (connection refused or reset), {@link WrongPeerError}, {@link BadSignatureError},
 * {@link MalformedError}, {@link TooLargeError}, {@link TimeoutError} (the connect or the
 * handshake took longer than `handshakeTimeoutMs`) or {@link LinkClosedError} (aborted, or
 * closed by the peer).
 */
export async function dialLink(options: DialLinkOptions): Promise<Link> {
  const aborted = () =>
    new LinkClosedError('the dial was aborted', { cause: options.signal?.reason })
  if (options.signal?.aborted) throw aborted()
  const timers = options.timers ?? systemTimers
  const where = `${options.host}:${options.port}`
  const stream = await new Promise<ByteStream>((resolve, reject) => {
    let settled = false
    const settle = () => {
      settled = true
      timers.clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
    }
    const timer = timers.setTimeout(() => {
      if (settled) return
      settle()
      reject(new TimeoutError(`connecting to ${where} timed out`))
    }, options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS)
    const onAbort = () => {
      if (settled) return
      settle()
      reject(aborted())
    }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    options.connect(options.host, options.port).then(
      (stream) => {
        if (settled)
          stream.destroy() // timed out or aborted meanwhile
        else {
          settle()
          resolve(stream)
        }
      },
      (error: unknown) => {
        if (settled) return
        settle()
        const message = error instanceof Error ? error.message : String(error)
        reject(new UnreachableError(`cannot connect to ${where}: ${message}`, { cause: error }))
      },
    )
  })
  return establishLink(stream, LinkRole.dialer, options)
}
