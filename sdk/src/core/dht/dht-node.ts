import { systemClock, type Clock } from '../runtime/clock.js'
import { systemRandom, type Random } from '../runtime/host.js'
import { systemTimers, type Timers } from '../runtime/timers.js'
import { BoundedMap } from '../util/bounded-map.js'
import {
  MailboxFullError,
  MalformedError,
  PassageError,
  QuotaExceededError,
  RemoteError,
  TimeoutError,
} from '../errors.js'
import type { Identity } from '../identity/identity.js'
import { compareDistance, type NodeId } from '../identity/node-id.js'
import {
  DEFAULT_ENVELOPE_TTL_MS,
  DEFAULT_MAILBOX_QUOTA,
  MAX_ENVELOPE_TTL_MS,
  type MailboxQuota,
  type MailboxStore,
} from '../mailbox/mailbox-store.js'
import { MemoryMailboxStore } from '../mailbox/memory-mailbox-store.js'
import type { DatagramSocket } from '../net/ports.js'
import {
  decodeSignedRecord,
  encodeSignedRecord,
  verifyRecord,
  type SignedRecord,
} from '../records/signed-record.js'
import { equalBytes, type Bytes } from '../wire/bytes.js'
import { AddressCache } from './address-cache.js'
import { FragmentAssembler } from './fragment-assembler.js'
import type { Handler, HandlerContext, InboundRequest } from './handlers/context.js'
import { handleFindNode } from './handlers/find-node.js'
import { handleMailboxDelete } from './handlers/mailbox-delete.js'
import { handleMailboxGet } from './handlers/mailbox-get.js'
import { handleMailboxPut } from './handlers/mailbox-put.js'
import { handlePing } from './handlers/ping.js'
import { handleRecordGet } from './handlers/record-get.js'
import { handleRecordPut } from './handlers/record-put.js'
import {
  ENVELOPE_ID_BYTES,
  envelopeIdOf,
  FRAGMENT_BYTES,
  fragmentLength,
  mailboxAuthInput,
  mailboxKeyFor,
  MAX_DELETE_IDS,
  MAX_ENVELOPE_BYTES,
  encodeMessage,
  NONCE_BYTES,
  proofInput,
  proofMac,
  recordKeyFor,
  REQUEST_KINDS,
  tryDecodeMessage,
  wireErrorCode,
  type DhtMessage,
  type DropReason,
  type MailboxAuthedRequest,
  type MessageBody,
  type MessageKind,
  type NodeAddress,
  type NodeInfo,
} from './messages.js'
import { MemoryRecordStore, type RecordStore } from './record-store.js'
import { ReplayCache } from './replay-cache.js'
import { bytesKey, K, RoutingTable } from './routing-table.js'
import { ProofCache } from './rpc/proof-cache.js'
import { RateLimiter, type RateLimit } from './rpc/rate-limiter.js'
import {
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RETRIES,
  RpcEngine,
  type RequestOptions,
} from './rpc/rpc-engine.js'
import { WriteTokens } from './rpc/write-tokens.js'

export { TOKEN_ROTATE_MS } from './rpc/write-tokens.js'
export {
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RETRIES,
} from './rpc/rpc-engine.js'

/** Lookup parallelism (Kademlia's alpha). */
export const ALPHA = 3
/** A bucket no lookup touched for this long is refreshed (Kademlia: 1 h; hyperdht ~ 20 min). */
export const BUCKET_REFRESH_MS = 900_000 // 15 min
/** Stored mailboxes are republished to the current k closest this often. */
export const REPUBLISH_INTERVAL_MS = 3_600_000 // 1 h, as Kademlia's republish
/** A node that failed to answer this many requests in a row leaves the table. */
export const MAX_FAILURES = 2
/** Unknown senders are pinged back at most once per this window (verification ping). */
export const VERIFY_RETRY_MS = 60_000
/**
 * A full bucket's oldest contact seen this recently is kept without a ping: long-lived nodes
 * are preferred, and a newcomer waits as a replacement (promoted when the oldest fails).
 */
export const PING_OLDEST_AFTER_MS = 60_000 // 1 min
/** A node whose request timed out is skipped by lookups for this long. */
export const DEAD_FOR_MS = 60_000 // 1 min
/** New contacts remembered for the next handover; more wait for the hourly republish. */
const MAX_PENDING_HANDOVERS = 1000
/** Entries of the small caches (verified endpoints, failures, verification pings). */
const CACHE_ENTRIES = 10_000
/** Fragments sent to one replica at once. */
const FRAGMENT_WINDOW = 8
/** Ceiling on verification pings in flight at once (protects against request floods). */
const MAX_VERIFY_IN_FLIGHT = 64
/** Counters of a node, for tests and for the server's /metrics. */
export interface DhtStats {
  /** Datagrams received. */
  received: number
  /** Datagrams dropped, by reason. */
  dropped: Record<DropReason, number>
  /** Requests answered, by kind. */
  handled: Partial<Record<MessageKind, number>>
  /** Requests answered with an error. */
  errors: number
  /** Responses that matched a request of ours. */
  responses: number
  /** Requests sent (first attempts) and resends. */
  sent: number
  resent: number
  timeouts: number
  lookups: number
}

/** Hooks for metrics (Prometheus in the server). All optional. */
export interface DhtMetrics {
  onDrop?(reason: DropReason): void
  /** An inbound request answered: its kind, `ok` or the error code, and handler time. */
  onRequestHandled?(kind: MessageKind, result: string, ms: number): void
  /** An outbound request finished: `ok`, `timeout` or `error`, and its round-trip time. */
  onRequestSent?(kind: MessageKind, result: 'ok' | 'timeout' | 'error', ms: number): void
  onLookup?(hops: number, ms: number, found: number): void
  onMailbox?(event: 'put' | 'get' | 'delete' | 'expire', count: number, bytes: number): void
}

/** A pino-compatible subset. */
export interface DhtLogger {
  debug(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface DhtNodeOptions {
  identity: Identity
  socket: DatagramSocket
  clock?: Clock
  mailboxStore?: MailboxStore
  recordStore?: RecordStore
  logger?: DhtLogger
  metrics?: DhtMetrics
  /** Client mode: use the DHT without being added to others' tables (a phone behind NAT). */
  client?: boolean
  k?: number
  alpha?: number
  requestTimeoutMs?: number
  retries?: number
  quota?: MailboxQuota
  /** Outbound requests in flight at once (default {@link DEFAULT_MAX_IN_FLIGHT}). */
  maxInFlight?: number
  /** Per source IP: inbound requests per second and burst; omitted = no limit. */
  rateLimit?: RateLimit
  /** Random bytes for transaction IDs, token secrets and nonces (default: the host's crypto). */
  random?: Random
  /** Request deadlines and round-trip times (default: the host's timers). */
  timers?: Timers
}

/** A verified node found by a lookup, with the write token it handed us. */
export interface LookupNode extends NodeInfo {
  token: Bytes
}

export interface LookupResult {
  /** Up to k verified nodes closest to the target, closest first. */
  closest: LookupNode[]
  /** Hops from our table to the closest node found (0: it was in our table). */
  hops: number
  /** Nodes asked. */
  queried: number
}

/** Outcome of {@link DhtNode.putEnvelope}. */
export interface PutEnvelopeResult {
  id: Bytes
  mailboxKey: Bytes
  /** Replicas that acknowledged the envelope as stored (durably, before answering). */
  stored: number
  /** Replicas tried (the k closest found, plus this node when it is one of them). */
  replicas: number
  /** Refusals and failures of the others (e.g. {@link MailboxFullError}). */
  errors: PassageError[]
}

export interface FetchedEnvelope {
  id: Bytes
  data: Bytes
  expiresAt: number
}

interface Candidate extends NodeInfo {
  state: 'new' | 'pending' | 'done' | 'failed'
  token: Bytes
  hop: number
}

/** The token of a candidate not asked yet. */
const NO_TOKEN = new Uint8Array(0) as Bytes

/**
 * A Kademlia DHT node on one UDP socket: answers ping, find-node, mailbox and record
 * requests, and runs iterative lookups, mailbox puts/gets/deletes and record puts/gets.
 *
 * @example
 * const node = new DhtNode({ identity, socket: await bindUdpSocket('127.0.0.1', 0) })
 * await node.bootstrap([{ host: '127.0.0.1', port: 49737 }])
 * const r = await node.putEnvelope(recipientPublicKey, ciphertext)   // r.stored ≥ 3
 * const mine = await node.fetchMailbox(myIdentity)
 * await node.deleteEnvelopes(myIdentity, mine.map((e) => e.id))
 * await node.destroy()
 */
export class DhtNode {
  readonly id: NodeId
  readonly identity: Identity
  readonly table: RoutingTable
  readonly client: boolean
  readonly stats: DhtStats = {
    received: 0,
    dropped: {
      oversized: 0,
      malformed: 0,
      'unknown-type': 0,
      'bad-version': 0,
      'bad-proof': 0,
      unsolicited: 0,
      'rate-limited': 0,
    },
    handled: {},
    errors: 0,
    responses: 0,
    sent: 0,
    resent: 0,
    timeouts: 0,
    lookups: 0,
  }
  readonly mailboxStore: MailboxStore
  readonly recordStore: RecordStore

  private readonly socket: DatagramSocket
  private readonly clock: Clock
  private readonly logger: DhtLogger | undefined
  private readonly metrics: DhtMetrics
  private readonly k: number
  private readonly alpha: number
  private readonly timers: Timers
  private readonly rpc: RpcEngine
  private readonly quota: MailboxQuota
  /** ID key → requests in a row it failed to answer. */
  private readonly failures = new BoundedMap<string, number>(CACHE_ENTRIES)
  /** ID key → when we last pinged it to verify its key. */
  private readonly verifying = new BoundedMap<string, number>(CACHE_ENTRIES)
  private readonly evicting = new Set<string>()
  /** ID key → `host|port` where it last proved its key (the table may have no room for it). */
  private readonly verified = new BoundedMap<string, string>(CACHE_ENTRIES)
  private readonly proofs: ProofCache
  /** Nodes that entered the table since the last handover. */
  private joined: NodeInfo[] = []
  /** ID key → when a request to it last timed out. */
  private readonly dead = new BoundedMap<string, number>(CACHE_ENTRIES)
  private readonly tokens: WriteTokens
  private readonly random: Random
  private readonly assembler = new FragmentAssembler()
  /** IPv4 addresses this node's datagrams carry, parsed and formatted once. */
  private readonly addresses = new AddressCache()
  private readonly replay = new ReplayCache()
  private readonly ctx: HandlerContext
  private readonly limiter: RateLimiter | undefined
  private lastRepublish: number
  private destroyed = false
  private verifyInFlight = 0

  constructor(options: DhtNodeOptions) {
    this.identity = options.identity
    this.id = options.identity.id
    this.socket = options.socket
    this.clock = options.clock ?? systemClock
    this.logger = options.logger
    this.metrics = options.metrics ?? {}
    this.client = options.client ?? false
    this.k = options.k ?? K
    this.alpha = options.alpha ?? ALPHA
    this.timers = options.timers ?? systemTimers
    this.quota = options.quota ?? DEFAULT_MAILBOX_QUOTA
    this.random = options.random ?? systemRandom
    this.limiter = options.rateLimit && new RateLimiter(options.rateLimit, this.clock)
    this.tokens = new WriteTokens(this.clock, this.random)
    this.proofs = new ProofCache(this.identity)
    this.mailboxStore = options.mailboxStore ?? new MemoryMailboxStore()
    this.recordStore = options.recordStore ?? new MemoryRecordStore()
    this.table = new RoutingTable(this.id, { k: this.k })
    this.rpc = new RpcEngine({
      socket: this.socket,
      senderKey: this.identity.publicKey,
      client: this.client,
      timers: this.timers,
      random: this.random,
      proofs: this.proofs,
      stats: this.stats,
      metrics: this.metrics,
      timeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      retries: options.retries ?? DEFAULT_RETRIES,
      maxInFlight: options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
      addresses: this.addresses,
      onAnswer: (id) => {
        const key = bytesKey(id)
        this.failures.delete(key)
        this.dead.delete(key)
      },
      onFailure: (id) => this.noteFailure(id),
    })
    this.lastRepublish = this.clock.now()
    this.ctx = {
      id: this.id,
      clock: this.clock,
      k: this.k,
      table: this.table,
      mailboxStore: this.mailboxStore,
      recordStore: this.recordStore,
      quota: this.quota,
      assembler: this.assembler,
      replay: this.replay,
      verifier: this.identity.keys,
      tokenFor: (from) => this.tokens.tokenFor(from),
      checkToken: (token, from) => this.tokens.check(token, from),
      onMailbox: (event, count, bytes) => this.metrics.onMailbox?.(event, count, bytes),
    }
    this.socket.onMessage((bytes, from) => {
      try {
        this.onDatagram(bytes, from)
      } catch (error) {
        // Never out of the socket handler: count it and carry on.
        this.drop('malformed')
        this.logger?.warn({ err: error }, 'dht: datagram handler failed')
      }
    })
  }

  /** Our UDP endpoint. */
  address(): NodeAddress {
    return this.socket.address()
  }

  /**
   * The verified contacts of the routing table (to save across restarts and pass to
   * {@link DhtNode.bootstrap} next time: they prove their keys again).
   */
  contacts(): NodeInfo[] {
    return this.table.all().map((c) => ({ id: c.id, host: c.host, port: c.port }))
  }

  // ---------------------------------------------------------------- inbound

  private drop(reason: DropReason): void {
    this.stats.dropped[reason]++
    this.metrics.onDrop?.(reason)
  }

  /** Handles one datagram. Public for tests that bypass the socket. */
  onDatagram(bytes: Uint8Array, from: NodeAddress): void {
    if (this.destroyed) return
    this.stats.received++
    const decoded = tryDecodeMessage(bytes, this.addresses)
    if (!decoded.ok) return this.drop(decoded.reason)
    const msg = decoded.message
    if (!REQUEST_KINDS.has(msg.type)) {
      const dropped = this.rpc.receive(msg, from)
      if (dropped) this.drop(dropped)
      return
    }
    if (this.limiter && !this.limiter.allow(from.host)) return this.drop('rate-limited')
    this.onRequest(msg, from)
  }

  private onRequest(msg: DhtMessage, from: NodeAddress): void {
    const started = this.timers.now()
    const senderId = this.proofs.idOf(msg.senderKey)
    let out: MessageBody | Promise<MessageBody>
    try {
      out = this.dispatch({ msg, from, senderId } as InboundRequest)
    } catch (error) {
      return this.replyError(msg, from, senderId, started, error)
    }
    // ping and find-node answer synchronously: no promise, no microtask on the hot path.
    if (!(out instanceof Promise)) return this.reply(msg, from, senderId, started, out, 'ok')
    out
      .then(
        (body) => this.reply(msg, from, senderId, started, body, 'ok'),
        (error: unknown) => this.replyError(msg, from, senderId, started, error),
      )
      .catch((error: unknown) => this.logger?.warn({ err: error }, 'dht: reply failed'))
  }

  private replyError(
    msg: DhtMessage,
    from: NodeAddress,
    senderId: NodeId,
    started: number,
    error: unknown,
  ): void {
    const code = wireErrorCode(error)
    const result = error instanceof PassageError ? error.code : 'internal'
    this.stats.errors++
    const message = error instanceof PassageError ? error.message : 'internal error'
    if (!(error instanceof PassageError)) this.logger?.warn({ err: error }, 'dht: handler failed')
    this.reply(msg, from, senderId, started, { type: 'error', code, message }, result)
  }

  private reply(
    msg: DhtMessage,
    from: NodeAddress,
    senderId: NodeId,
    started: number,
    body: MessageBody,
    result: string,
  ): void {
    if (this.destroyed) return
    this.stats.handled[msg.type] = (this.stats.handled[msg.type] ?? 0) + 1
    this.metrics.onRequestHandled?.(msg.type, result, this.timers.now() - started)
    // The handler's fresh body becomes the response: no copy of its fields.
    const response = body as DhtMessage
    response.txid = msg.txid
    response.senderKey = this.identity.publicKey
    response.client = this.client
    response.wantProof = false
    response.proof = undefined
    if (msg.wantProof) {
      const key = msg.mac ? this.proofs.proofKeyFor(msg.senderKey) : undefined
      if (key) {
        response.proof = proofMac(key, msg.txid, senderId)
        response.mac = true
      } else response.proof = this.identity.sign(proofInput(msg.txid, senderId))
    }
    this.send(from, response)
    if (!msg.client) this.learn(senderId, from)
  }

  private dispatch(req: InboundRequest): MessageBody | Promise<MessageBody> {
    const handlers: { [T in MessageKind]?: Handler<T> } = HANDLERS
    const handler = handlers[req.msg.type] as Handler<MessageKind> | undefined
    if (!handler) throw new MalformedError('not a request')
    return handler(this.ctx, req)
  }

  /**
   * A non-client node talked to us: refresh it, or verify it with a ping of our own, but only
   * when it could enter the table. A full bucket keeps its contacts (Kademlia prefers
   * long-lived nodes): its oldest contact, when not seen lately, gets a plain ping (no proof,
   * it proved its key already) and leaves if it does not answer; the newcomer is verified the
   * next time it talks to us and finds room. Proofs cost a signature on each side, so asking
   * every unknown requester for one was a third of a lookup's CPU.
   */
  private learn(id: NodeId, from: NodeAddress): void {
    if (this.client) return
    const now = this.clock.now()
    const known = this.table.get(id)
    if (known && known.host === from.host && known.port === from.port) {
      this.table.touch(id, now)
      return
    }
    const key = bytesKey(id)
    if (!known) {
      const oldest = this.table.oldestIfFull(id)
      if (oldest) {
        if (now - oldest.lastSeen >= PING_OLDEST_AFTER_MS) this.checkOldest(oldest)
        return
      }
      if (this.verified.get(key) === this.tokens.endpointKey(from))
        return this.addVerified({ id, ...from })
    }
    const last = this.verifying.get(key)
    if (last !== undefined && now - last < VERIFY_RETRY_MS) return
    if (this.verifyInFlight >= MAX_VERIFY_IN_FLIGHT) return
    this.verifying.set(key, now)
    this.verifyInFlight++
    this.request(from, { type: 'ping' }, { expectId: id, wantProof: true, retries: 1 })
      .then((pong) => {
        if (!pong.client) this.addVerified({ id, ...from })
      })
      .catch(() => {})
      .finally(() => this.verifyInFlight--)
  }

  /** Pings a bucket's oldest contact (no proof: it proved its key); it leaves if it is gone. */
  private checkOldest(oldest: { id: NodeId; host: string; port: number }): void {
    const oldKey = bytesKey(oldest.id)
    if (this.evicting.has(oldKey)) return
    this.evicting.add(oldKey)
    this.request(oldest, { type: 'ping' }, { expectId: oldest.id, wantProof: false })
      .then(() => this.table.touch(oldest.id, this.clock.now()))
      .catch(() => this.table.remove(oldest.id, this.clock.now()))
      .finally(() => this.evicting.delete(oldKey))
  }

  /** Adds a node that just proved its key; pings the oldest of a full bucket before evicting. */
  private addVerified(node: NodeInfo): void {
    if (this.destroyed || equalBytes(node.id, this.id)) return
    const key = bytesKey(node.id)
    this.failures.delete(key)
    this.verified.set(key, this.tokens.endpointKey(node))
    const now = this.clock.now()
    const r = this.table.add(node, now)
    if (r.status === 'added' && this.joined.length < MAX_PENDING_HANDOVERS) this.joined.push(node)
    if (r.status !== 'full') return
    if (now - r.oldest.lastSeen < PING_OLDEST_AFTER_MS) return
    this.checkOldest(r.oldest)
  }

  // ---------------------------------------------------------------- outbound

  private send(to: NodeAddress, msg: DhtMessage): void {
    let bytes: Bytes
    try {
      bytes = encodeMessage(msg, this.addresses)
    } catch (error) {
      this.logger?.warn({ err: error, type: msg.type }, 'dht: cannot encode')
      return
    }
    this.socket.send(bytes, to.port, to.host).catch(() => {})
  }

  /**
   * Sends a request and waits for its response, resending after each timeout. Resolves with
   * the response (an `error` response rejects with the matching SDK error). `expectId`: the
   * responder's key must hash to it. `wantProof`: the responder must sign the txid.
   */
  request(to: NodeAddress, body: MessageBody, opts: RequestOptions = {}): Promise<DhtMessage> {
    return this.rpc.request(to, body, opts)
  }

  /** Whether `id` failed to answer lately (lookups skip it instead of waiting again). */
  private isDead(id: NodeId): boolean {
    const at = this.dead.get(bytesKey(id))
    return at !== undefined && this.clock.now() - at < DEAD_FOR_MS
  }

  private noteFailure(id: NodeId): void {
    const key = bytesKey(id)
    this.dead.set(key, this.clock.now())
    const n = (this.failures.get(key) ?? 0) + 1
    if (n >= MAX_FAILURES) {
      this.failures.delete(key)
      this.verified.delete(key)
      this.table.remove(id, this.clock.now())
    } else this.failures.set(key, n)
  }

  /** Pings an address; resolves with the responder's verified ID and its view of our address. */
  async ping(to: NodeAddress): Promise<{ id: NodeId; observed: NodeAddress; client: boolean }> {
    const pong = await this.request(to, { type: 'ping' }, { wantProof: true })
    if (pong.type !== 'pong') throw new RemoteError('expected a pong')
    const id = this.proofs.idOf(pong.senderKey)
    if (!pong.client) this.addVerified({ id, host: to.host, port: to.port })
    return { id, observed: pong.observed, client: pong.client }
  }

  /**
   * Joins the network: pings the given nodes (they must prove their keys), then looks up our
   * own ID to fill the table. Returns the number of verified nodes in the table.
   */
  async bootstrap(peers: NodeAddress[]): Promise<number> {
    await Promise.allSettled(peers.map((p) => this.ping(p)))
    if (this.table.size === 0) return 0
    await this.lookup(this.id)
    return this.table.size
  }

  private isVerified(c: NodeInfo): boolean {
    return this.verified.get(bytesKey(c.id)) === this.tokens.endpointKey(c)
  }

  /**
   * Iterative Kademlia lookup with `alpha` requests in flight: returns the k nodes closest to
   * `target` that answered and proved their keys.
   */
  async lookup(target: NodeId): Promise<LookupResult> {
    const started = this.timers.now()
    this.stats.lookups++
    // Every candidate, closest first (sorted insertion: one binary search per node learned
    // instead of sorting every candidate again after each answer).
    const sorted: Candidate[] = []
    const seen = new Set<string>([bytesKey(this.id)])
    const insert = (c: Candidate) => {
      let lo = 0
      let hi = sorted.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (compareDistance(target, sorted[mid]!.id, c.id) < 0) lo = mid + 1
        else hi = mid
      }
      sorted.splice(lo, 0, c)
    }
    for (const c of this.table.closest(target, this.k)) {
      seen.add(bytesKey(c.id))
      // Already in order.
      sorted.push({ id: c.id, host: c.host, port: c.port, state: 'new', token: NO_TOKEN, hop: 0 })
    }
    let queried = 0
    await new Promise<void>((resolve) => {
      // `active`: requests holding one of the alpha slots. A request with no answer after the
      // first timeout gives its slot up (it is resent in the background), so one dead or
      // lossy node does not stall the lookup; the lookup still waits for it at the end when it
      // is one of the k closest.
      let active = 0
      let finished = false
      const step = () => {
        if (finished) return
        let live = 0
        let waiting = false
        for (let i = 0; i < sorted.length && live < this.k; i++) {
          const c = sorted[i]!
          if (c.state === 'failed') continue
          live++
          if (c.state === 'new' && active < this.alpha) launch(c)
          if (c.state === 'pending') waiting = true
        }
        if ((active === 0 && !waiting) || this.destroyed) {
          finished = true
          resolve()
        }
      }
      const launch = (c: Candidate) => {
        if (this.isDead(c.id)) {
          c.state = 'failed'
          return
        }
        c.state = 'pending'
        active++
        queried++
        let holdsSlot = true
        const onSlow = () => {
          if (!holdsSlot) return
          holdsSlot = false
          active--
          step()
        }
        this.request(
          c,
          { type: 'find-node', target },
          { expectId: c.id, wantProof: !this.isVerified(c), onSlow },
        )
          .then((reply) => {
            if (reply.type !== 'nodes') throw new RemoteError('expected nodes')
            c.state = 'done'
            c.token = reply.token
            if (!reply.client) this.addVerified({ id: c.id, host: c.host, port: c.port })
            for (const n of reply.nodes) {
              const key = bytesKey(n.id)
              if (seen.has(key)) continue
              seen.add(key)
              insert({
                id: n.id,
                host: n.host,
                port: n.port,
                state: 'new',
                token: NO_TOKEN,
                hop: c.hop + 1,
              })
            }
          })
          .catch(() => {
            c.state = 'failed'
          })
          .finally(() => {
            if (holdsSlot) active--
            holdsSlot = false
            step()
          })
      }
      step()
    })
    const closest: LookupNode[] = []
    let hops = 0
    for (let i = 0; i < sorted.length && closest.length < this.k; i++) {
      const c = sorted[i]!
      if (c.state !== 'done') continue
      if (closest.length === 0) hops = c.hop
      closest.push({ id: c.id, host: c.host, port: c.port, token: c.token })
    }
    this.table.markRefreshed(target, this.clock.now())
    this.metrics.onLookup?.(hops, this.timers.now() - started, closest.length)
    return { closest, hops, queried }
  }

  /** Whether this node is a replica for `key` given the lookup's closest nodes. */
  private selfIsReplica(key: NodeId, closest: NodeInfo[]): boolean {
    if (this.client) return false
    if (closest.length < this.k) return true
    return compareDistance(key, this.id, closest[closest.length - 1]!.id) < 0
  }

  // ---------------------------------------------------------------- mailboxes

  /**
   * Stores an envelope (opaque ciphertext, 1 byte to 64 KiB) in the mailbox of the holder of
   * `recipientKey`, on the k closest nodes to the mailbox key. Resolves with how many
   * replicas stored it; check `stored` (aim: at least 3). Several envelopes for one
   * recipient can share one lookup: pass `lookup` (a recent `lookup(mailboxKeyFor(key))`).
   */
  async putEnvelope(
    recipientKey: Uint8Array,
    data: Uint8Array,
    opts: { ttlMs?: number; lookup?: LookupResult } = {},
  ): Promise<PutEnvelopeResult> {
    if (data.byteLength < 1 || data.byteLength > MAX_ENVELOPE_BYTES) {
      throw new MalformedError(`an envelope is 1 to ${MAX_ENVELOPE_BYTES} bytes`)
    }
    const ttlMs = opts.ttlMs ?? DEFAULT_ENVELOPE_TTL_MS
    if (ttlMs < 1000 || ttlMs > MAX_ENVELOPE_TTL_MS)
      throw new MalformedError('ttl is 1 s to 30 days')
    const mailboxKey = mailboxKeyFor(recipientKey)
    const bytes = Uint8Array.from(data) as Bytes
    const id = envelopeIdOf(mailboxKey, bytes)
    const { closest } = opts.lookup ?? (await this.lookup(mailboxKey))
    return this.storeOn(closest, mailboxKey, id, bytes, Math.floor(ttlMs / 1000), true)
  }

  private async storeOn(
    targets: LookupNode[],
    mailboxKey: Bytes,
    id: Bytes,
    data: Bytes,
    ttlSeconds: number,
    includeSelf: boolean,
  ): Promise<PutEnvelopeResult> {
    const errors: PassageError[] = []
    let stored = 0
    const self = includeSelf && this.selfIsReplica(mailboxKey, targets)
    // This node is one of the k closest: the farthest node found is not.
    if (self && targets.length >= this.k) targets = targets.slice(0, this.k - 1)
    let replicas = targets.length
    const jobs = targets.map(async (t) => {
      try {
        if (await this.sendEnvelope(t, mailboxKey, id, data, ttlSeconds)) stored++
      } catch (error) {
        errors.push(error instanceof PassageError ? error : new RemoteError(String(error)))
      }
    })
    if (self) {
      replicas++
      jobs.push(
        (async () => {
          const now = this.clock.now()
          const outcome = await this.mailboxStore.put(
            {
              mailboxKey,
              id,
              data,
              source: this.address().host,
              storedAt: now,
              expiresAt: now + ttlSeconds * 1000,
            },
            this.quota,
            now,
          )
          if (outcome === 'stored' || outcome === 'duplicate' || outcome === 'deleted') stored++
          else {
            errors.push(
              outcome === 'mailbox-full' ? new MailboxFullError() : new QuotaExceededError(),
            )
          }
        })(),
      )
    }
    await Promise.all(jobs)
    return { id, mailboxKey, stored, replicas, errors }
  }

  /** Sends every fragment to one replica; true once it acknowledged the whole envelope. */
  private async sendEnvelope(
    to: LookupNode,
    mailboxKey: Bytes,
    id: Bytes,
    data: Bytes,
    ttlSeconds: number,
  ): Promise<boolean> {
    const count = Math.ceil(data.byteLength / FRAGMENT_BYTES)
    let next = 0
    let stored = false
    const worker = async () => {
      while (next < count && !stored) {
        const index = next++
        const start = index * FRAGMENT_BYTES
        const ack = await this.request(
          to,
          {
            type: 'mailbox-put',
            token: to.token,
            mailboxKey,
            envelopeId: id,
            ttlSeconds,
            totalSize: data.byteLength,
            index,
            count,
            data: data.slice(start, start + fragmentLength(data.byteLength, index)),
          },
          { expectId: to.id },
        )
        if (ack.type !== 'mailbox-put-ack') throw new RemoteError('expected a put ack')
        if (ack.stored) stored = true
      }
    }
    await Promise.all(Array.from({ length: Math.min(FRAGMENT_WINDOW, count) }, worker))
    return stored
  }

  private signAuth(owner: Identity, audience: NodeId, request: MailboxAuthedRequest) {
    const timestamp = this.clock.now()
    const nonce = this.random(NONCE_BYTES)
    const signature = owner.sign(mailboxAuthInput(audience, timestamp, nonce, request))
    return { ownerKey: owner.publicKey, timestamp, nonce, signature }
  }

  private async ownerRequest(
    owner: Identity,
    to: LookupNode,
    request: MailboxAuthedRequest,
  ): Promise<DhtMessage> {
    const auth = this.signAuth(owner, to.id, request)
    const body: MessageBody =
      request.type === 'mailbox-get'
        ? {
            type: 'mailbox-get',
            auth,
            kind: request.kind,
            envelopeId: Uint8Array.from(request.envelopeId) as Bytes,
            index: request.index,
          }
        : { type: 'mailbox-delete', auth, ids: request.ids.map((i) => Uint8Array.from(i) as Bytes) }
    // A resend carries the same nonce: a replica that answered already refuses it as a
    // replay, so resend with a fresh signature instead.
    let last: unknown
    for (let attempt = 0; attempt <= this.rpc.retries; attempt++) {
      try {
        const fresh = attempt === 0 ? body : { ...body, auth: this.signAuth(owner, to.id, request) }
        return await this.request(to, fresh, { expectId: to.id, retries: 0 })
      } catch (error) {
        last = error
        if (!(error instanceof TimeoutError)) {
          if ((error as PassageError).code === 'PASSAGE_ERR_REPLAY') continue
          throw error
        }
      }
    }
    throw last
  }

  /**
   * Fetches every envelope in `owner`'s mailbox from its replicas (each request signed by
   * the owner for that replica). Envelopes whose bytes do not match their ID are skipped.
   */
  async fetchMailbox(owner: Identity): Promise<FetchedEnvelope[]> {
    const mailboxKey = mailboxKeyFor(owner.publicKey)
    const { closest } = await this.lookup(mailboxKey)
    const found = new Map<
      string,
      { id: Bytes; size: number; expiresAt: number; holders: LookupNode[] }
    >()
    const local = new Map<string, FetchedEnvelope>()
    if (!this.client) {
      const now = this.clock.now()
      let after: Bytes | undefined
      for (let page = 0; page < 1000; page++) {
        const entries = await this.mailboxStore.list(mailboxKey, now, 256, after)
        for (const e of entries) {
          const env = await this.mailboxStore.get(mailboxKey, e.id, now)
          if (env)
            local.set(bytesKey(e.id), { id: env.id, data: env.data, expiresAt: env.expiresAt })
        }
        if (entries.length < 256) break
        after = entries[entries.length - 1]!.id
      }
    }
    await Promise.all(
      closest.map(async (replica) => {
        let after = new Uint8Array(ENVELOPE_ID_BYTES) as Bytes
        for (let page = 0; page < 1000; page++) {
          let reply: DhtMessage
          try {
            reply = await this.ownerRequest(owner, replica, {
              type: 'mailbox-get',
              kind: 'list',
              envelopeId: after,
              index: 0,
            })
          } catch {
            return
          }
          if (reply.type !== 'mailbox-list') return
          for (const e of reply.entries) {
            const key = bytesKey(e.id)
            const f = found.get(key)
            if (f) f.holders.push(replica)
            else found.set(key, { ...e, holders: [replica] })
          }
          if (!reply.more || reply.entries.length === 0) return
          after = reply.entries[reply.entries.length - 1]!.id
        }
      }),
    )
    const out: FetchedEnvelope[] = [...local.values()]
    await Promise.all(
      [...found.entries()].map(async ([key, entry]) => {
        if (local.has(key)) return
        for (const holder of entry.holders) {
          const data = await this.readEnvelope(owner, holder, entry.id, entry.size).catch(
            () => undefined,
          )
          if (data && equalBytes(envelopeIdOf(mailboxKey, data), entry.id)) {
            out.push({ id: entry.id, data, expiresAt: entry.expiresAt })
            return
          }
        }
      }),
    )
    return out
  }

  private async readEnvelope(
    owner: Identity,
    from: LookupNode,
    id: Bytes,
    size: number,
  ): Promise<Bytes> {
    const count = Math.ceil(size / FRAGMENT_BYTES)
    const out = new Uint8Array(size) as Bytes
    for (let index = 0; index < count; index++) {
      const reply = await this.ownerRequest(owner, from, {
        type: 'mailbox-get',
        kind: 'read',
        envelopeId: id,
        index,
      })
      if (reply.type !== 'mailbox-fragment' || reply.totalSize !== size || reply.index !== index) {
        throw new RemoteError('unexpected fragment')
      }
      out.set(reply.data, index * FRAGMENT_BYTES)
    }
    return out
  }

  /**
   * Deletes envelopes from `owner`'s mailbox on every replica found (and here). Idempotent.
   * Resolves with how many replicas confirmed.
   */
  async deleteEnvelopes(
    owner: Identity,
    ids: Uint8Array[],
  ): Promise<{ confirmed: number; replicas: number }> {
    const mailboxKey = mailboxKeyFor(owner.publicKey)
    const { closest } = await this.lookup(mailboxKey)
    const chunks: Bytes[][] = []
    for (let i = 0; i < ids.length; i += MAX_DELETE_IDS) {
      chunks.push(ids.slice(i, i + MAX_DELETE_IDS).map((id) => Uint8Array.from(id) as Bytes))
    }
    let confirmed = 0
    if (!this.client) {
      await this.mailboxStore.delete(mailboxKey, chunks.flat(), this.clock.now())
    }
    await Promise.all(
      closest.map(async (replica) => {
        try {
          for (const chunk of chunks) {
            const reply = await this.ownerRequest(owner, replica, {
              type: 'mailbox-delete',
              ids: chunk,
            })
            if (reply.type !== 'mailbox-delete-ack') throw new RemoteError('expected a delete ack')
          }
          confirmed++
        } catch {
          // Counted as not confirmed.
        }
      }),
    )
    return { confirmed, replicas: closest.length }
  }

  // ---------------------------------------------------------------- records

  /** Stores a signed record on the k closest nodes to its key. Resolves with how many stored it. */
  async putRecord(record: SignedRecord): Promise<{ stored: number; errors: PassageError[] }> {
    verifyRecord(record, this.identity.keys)
    const key = recordKeyFor(record.publicKey, record.type)
    let { closest } = await this.lookup(key)
    const bytes = encodeSignedRecord(record)
    const errors: PassageError[] = []
    let stored = 0
    if (this.selfIsReplica(key, closest)) {
      if (closest.length >= this.k) closest = closest.slice(0, this.k - 1)
      try {
        await this.recordStore.put(key, record)
        stored++
      } catch (error) {
        if (error instanceof PassageError) errors.push(error)
      }
    }
    await Promise.all(
      closest.map(async (node) => {
        try {
          await this.request(
            node,
            { type: 'record-put', token: node.token, record: bytes },
            { expectId: node.id },
          )
          stored++
        } catch (error) {
          errors.push(error instanceof PassageError ? error : new RemoteError(String(error)))
        }
      }),
    )
    return { stored, errors }
  }

  /** The newest valid record of `type` signed by `publicKey`, from the closest nodes. */
  async getRecord(publicKey: Uint8Array, type: number): Promise<SignedRecord | undefined> {
    const key = recordKeyFor(publicKey, type)
    const { closest } = await this.lookup(key)
    let best = await this.recordStore.get(key)
    await Promise.all(
      closest.map(async (node) => {
        try {
          const reply = await this.request(node, { type: 'record-get', key }, { expectId: node.id })
          if (reply.type !== 'record-result' || !reply.record) return
          const record = decodeSignedRecord(reply.record)
          verifyRecord(record, this.identity.keys)
          if (!equalBytes(record.publicKey, publicKey) || record.type !== type) return
          if (!best || record.seq > best.seq) best = record
        } catch {
          // A failing or lying node does not stop the others.
        }
      }),
    )
    return best
  }

  // ---------------------------------------------------------------- maintenance

  /**
   * Periodic work on the injected clock: expires envelopes, drops stale partial puts,
   * refreshes buckets no lookup touched for {@link BUCKET_REFRESH_MS}, and republishes
   * stored mailboxes every {@link REPUBLISH_INTERVAL_MS}. Call it every minute or so.
   */
  async maintain(): Promise<{
    expired: number
    refreshed: number
    handedOver: number
    republished: number
  }> {
    const now = this.clock.now()
    const expired = await this.mailboxStore.expire(now)
    if (expired > 0) this.metrics.onMailbox?.('expire', expired, 0)
    this.assembler.expire(now)
    this.replay.prune(now)
    this.tokens.rotate()
    let refreshed = 0
    if (this.table.size > 0) {
      // In parallel: each lookup has its own alpha, and requests share the in-flight cap.
      const stale = this.table.staleBuckets(now, BUCKET_REFRESH_MS)
      await Promise.all(
        stale.map((index) => this.lookup(this.table.randomIdInBucket(index, this.random(20)))),
      )
      refreshed = stale.length
    }
    let republished = 0
    let handedOver = 0
    if (now - this.lastRepublish >= REPUBLISH_INTERVAL_MS) {
      this.lastRepublish = now
      this.joined = []
      republished = await this.republish()
    } else {
      handedOver = await this.handover()
    }
    return { expired, refreshed, handedOver, republished }
  }

  /**
   * Hands stored envelopes to nodes that entered the table since the last call and are now
   * among the k closest to a stored mailbox (a closer node joined). Returns envelopes sent.
   */
  async handover(): Promise<number> {
    const joined = this.joined
    this.joined = []
    if (joined.length === 0 || this.client) return 0
    const now = this.clock.now()
    let sent = 0
    for (const mailboxKey of await this.mailboxStore.mailboxes(now, 10_000)) {
      const closest = this.table.closest(mailboxKey, this.k)
      const newcomers = joined.filter((j) => closest.some((c) => equalBytes(c.id, j.id)))
      if (newcomers.length === 0) continue
      // A write needs the newcomer's token for our address: one find-node round trip.
      const targets: LookupNode[] = []
      await Promise.all(
        newcomers.map(async (n) => {
          try {
            const reply = await this.request(
              n,
              { type: 'find-node', target: mailboxKey },
              { expectId: n.id },
            )
            if (reply.type === 'nodes') targets.push({ ...n, token: reply.token })
          } catch {
            // Gone already: the hourly republish covers the rest.
          }
        }),
      )
      sent += await this.sendStored(mailboxKey, targets, now)
    }
    return sent
  }

  /**
   * Hands every stored envelope to the current k closest nodes of its mailbox (new nodes
   * that joined closer, or replacements for replicas that left). Returns envelopes sent.
   */
  async republish(): Promise<number> {
    const now = this.clock.now()
    let sent = 0
    for (const mailboxKey of await this.mailboxStore.mailboxes(now, 10_000)) {
      const { closest } = await this.lookup(mailboxKey)
      sent += await this.sendStored(mailboxKey, closest, now)
    }
    return sent
  }

  /** Sends every stored envelope of one mailbox to `targets`; returns envelopes sent. */
  private async sendStored(mailboxKey: Bytes, targets: LookupNode[], now: number): Promise<number> {
    if (targets.length === 0) return 0
    let sent = 0
    let after: Bytes | undefined
    for (let page = 0; page < 1000; page++) {
      const entries = await this.mailboxStore.list(mailboxKey, now, 256, after)
      for (const e of entries) {
        const env = await this.mailboxStore.get(mailboxKey, e.id, now)
        if (!env) continue
        const ttlSeconds = Math.floor((env.expiresAt - now) / 1000)
        if (ttlSeconds < 1) continue
        await this.storeOn(targets, mailboxKey, env.id, env.data, ttlSeconds, false)
        sent++
      }
      if (entries.length < 256) break
      after = entries[entries.length - 1]!.id
    }
    return sent
  }

  /** Stops answering, fails pending requests and closes the socket. */
  async destroy(): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    this.rpc.destroy()
    await this.socket.close()
  }
}

const HANDLERS: { [T in MessageKind]?: Handler<T> } = {
  ping: handlePing,
  'find-node': handleFindNode,
  'mailbox-put': handleMailboxPut,
  'mailbox-get': handleMailboxGet,
  'mailbox-delete': handleMailboxDelete,
  'record-put': handleRecordPut,
  'record-get': handleRecordGet,
}
