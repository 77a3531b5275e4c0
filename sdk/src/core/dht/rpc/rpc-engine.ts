import { RemoteError, TimeoutError } from '../../errors.js'
import type { NodeId } from '../../identity/node-id.js'
import type { DatagramSocket } from '../../net/ports.js'
import type { Random } from '../../runtime/host.js'
import type { TimerHandle, Timers } from '../../runtime/timers.js'
import { equalBytes, type Bytes } from '../../wire/bytes.js'
import type { AddressCache } from '../address-cache.js'
import {
  encodeParts,
  TXID_BYTES,
  type DhtMessage,
  type DropReason,
  type MessageBody,
  type MessageHeader,
  type MessageKind,
  type NodeAddress,
  UNPROVEN_PAD_BYTES,
} from '../messages.js'
import { errorFromWire } from '../wire-errors.js'
import type { PeerTokens } from './peer-tokens.js'
import type { ProofCache } from './proof-cache.js'

/** Time to wait for the first answer before resending (then 2×, 4×…). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 500
/** Resends after the first attempt. */
export const DEFAULT_RETRIES = 3
/**
 * Requests of one node in flight at once; more wait in a queue. Bounds bursts (a sender
 * putting 100 envelopes on 20 replicas) so answers are not late only because of the queue.
 */
export const DEFAULT_MAX_IN_FLIGHT = 64
/** Random bytes drawn at once for transaction IDs (512 requests' worth). */
const TXID_POOL_BYTES = 4096

/** How one request is sent and what its answer must show. */
export interface RequestOptions {
  /** The responder's key must hash to this ID (else the response is dropped as `bad-proof`). */
  expectId?: NodeId | undefined
  /** The responder must prove its key (a MAC, or a signature over the txid and our ID). */
  wantProof?: boolean
  /** Resends after the first attempt (default: the engine's). */
  retries?: number
  /** Wait for the first attempt (then 2×, 4×…; default: the engine's). */
  timeoutMs?: number
  /** Called once if the first attempt times out (the request goes on resending). */
  onSlow?: () => void
  /**
   * Send it as it is: no address token, no padding (a return-routability ping, which must
   * be no larger than the request that caused it).
   */
  bare?: boolean
}

/** The counters an engine keeps (fields of the node's `DhtStats`). */
export interface RpcStats {
  /** Responses that matched a request of ours. */
  responses: number
  /** Requests sent (first attempts) and resends. */
  sent: number
  resent: number
  timeouts: number
}

/** The metrics hook an engine calls (a field of the node's `DhtMetrics`). */
export interface RpcMetrics {
  /** An outbound request finished: `ok`, `timeout` or `error`, and its round-trip time. */
  onRequestSent?(kind: MessageKind, result: 'ok' | 'timeout' | 'error', ms: number): void
}

export interface RpcEngineOptions {
  /** Where requests go out (responses come in through {@link RpcEngine.receive}). */
  socket: Pick<DatagramSocket, 'send'>
  /** Our identity public key, in every request's header. */
  senderKey: Bytes
  /** Client mode: every request carries the client flag. */
  client: boolean
  /** Deadlines and the ticker run on these (`now()` is monotonic). */
  timers: Timers
  /** Transaction IDs are drawn from this. */
  random: Random
  /** Responders' node IDs and proofs. */
  proofs: Pick<ProofCache, 'idOf' | 'validProof'>
  stats: RpcStats
  metrics?: RpcMetrics
  timeoutMs?: number
  retries?: number
  maxInFlight?: number
  /** The node's IPv4 address cache, for the codec. */
  addresses?: AddressCache
  /** A request with `expectId` was answered: that node is alive. */
  onAnswer?: (id: NodeId) => void
  /** A full-effort request with `expectId` timed out (not a quicker one with fewer retries). */
  onFailure?: (id: NodeId) => void
  /**
   * Tokens peers gave us for our address: requests carry the responder's (flag `token`), or
   * are padded when there is none (docs/PROTOCOL.md, "DHT amplification guard"). Without
   * it, every request is padded.
   */
  peerTokens?: Pick<PeerTokens, 'set' | 'fresh'>
  /** An endpoint answered a request of ours: it receives datagrams there. */
  onHeard?: (from: NodeAddress) => void
}

/** A request of ours awaiting its response; the ticker resends it or times it out. */
interface Pending {
  txid: Bytes
  kind: MessageKind
  resolve: (msg: DhtMessage) => void
  reject: (error: Error) => void
  to: NodeAddress
  expectId: NodeId | undefined
  wantProof: boolean
  bytes: Bytes
  /** Sends so far. */
  attempt: number
  retries: number
  timeoutMs: number
  /** timers.now() after which the current attempt has timed out. */
  deadline: number
  /** timers.now() when it got its slot (for the round-trip metric). */
  started: number
  /** Called once, when the first attempt times out (a lookup then frees its slot). */
  onSlow: (() => void) | undefined
}

/**
 * The ticker's period for requests that time out after `timeoutMs`: timeouts fire up to one
 * period late (an eighth of the timeout, 5 to 50 ms). One interval per node while it has
 * requests in flight replaced a timer per request (and one more per lookup query).
 */
function tickMsFor(timeoutMs: number): number {
  return Math.max(5, Math.min(50, Math.floor(timeoutMs / 8)))
}

/** A map key for a txid: its first 6 bytes as a number (the full txid is compared after). */
function txidKey(txid: Uint8Array): number {
  return (
    txid[0]! * 0x100_0000_0000 +
    txid[1]! * 0x1_0000_0000 +
    (((txid[2]! << 24) | (txid[3]! << 16) | (txid[4]! << 8) | txid[5]!) >>> 0)
  )
}

function noop(): void {}

/**
 * A DHT node's outbound requests: sends each with a fresh transaction ID, resends it after
 * each timeout (waiting twice as long every time), matches the response by endpoint and full
 * txid, and settles the caller's promise. At most `maxInFlight` requests are out at once; more
 * wait their turn in order. One interval on the injected timers drives every deadline while
 * requests are pending.
 *
 * @example
 * const rpc = new RpcEngine({ socket, senderKey: me.publicKey, client: false, timers, random,
 *   proofs: new ProofCache(me), stats })
 * socket.onMessage((bytes, from) => { const m = decodeMessage(bytes); rpc.receive(m, from) })
 * const pong = await rpc.request({ host: '127.0.0.1', port: 49737 }, { type: 'ping' })
 */
export class RpcEngine {
  /** Resends after the first attempt, unless a request says otherwise. */
  readonly retries: number
  private readonly socket: Pick<DatagramSocket, 'send'>
  private readonly timers: Timers
  private readonly random: Random
  private readonly proofs: Pick<ProofCache, 'idOf' | 'validProof'>
  private readonly stats: RpcStats
  private readonly metrics: RpcMetrics
  private readonly timeoutMs: number
  private readonly tickMs: number
  private readonly maxInFlight: number
  private readonly addresses: AddressCache | undefined
  private readonly onAnswer: (id: NodeId) => void
  private readonly onFailure: (id: NodeId) => void
  private readonly peerTokens: Pick<PeerTokens, 'set' | 'fresh'> | undefined
  private readonly onHeard: (from: NodeAddress) => void
  private readonly pending = new Map<number, Pending>()
  /** Requests waiting for a slot, oldest first. */
  private readonly waiting: Pending[] = []
  private inFlight = 0
  private ticker: TimerHandle | undefined
  private readonly onTick = () => this.tick()
  /** The header of every request, refilled per request (encoding is synchronous). */
  private readonly header: MessageHeader
  private txidPool: Bytes = new Uint8Array(0) as Bytes
  private txidAt = 0
  private destroyed = false

  constructor(options: RpcEngineOptions) {
    this.socket = options.socket
    this.timers = options.timers
    this.random = options.random
    this.proofs = options.proofs
    this.stats = options.stats
    this.metrics = options.metrics ?? {}
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.tickMs = tickMsFor(this.timeoutMs)
    this.retries = options.retries ?? DEFAULT_RETRIES
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
    this.addresses = options.addresses
    this.onAnswer = options.onAnswer ?? noop
    this.onFailure = options.onFailure ?? noop
    this.peerTokens = options.peerTokens
    this.onHeard = options.onHeard ?? noop
    this.header = {
      txid: new Uint8Array(TXID_BYTES) as Bytes,
      senderKey: options.senderKey,
      client: options.client,
      wantProof: false,
      proof: undefined,
      mac: false,
    }
  }

  /**
   * Sends a request and waits for its response, resending after each timeout. Resolves with
   * the response (an `error` response rejects with the matching SDK error); rejects with
   * {@link TimeoutError} after the last resend, or {@link RemoteError} once destroyed.
   */
  request(to: NodeAddress, body: MessageBody, opts: RequestOptions = {}): Promise<DhtMessage> {
    if (this.destroyed) return Promise.reject(new RemoteError('the node is destroyed'))
    const txid = this.nextTxid()
    const wantProof = opts.wantProof ?? false
    // The header travels apart from the caller's body: nothing merged, nothing copied.
    const header = this.header
    header.txid = txid
    header.wantProof = wantProof
    // Proofs by MAC: a cached key agreement per peer instead of a signature per request.
    header.mac = wantProof
    // Prove our address with the responder's token, or pad to the answer's size (puts carry
    // a token in their body; a bare request gets neither).
    const bodyToken =
      body.type === 'mailbox-put' || body.type === 'mailbox-put-many' || body.type === 'record-put'
    const token = opts.bare || bodyToken ? undefined : this.peerTokens?.fresh(to)
    header.addressToken = token
    const padTo = opts.bare || token ? 0 : (UNPROVEN_PAD_BYTES[body.type] ?? 0)
    let bytes: Bytes
    try {
      bytes = encodeParts(header, body, this.addresses, padTo)
    } catch (error) {
      return Promise.reject(error as Error)
    } finally {
      header.addressToken = undefined
    }
    const retries = opts.retries ?? this.retries
    // No async function and no await: the response settles the caller's promise directly
    // (in receive or the ticker), after the bookkeeping an await used to wait for.
    return new Promise<DhtMessage>((resolve, reject) => {
      const p: Pending = {
        txid,
        kind: body.type,
        resolve,
        reject,
        to: { host: to.host, port: to.port },
        expectId: opts.expectId,
        wantProof,
        bytes,
        attempt: 0,
        retries,
        timeoutMs: opts.timeoutMs ?? this.timeoutMs,
        deadline: 0,
        started: 0,
        onSlow: opts.onSlow,
      }
      if (this.inFlight < this.maxInFlight) {
        this.inFlight++
        this.start(p)
      } else {
        // The slot is handed over by releaseSlot, so inFlight stays counted.
        this.waiting.push(p)
      }
    })
  }

  /**
   * A response arrived: settles the request it answers. Returns why it was dropped instead
   * (no request of ours from that endpoint with that txid, or the sender is not who it must be).
   */
  receive(msg: DhtMessage, from: NodeAddress): DropReason | undefined {
    const key = txidKey(msg.txid)
    const p = this.pending.get(key)
    if (!p || p.to.port !== from.port || p.to.host !== from.host || !equalBytes(p.txid, msg.txid)) {
      return 'unsolicited'
    }
    if (p.expectId && !equalBytes(p.expectId, this.proofs.idOf(msg.senderKey))) return 'bad-proof'
    if (p.wantProof && !this.proofs.validProof(msg)) return 'bad-proof'
    this.pending.delete(key)
    this.stats.responses++
    if (this.pending.size === 0) this.stopTicker()
    this.onHeard(p.to)
    if (msg.type === 'pong' || msg.type === 'nodes') this.peerTokens?.set(p.to, msg.token)
    this.settle(p, msg)
    return undefined
  }

  /** Fails every pending and waiting request; later requests fail at once. */
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.stopTicker()
    const pending = [...this.pending.values(), ...this.waiting.splice(0)]
    this.pending.clear()
    this.inFlight = 0
    for (const p of pending) p.reject(new RemoteError('the node is destroyed'))
  }

  /** A request got its slot: sends it. */
  private start(p: Pending): void {
    if (this.destroyed) {
      this.releaseSlot()
      p.reject(new RemoteError('the node is destroyed'))
      return
    }
    p.started = this.timers.now()
    this.pending.set(txidKey(p.txid), p)
    this.fire(p)
  }

  /** A request was answered: frees its slot, settles. */
  private settle(p: Pending, response: DhtMessage): void {
    this.releaseSlot()
    const ms = this.timers.now() - p.started
    if (response.type === 'error') {
      this.metrics.onRequestSent?.(p.kind, 'error', ms)
      p.reject(errorFromWire(response.code, response.message))
    } else {
      this.metrics.onRequestSent?.(p.kind, 'ok', ms)
      if (p.expectId) this.onAnswer(p.expectId)
      p.resolve(response)
    }
  }

  /** A request's last attempt went unanswered: frees its slot, fails it. */
  private timeOut(p: Pending): void {
    this.releaseSlot()
    this.stats.timeouts++
    this.metrics.onRequestSent?.(p.kind, 'timeout', this.timers.now() - p.started)
    // Only a full-effort request says a node is gone (not a quick verification ping).
    if (p.expectId && p.retries >= this.retries) this.onFailure(p.expectId)
    p.reject(new TimeoutError(`no answer from ${p.to.host}:${p.to.port}`))
  }

  /** Sends (or resends) a pending request and sets its deadline. */
  private fire(p: Pending): void {
    if (p.attempt > 0) this.stats.resent++
    else this.stats.sent++
    // Each resend waits twice as long: a late answer is more likely than a lost one when the
    // responder is busy, and backing off keeps a busy network from collapsing.
    p.deadline = this.timers.now() + p.timeoutMs * 2 ** p.attempt
    p.attempt++
    this.socket.send(p.bytes, p.to.port, p.to.host).catch(noop)
    if (this.ticker === undefined) this.ticker = this.timers.setInterval(this.onTick, this.tickMs)
  }

  /** Resends or times out the requests past their deadline; stops when none is pending. */
  private tick(): void {
    const now = this.timers.now()
    for (const [key, p] of this.pending) {
      if (p.deadline > now) continue
      if (p.attempt === 1 && p.onSlow) p.onSlow()
      if (p.attempt > p.retries) {
        this.pending.delete(key)
        this.timeOut(p)
      } else this.fire(p)
    }
    if (this.pending.size === 0 || this.destroyed) this.stopTicker()
  }

  private stopTicker(): void {
    if (this.ticker !== undefined) this.timers.clearInterval(this.ticker)
    this.ticker = undefined
  }

  /** 8 random bytes from a pool refilled 512 at a time: one random call per request was ~2% of CPU. */
  private nextTxid(): Bytes {
    if (this.txidAt + TXID_BYTES > this.txidPool.byteLength) {
      this.txidPool = this.random(TXID_POOL_BYTES)
      this.txidAt = 0
    }
    const at = this.txidAt
    this.txidAt += TXID_BYTES
    return this.txidPool.slice(at, at + TXID_BYTES)
  }

  private releaseSlot(): void {
    const next = this.waiting.shift()
    if (next) this.start(next)
    else this.inFlight--
  }
}
