// Over 500 lines: the node composes its parts (RPC engine, lookup, mailbox and record
// clients, maintenance) and owns the inbound path (decode, rate and amplification limits,
// handle, reply with proof), which works on the node's private state; the parts live apart.
import { PassageError, RemoteError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import type { NodeId } from '../identity/node-id.js'
import {
  DEFAULT_MAILBOX_QUOTA,
  type MailboxQuota,
  type MailboxStore,
} from '../mailbox/mailbox-store.js'
import { MemoryMailboxStore } from '../mailbox/memory-mailbox-store.js'
import type { DatagramSocket } from '../net/ports.js'
import type { SignedRecord } from '../records/signed-record.js'
import { systemClock, type Clock } from '../runtime/clock.js'
import { systemRandom, type AbortSignalLike, type Random } from '../runtime/host.js'
import type { Bytes } from '../wire/bytes.js'
import { systemTimers, type Timers } from '../runtime/timers.js'
import { AddressCache } from './address-cache.js'
import { emptyDhtStats, type DhtLogger, type DhtMetrics, type DhtStats } from './dht-stats.js'
import { FragmentAssembler } from './fragment-assembler.js'
import { join, type JoinContext } from './join.js'
import type { HandlerContext, InboundRequest } from './handlers/context.js'
import { dispatch } from './handlers/dispatch.js'
import { ALPHA, lookup, type LookupContext, type LookupResult } from './lookup.js'
import {
  MailboxClient,
  type EnvelopeToPut,
  type FetchedEnvelope,
  type FetchMailboxOptions,
  type MailboxClientContext,
  type PutEnvelopeResult,
} from './mailbox-client.js'
import { Maintenance, type MaintainResult, type MaintenanceContext } from './maintenance.js'
import {
  encodeMessage,
  MAX_DATAGRAM_BYTES,
  REQUEST_KINDS,
  tryDecodeMessage,
  type DhtMessage,
  type DropReason,
  type MessageBody,
  type NodeAddress,
  type NodeInfo,
} from './messages.js'
import { proofInput, proofMac } from './keys.js'
import { wireErrorCode } from './wire-errors.js'
import { RecordClient, type RecordClientContext } from './record-client.js'
import { MemoryRecordStore, type RecordStore } from './record-store.js'
import { MAX_REPLAY_ENTRIES, ReplayCache } from './replay-cache.js'
import { K, RoutingTable } from './routing-table.js'
import { ProofCache } from './rpc/proof-cache.js'
import { AddressCheck } from './rpc/address-check.js'
import { fitAnswer } from './rpc/fit-answer.js'
import { PeerTokens } from './rpc/peer-tokens.js'
import { DEFAULT_RATE_LIMIT, RateLimiter, type RateLimit } from './rpc/rate-limiter.js'
import { RpcEngine, type RequestOptions } from './rpc/rpc-engine.js'
import { WriteTokens } from './rpc/write-tokens.js'
import { TableKeeper, type TableKeeperContext } from './table-keeper.js'

export { type DhtLogger, type DhtMetrics, type DhtStats } from './dht-stats.js'
export { ALPHA, type LookupNode, type LookupResult } from './lookup.js'
export {
  REPLICA_REUSE_MS,
  type EnvelopeToPut,
  type FetchedEnvelope,
  type FetchMailboxOptions,
  type PutEnvelopeResult,
} from './mailbox-client.js'
export { BUCKET_REFRESH_MS, REPUBLISH_INTERVAL_MS } from './maintenance.js'
export {
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RETRIES,
} from './rpc/rpc-engine.js'
export { TOKEN_ROTATE_MS } from './rpc/write-tokens.js'
export { DEFAULT_RATE_LIMIT, type RateLimit } from './rpc/rate-limiter.js'
export { ADDRESS_CHECK_EVERY_MS, PROVEN_FOR_MS } from './rpc/address-check.js'
export { PEER_TOKEN_FRESH_MS } from './rpc/peer-tokens.js'
export { DEAD_FOR_MS, MAX_FAILURES, PING_OLDEST_AFTER_MS, VERIFY_RETRY_MS } from './table-keeper.js'

/** A bare ping: the header alone (magic to sender key). */
const PING_BYTES = 45
/**
 * Return-routability pings in flight at once: forged requests from many addresses must not
 * take every request slot of the node (64 by default).
 */
const MAX_ADDRESS_CHECKS_IN_FLIGHT = 16

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
  /**
   * Per source IP (an IPv6 /64): inbound requests per second and burst. Default
   * {@link DEFAULT_RATE_LIMIT}; `false` turns it off (an in-process testnet, whose nodes all
   * share 127.0.0.1).
   */
  rateLimit?: RateLimit | false
  /** Request deadlines, the resend ticker and round-trip times (default: the host's timers). */
  timers?: Timers
  /** Random bytes for transaction IDs, token secrets and nonces (default: the host's crypto). */
  random?: Random
}

/** What the node hands its parts: everything each of them reads, in one object. */
type Components = HandlerContext &
  LookupContext &
  MailboxClientContext &
  RecordClientContext &
  MaintenanceContext &
  TableKeeperContext &
  JoinContext

/**
 * A Kademlia DHT node on one UDP socket: answers ping, find-node, mailbox and record
 * requests, and runs iterative lookups, mailbox puts/gets/deletes and record puts/gets.
 * It decodes and answers datagrams itself and hands the rest to its parts: {@link RpcEngine}
 * (our requests), {@link lookup}, {@link MailboxClient}, {@link RecordClient},
 * {@link Maintenance} and {@link TableKeeper} (who enters and leaves the routing table).
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
  readonly stats: DhtStats = emptyDhtStats()
  readonly mailboxStore: MailboxStore
  readonly recordStore: RecordStore

  private readonly socket: DatagramSocket
  private readonly timers: Timers
  private readonly logger: DhtLogger | undefined
  private readonly metrics: DhtMetrics
  /** IPv4 addresses this node's datagrams carry, parsed and formatted once. */
  private readonly addresses = new AddressCache()
  private readonly proofs: ProofCache
  private readonly tokens: WriteTokens
  private readonly limiter: RateLimiter | undefined
  /** Who proved its address (the amplification guard), and tokens others gave us. */
  private readonly addressCheck: AddressCheck
  private readonly rpc: RpcEngine
  private readonly components: Components
  private readonly mailboxes: MailboxClient
  private readonly records: RecordClient
  private readonly maintenance: Maintenance
  private readonly keeper: TableKeeper
  private addressChecks = 0
  private destroyed = false

  constructor(options: DhtNodeOptions) {
    this.identity = options.identity
    this.id = options.identity.id
    this.socket = options.socket
    const clock = options.clock ?? systemClock
    this.timers = options.timers ?? systemTimers
    this.logger = options.logger
    this.metrics = options.metrics ?? {}
    this.client = options.client ?? false
    const k = options.k ?? K
    const quota = options.quota ?? DEFAULT_MAILBOX_QUOTA
    const random = options.random ?? systemRandom
    this.mailboxStore = options.mailboxStore ?? new MemoryMailboxStore()
    this.recordStore = options.recordStore ?? new MemoryRecordStore()
    this.table = new RoutingTable(this.id, { k })
    const rateLimit = options.rateLimit ?? DEFAULT_RATE_LIMIT
    this.limiter = rateLimit ? new RateLimiter(rateLimit, clock) : undefined
    this.tokens = new WriteTokens(clock, random)
    this.addressCheck = new AddressCheck(clock, this.tokens)
    const peerTokens = new PeerTokens(clock, (a) => this.tokens.endpointKey(a))
    this.proofs = new ProofCache(this.identity)
    this.rpc = new RpcEngine({
      socket: this.socket,
      senderKey: this.identity.publicKey,
      client: this.client,
      timers: this.timers,
      random,
      proofs: this.proofs,
      stats: this.stats,
      metrics: this.metrics,
      timeoutMs: options.requestTimeoutMs,
      retries: options.retries,
      maxInFlight: options.maxInFlight,
      addresses: this.addresses,
      onAnswer: (id) => this.keeper.answered(id),
      onFailure: (id) => this.keeper.failed(id),
      peerTokens,
      onHeard: (from) => this.addressCheck.heard(from),
    })
    // One object for every part, each reading it through its own narrow interface. A literal
    // (not spreads of a common base): spread copies holding closures got a hidden class each,
    // ~2 KiB per node.
    this.components = {
      id: this.id,
      client: this.client,
      k,
      alpha: options.alpha ?? ALPHA,
      clock,
      timers: this.timers,
      random,
      retries: this.rpc.retries,
      table: this.table,
      stats: this.stats,
      metrics: this.metrics,
      mailboxStore: this.mailboxStore,
      recordStore: this.recordStore,
      quota,
      verifier: this.identity.keys,
      assembler: new FragmentAssembler(),
      replay: new ReplayCache(MAX_REPLAY_ENTRIES, clock.now()),
      tokens: this.tokens,
      request: (to, body, opts) => this.rpc.request(to, body, opts),
      lookup: (target) => this.lookup(target),
      address: () => this.address(),
      isDestroyed: () => this.destroyed,
      tokenFor: (from) => this.tokens.tokenFor(from),
      checkToken: (token, from) => this.tokens.check(token, from),
      onMailbox: (event, count, bytes) => this.metrics.onMailbox?.(event, count, bytes),
      isDead: (id) => this.keeper.isDead(id),
      isVerified: (node) => this.keeper.isVerified(node),
      addVerified: (node) => this.keeper.addVerified(node),
      onJoined: (node) => this.maintenance.noteJoined(node),
    }
    this.keeper = new TableKeeper(this.components)
    this.mailboxes = new MailboxClient(this.components)
    this.records = new RecordClient(this.components)
    this.maintenance = new Maintenance(this.components, this.mailboxes)
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

  /** Handles one datagram. Public for tests that bypass the socket. */
  onDatagram(bytes: Uint8Array, from: NodeAddress): void {
    if (this.destroyed) return
    this.stats.received++
    const decoded = tryDecodeMessage(bytes, this.addresses)
    if (!decoded.ok) {
      if (!decoded.refused) return this.drop(decoded.reason)
      // A sound request whose fields break a rule: answered, so its sender need not time out.
      if (this.limiter && !this.limiter.allow(from.host)) return this.drop('rate-limited')
      const refused = decoded.refused
      const started = this.metrics.onRequestHandled ? this.timers.now() : 0
      // Refusals are short, and clipped to the request's size while the sender is unproven.
      const limit = this.addressCheck.proven(refused, from) ? Infinity : bytes.byteLength
      return this.replyError(
        refused,
        from,
        this.proofs.idOf(refused.senderKey),
        started,
        limit,
        decoded.error,
      )
    }
    const msg = decoded.message
    if (!REQUEST_KINDS.has(msg.type)) {
      const dropped = this.rpc.receive(msg, from)
      if (dropped) this.drop(dropped)
      return
    }
    if (this.limiter && !this.limiter.allow(from.host)) return this.drop('rate-limited')
    // The amplification guard: an endpoint that has not proven it receives here gets no
    // more bytes than it sent (docs/PROTOCOL.md, "DHT amplification guard").
    this.onRequest(msg, from, this.addressCheck.proven(msg, from) ? Infinity : bytes.byteLength)
  }

  private drop(reason: DropReason): void {
    this.stats.dropped[reason]++
    this.metrics.onDrop?.(reason)
  }

  /** `limit`: the most bytes the answer may have (the request's size when unproven). */
  private onRequest(msg: DhtMessage, from: NodeAddress, limit: number): void {
    // Timed only for a metrics hook: a clock read per request is not free at 50k pings/s.
    // An owner's get spends its nonce when handled: an unproven one that may not fit is not
    // handled (it comes again, the same bytes, once the address check is answered).
    if (msg.type === 'mailbox-get' && limit < MAX_DATAGRAM_BYTES)
      return this.checkAddress(from, limit)
    const started = this.metrics.onRequestHandled ? this.timers.now() : 0
    const senderId = this.proofs.idOf(msg.senderKey)
    let out: MessageBody | Promise<MessageBody>
    try {
      out = dispatch(this.components, { msg, from, senderId } as InboundRequest)
    } catch (error) {
      return this.replyError(msg, from, senderId, started, limit, error)
    }
    // ping and find-node answer synchronously: no promise, no microtask on the hot path.
    if (!(out instanceof Promise)) return this.reply(msg, from, senderId, started, limit, out, 'ok')
    out
      .then(
        (body) => this.reply(msg, from, senderId, started, limit, body, 'ok'),
        (error: unknown) => this.replyError(msg, from, senderId, started, limit, error),
      )
      .catch((error: unknown) => this.logger?.warn({ err: error }, 'dht: reply failed'))
  }

  private replyError(
    msg: DhtMessage,
    from: NodeAddress,
    senderId: NodeId,
    started: number,
    limit: number,
    error: unknown,
  ): void {
    const code = wireErrorCode(error)
    const result = error instanceof PassageError ? error.code : 'internal'
    this.stats.errors++
    const message = error instanceof PassageError ? error.message : 'internal error'
    if (!(error instanceof PassageError)) this.logger?.warn({ err: error }, 'dht: handler failed')
    this.reply(msg, from, senderId, started, limit, { type: 'error', code, message }, result)
  }

  private reply(
    msg: DhtMessage,
    from: NodeAddress,
    senderId: NodeId,
    started: number,
    limit: number,
    body: MessageBody,
    result: string,
  ): void {
    if (this.destroyed) return
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
    let bytes: Uint8Array
    try {
      bytes = encodeMessage(response, this.addresses)
      // Unproven and larger than the request: cut it down, or answer with an address check.
      if (bytes.byteLength > limit) {
        if (!fitAnswer(response, bytes.byteLength, limit)) return this.checkAddress(from, limit)
        bytes = encodeMessage(response, this.addresses)
      }
    } catch (error) {
      this.logger?.warn({ err: error, type: response.type }, 'dht: cannot encode')
      return
    }
    this.stats.handled[msg.type] = (this.stats.handled[msg.type] ?? 0) + 1
    this.metrics.onRequestHandled?.(msg.type, result, this.timers.now() - started)
    this.socket.send(bytes, from.port, from.host).catch(() => {})
    // A requester that has not proven its address is not pinged to verify its key: that
    // ping would go to whoever the address belongs to.
    if (!msg.client && limit === Infinity) this.keeper.learn(senderId, from)
  }

  /**
   * An unproven request's answer did not fit: counted as dropped, and the requester gets a
   * bare ping (45 bytes, no larger than any request) at most every few seconds. Its pong
   * proves its address, so its resend is answered in full.
   */
  private checkAddress(from: NodeAddress, limit: number): void {
    this.drop('unproven')
    if (limit < PING_BYTES || this.addressChecks >= MAX_ADDRESS_CHECKS_IN_FLIGHT) return
    if (!this.addressCheck.checkDue(from)) return
    this.addressChecks++
    this.rpc
      .request(from, { type: 'ping' }, { bare: true, retries: 0 })
      .catch(() => {})
      .finally(() => this.addressChecks--)
  }

  // ---------------------------------------------------------------- outbound

  /**
   * Sends a request and waits for its response, resending after each timeout. Resolves with
   * the response (an `error` response rejects with the matching SDK error). `expectId`: the
   * responder's key must hash to it. `wantProof`: the responder must sign the txid.
   */
  request(to: NodeAddress, body: MessageBody, opts: RequestOptions = {}): Promise<DhtMessage> {
    return this.rpc.request(to, body, opts)
  }

  /** Pings an address; resolves with the responder's verified ID and its view of our address. */
  async ping(to: NodeAddress): Promise<{ id: NodeId; observed: NodeAddress; client: boolean }> {
    const pong = await this.rpc.request(to, { type: 'ping' }, { wantProof: true })
    if (pong.type !== 'pong') throw new RemoteError('expected a pong')
    const id = this.proofs.idOf(pong.senderKey)
    if (!pong.client) this.keeper.addVerified({ id, host: to.host, port: to.port })
    return { id, observed: pong.observed, client: pong.client }
  }

  /**
   * Joins the network: pings the given nodes (they must prove their keys), then looks up our
   * own ID to fill the table, tells the closest nodes found that we exist and refreshes the
   * empty far buckets ({@link join}). Returns the number of verified nodes in the table.
   */
  async bootstrap(peers: NodeAddress[]): Promise<number> {
    await Promise.allSettled(peers.map((p) => this.ping(p)))
    if (this.table.size === 0) return 0
    await join(this.components)
    return this.table.size
  }

  /**
   * Iterative Kademlia lookup with `alpha` requests in flight: returns the k nodes closest to
   * `target` that answered and proved their keys.
   */
  lookup(target: NodeId): Promise<LookupResult> {
    return lookup(this.components, target)
  }

  /**
   * Stores an envelope (opaque ciphertext, 1 byte to 64 KiB) in the mailbox of the holder of
   * `recipientKey`, on the k closest nodes to the mailbox key. Resolves with how many
   * replicas stored it; check `stored` (aim: at least 3). Several envelopes for one
   * recipient can share one lookup: pass `lookup` (a recent `lookup(mailboxKeyFor(key))`).
   */
  putEnvelope(
    recipientKey: Uint8Array,
    data: Uint8Array,
    opts: { ttlMs?: number; lookup?: LookupResult } = {},
  ): Promise<PutEnvelopeResult> {
    return this.mailboxes.putEnvelope(recipientKey, data, opts)
  }

  /**
   * Stores several envelopes, each as {@link DhtNode.putEnvelope} does, a replica of several
   * getting them in as few requests as they fit in (`mailbox-put-many`). One result per
   * envelope, in order; retry the ones with `stored` 0.
   */
  putEnvelopes(envelopes: EnvelopeToPut[]): Promise<PutEnvelopeResult[]> {
    return this.mailboxes.putEnvelopes(envelopes)
  }

  /**
   * Fetches every envelope in `owner`'s mailbox from its replicas (each request signed by
   * the owner for that replica). Envelopes whose bytes do not match their ID are skipped;
   * so are those `options.skip` names (already read: a group mailbox is never deleted).
   */
  fetchMailbox(owner: Identity, options?: FetchMailboxOptions): Promise<FetchedEnvelope[]> {
    return this.mailboxes.fetchMailbox(owner, options)
  }

  /** Reads chosen envelopes of `owner`'s mailbox, each checked, from any replica holding a good copy. */
  readEnvelopes(
    owner: Identity,
    ids: Bytes[],
    take: (id: Bytes, data: Bytes) => Promise<void>,
    signal?: AbortSignalLike,
  ): Promise<{ missing: Bytes[]; tampered: Bytes[] }> {
    return this.mailboxes.readEnvelopes(owner, ids, take, signal)
  }

  /**
   * Deletes envelopes from `owner`'s mailbox on every replica found (and here). Idempotent.
   * Resolves with how many replicas confirmed.
   */
  deleteEnvelopes(
    owner: Identity,
    ids: Uint8Array[],
  ): Promise<{ confirmed: number; replicas: number }> {
    return this.mailboxes.deleteEnvelopes(owner, ids)
  }

  /** Stores a signed record on the k closest nodes to its key. Resolves with how many stored it. */
  putRecord(record: SignedRecord): Promise<{ stored: number; errors: PassageError[] }> {
    return this.records.putRecord(record)
  }

  /** The newest valid record of `type` signed by `publicKey`, from the closest nodes. */
  getRecord(publicKey: Uint8Array, type: number): Promise<SignedRecord | undefined> {
    return this.records.getRecord(publicKey, type)
  }

  /**
   * Periodic work on the injected clock: expires envelopes, drops stale partial puts,
   * refreshes buckets no lookup touched for {@link BUCKET_REFRESH_MS}, and republishes
   * stored mailboxes every {@link REPUBLISH_INTERVAL_MS}. Call it every minute or so.
   */
  maintain(): Promise<MaintainResult> {
    return this.maintenance.maintain()
  }

  /**
   * Hands stored envelopes to nodes that entered the table since the last call and are now
   * among the k closest to a stored mailbox (a closer node joined). Returns envelopes sent.
   */
  handover(): Promise<number> {
    return this.maintenance.handover()
  }

  /**
   * Hands every stored envelope to the current k closest nodes of its mailbox (new nodes
   * that joined closer, or replacements for replicas that left). Returns envelopes sent.
   */
  republish(): Promise<number> {
    return this.maintenance.republish()
  }

  /** Stops answering, fails pending requests and closes the socket. */
  async destroy(): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    this.rpc.destroy()
    await this.socket.close()
  }
}
