import { sql, type Transaction } from 'kysely'
import { BootstrapClient } from '../bootstrap/bootstrap-client.js'
import { systemClock, type Clock } from '../runtime/clock.js'
import { DhtNode } from '../dht/dht-node.js'
import { envelopeIdOf, mailboxKeyFor, type NodeAddress } from '../dht/messages.js'
import {
  IdentityChangedError,
  ImpersonationError,
  MalformedError,
  NoIdentityError,
  NoSessionError,
  NotFoundError,
  PassageError,
  ReplayError,
  TamperedError,
  UnknownPreKeyError,
} from '../errors.js'
import { encodeContactUri, parseContactUri } from '../identity/contact-uri.js'
import { Identity } from '../identity/identity.js'
import { nodeIdFromPublicKey } from '../identity/node-id.js'
import { encodeTextId, isTextId, parseTextId } from '../identity/text-id.js'
import { bindUdpSocket } from '../../node/udp-socket.js'
import { connectTcp, listenTcp } from '../../node/tcp-socket.js'
import { bindMulticastSocket } from '../../node/multicast-socket.js'
import type { PeerAddress } from '../records/announce.js'
import {
  decodePreKeyBundle,
  encodePreKeyBundle,
  type PreKeyBundle,
} from '../signal/pre-key-bundle.js'
import { openSealedMessage, sealMessage, SignalMessageType } from '../signal/sealed-message.js'
import { PRIMARY_DEVICE_ID, signalAddressOfKey } from '../signal/signal-address.js'
import type { SignalCiphertext, SignalSession } from '../signal/signal-session.js'
import { libsignalKeys } from '../../node/libsignal/key-provider.js'
import { libsignalSessions } from '../../node/libsignal/session.js'
import type { ClientDatabase } from '../../node/sqlite/migrations.js'
import { SqliteClientStatements } from '../../node/sqlite/statements.js'
import { openClientStore, type SqliteClientStore } from '../../node/sqlite/sqlite-client-store.js'
import { SqliteSignalStorage, sqliteTransactionOf } from '../../node/sqlite/signal-storage.js'
import type { LinkAddress } from '../link/link.js'
import { LanDiscovery, type DiscoveredPeer } from '../discovery/lan-discovery.js'
import { LinkListener } from '../link/link-listener.js'
import { LinkManager } from '../link/link-manager.js'
import type { LinkPeer } from '../link/link-protocol.js'
import { systemTimers, type TimerHandle, type Timers } from '../runtime/timers.js'
import { equalBytes, fromHex, toBytes, toHex, type Bytes } from '../wire/bytes.js'
import {
  decodeChatPayload,
  encodeChatPayload,
  MAX_RECEIPT_IDS,
  MESSAGE_ID_BYTES,
  type ChatPayload,
} from './chat-payload.js'
import {
  decodeDirectFrame,
  directMessageId,
  encodeDirectFrame,
  type DirectFrame,
} from './direct-frame.js'
import { PreKeyDirectory } from './pre-key-directory.js'
import type {
  ChatContact,
  ChatMessage,
  ClientEvents,
  ClientOptions,
  ClientStatus,
  ContactBook,
  ContactId,
  Conversation,
  DeliveryState,
  HistoryOptions,
  LanPeer,
  MessageId,
  MessageRoute,
  PassageClient,
  RefusalReason,
  RefusedEvent,
  SendOptions,
  SignalOptions,
  SuperNodeStatus,
} from './types.js'

/** Default period of mailbox fetches and outbox retries while running. */
export const DEFAULT_FETCH_INTERVAL_MS = 30_000 // 30 s: a mailbox is a fallback, links carry live chat
/** How long a direct send waits for the recipient's "stored" answer before using the mailbox. */
export const DIRECT_ACK_TIMEOUT_MS = 5_000 // 5 s: a persisted SQLite write on a slow phone
/** First retry delay of an outbox entry that nothing took; doubles up to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 5_000
const MAX_RETRY_MS = 600_000 // 10 min
/** Processed envelope IDs are kept as long as an envelope can live in a mailbox. */
const PROCESSED_KEEP_MS = 31 * 24 * 3600_000 // 31 days > MAX_ENVELOPE_TTL_MS (30 days)
/** Bundles are republished this often (and after a first message used a one-time key). */
const REPUBLISH_BUNDLE_MS = 3_600_000 // 1 h, as the DHT's record republish
/** Announces to super-nodes are renewed this often. */
const ANNOUNCE_EVERY_MS = 240_000 // 4 min: inside the super-node's announce TTL
/** Known DHT nodes kept in the home. */
const MAX_KNOWN_DHT_NODES = 64
const DEFAULT_HISTORY_LIMIT = 50
/** Link peer IDs kept in memory (33-byte key → 20-byte ID); cleared when full. */
const MAX_CACHED_NODE_IDS = 4096 // a few hundred kB at most
const MAX_HISTORY_LIMIT = 1000
/** How stale a contact row's last_seen_at may get while direct messages keep arriving. */
const LAST_SEEN_WRITE_MS = 1_000 // 1 s: what a crash may lose of "last seen"; the running client is exact

/** An outbox entry a link or a mailbox took, waiting for its write (see `writeDelivered`). */
interface AckedEntry {
  entry: OutboxRow
  state: DeliveryState
  route: MessageRoute
  resolve: (changed: boolean) => void
  reject: (error: unknown) => void
}

const STATE_RANK: Record<DeliveryState, number> = {
  pending: 0,
  sent: 1,
  stored: 2,
  delivered: 3,
  read: 4,
}

/**
 * Fault injection for crash tests: each hook runs at its point and may throw, which aborts
 * the operation there as a crash would (what was committed stays committed).
 * @internal
 */
export interface ClientFaults {
  /** After the `index`-th fetched envelope was stored (its transaction committed). */
  afterEnvelopeStored?: (index: number) => void
  /** After the mailbox was fetched and its envelopes stored, before they are deleted from the DHT. */
  beforeMailboxDelete?: () => void
  /** An outgoing message is in the outbox as plaintext, before it is sealed. */
  beforeSeal?: () => void
  /** After an outgoing message was sealed and saved in the outbox, before any network I/O. */
  beforeDeliver?: () => void
  /** After a link or the DHT took a message, before it leaves the outbox. */
  afterDeliver?: () => void
  /** A direct message was stored, before its "stored" answer goes out; a throw loses the answer. */
  beforeDirectAck?: () => void
}

/** Extra collaborators; tests inject timers and faults. */
export interface ClientInternals {
  timers?: Timers
  faults?: ClientFaults
}

type Db = ClientDatabase
type ContactRow = Db['contacts']
type MessageRow = Db['messages']
type OutboxRow = Db['outbox']

type ProcessOutcome =
  | { status: 'stored'; message?: ChatMessage; deliveries: ClientEvents['delivery'][] }
  | { status: 'duplicate' }
  | { status: 'refused'; event: RefusedEvent }

/**
 * Opens the client in `options.home` and starts it (DHT, listener, super-nodes, mailbox
 * fetch). See {@link PassageClient}.
 *
 * @example
 * const client = await createClient({ home: './bot', createIdentity: true,
 *   servers: ['http://127.0.0.1:8080'] })
 * client.on('message', (m) => console.log(m.contactId, m.text))
 */
export async function createClient(
  options: ClientOptions,
  internals: ClientInternals = {},
): Promise<PassageClient> {
  const clock = options.clock ?? systemClock
  const store = await openClientStore(options.home, { clock })
  try {
    let stored = await store.loadIdentity()
    if (!stored) {
      if (!options.createIdentity) {
        throw new NoIdentityError(
          `${store.homeDir} has no identity yet; run \`passage init\` or pass createIdentity: true`,
        )
      }
      stored = await store.saveIdentity(Identity.generate(libsignalKeys), {
        ...(options.name !== undefined ? { name: options.name } : {}),
      })
    }
    for (const url of options.servers ?? []) await store.rememberServer(url)
    const servers = options.servers ?? (await store.rememberedServers())
    const client = new Client(
      store,
      stored.identity,
      stored.name,
      clock,
      options,
      internals,
      servers,
    )
    await client.open()
    return client
  } catch (error) {
    await store.close().catch(() => {})
    throw error
  }
}

class Client implements PassageClient {
  readonly textId: string
  readonly contactUri: string
  readonly home: string
  readonly contacts: ContactBook

  private session!: SignalSession
  private dht: DhtNode | undefined
  private ownDht = false
  private directory: PreKeyDirectory | undefined
  private listener: LinkListener | undefined
  private links: LinkManager | undefined
  private discovery: LanDiscovery | undefined
  private readonly superNodes: Array<{ client: BootstrapClient; status: SuperNodeStatus }>
  private readonly timers: Timers
  private readonly faults: ClientFaults
  private readonly handlers = new Map<keyof ClientEvents, Set<(payload: never) => void>>()
  private readonly awaitingAck = new Map<string, () => void>()
  private readonly awaitingBundle = new Map<string, (bundle: PreKeyBundle | undefined) => void>()
  private readonly delivering = new Set<string>()
  private readonly lan = new Map<string, LanPeer>()
  private fetchChain: Promise<unknown> = Promise.resolve()
  private flushChain: Promise<unknown> = Promise.resolve()
  private timer: TimerHandle | undefined
  private ticking: Promise<void> = Promise.resolve()
  private background: Promise<unknown> = Promise.resolve()
  private closed = false
  private lastFetchAt: number | undefined
  private lastPublishAt = 0
  private lastAnnounceAt = 0
  private bundleStale = true
  private outboxCount = 0
  /** Text IDs of the contacts, kept in step with the table for synchronous lookups. */
  private readonly knownContacts = new Set<string>()
  /**
   * When a direct message last came from a sender (`at`), and the last_seen_at its contact
   * row holds (`storedAt`, committed), by contact ID.
   */
  private readonly lastSeen = new Map<string, { at: number; storedAt: number }>()
  /** Identity keys of the contacts by text ID, in step with the table: `send` reads no row. */
  private readonly contactKeys = new Map<string, Bytes>()
  /** The latest `sent_at` of an outgoing message (the next one is later), kept in memory. */
  private lastSentAt = 0
  /** Hot-path writes as prepared statements; only inside {@link write} or a `persist` hook. */
  private readonly sql: SqliteClientStatements

  constructor(
    private readonly store: SqliteClientStore,
    readonly identity: Identity,
    private readonly name: string | undefined,
    private readonly clock: Clock,
    private readonly options: ClientOptions,
    internals: ClientInternals,
    servers: string[],
  ) {
    this.textId = identity.textId
    this.home = store.homeDir
    this.contactUri = encodeContactUri({
      publicKey: identity.publicKey,
      ...(name !== undefined ? { name } : {}),
    })
    this.timers = internals.timers ?? systemTimers
    this.faults = internals.faults ?? {}
    if (!store.sqlite)
      throw new PassageError('PASSAGE_ERR_STORE', 'the client store has no SQLite handle')
    this.sql = new SqliteClientStatements(store.sqlite)
    this.superNodes = servers.map((url) => ({
      client: new BootstrapClient({ url, identity, clock }),
      status: { url, reachable: false },
    }))
    this.contacts = {
      add: (idOrUri, opts) => this.addContact(idOrUri, opts),
      list: () => this.listContacts(),
      get: (idOrName) => this.getContact(idOrName),
      rename: (id, name) => this.renameContact(id, name),
      remove: (id) => this.removeContact(id),
      clearFlag: async (id) => {
        await this.db.updateTable('contacts').set({ flagged: null }).where('id', '=', id).execute()
      },
    }
  }

  private get db() {
    return this.store.db
  }

  /**
   * Runs a write in the Signal storage's transactions, which commit in groups: with many
   * messages in flight one fsync serves many. Resolves once durable.
   */
  private write<T>(fn: (trx: Transaction<ClientDatabase>) => Promise<T>): Promise<T> {
    return this.session.storage.transaction((tx) => fn(sqliteTransactionOf(tx)))
  }

  /** Link peer IDs by identity key (hex), computed once: `send` hashes nothing per message. */
  private readonly nodeIds = new Map<string, Bytes>()

  private nodeIdOf(publicKey: Bytes): Bytes {
    const key = toHex(publicKey)
    let id = this.nodeIds.get(key)
    if (!id) {
      if (this.nodeIds.size >= MAX_CACHED_NODE_IDS) this.nodeIds.clear()
      id = nodeIdFromPublicKey(publicKey)
      this.nodeIds.set(key, id)
    }
    return id
  }

  private rememberContact(id: string, publicKey: Bytes): void {
    this.knownContacts.add(id)
    if (!this.contactKeys.has(id)) this.contactKeys.set(id, publicKey)
  }

  /** A contact's identity key, from memory (else the table); `undefined` for a stranger. */
  private async contactKey(id: string): Promise<Bytes | undefined> {
    const known = this.contactKeys.get(id)
    if (known) return known
    const row = await this.contactRow(id)
    if (!row) return undefined
    const publicKey = toBytes(new Uint8Array(row.public_key))
    this.rememberContact(row.id, publicKey)
    return publicKey
  }

  // ------------------------------------------------------------------ bundles

  /** A contact's pre-key bundle: over a direct link when one is at hand, else from the DHT. */
  private async fetchBundle(textId: string): Promise<PreKeyBundle | undefined> {
    const contact = await this.contactRow(textId)
    if (!contact) return undefined
    const publicKey = toBytes(new Uint8Array(contact.public_key))
    const peerId = nodeIdFromPublicKey(publicKey)
    if (this.links && (this.lan.has(textId) || this.links.link(peerId))) {
      const bundle = await this.requestBundle(peerId).catch(() => undefined)
      if (bundle) return bundle
    }
    if (!this.directory || !this.dht || this.dht.table.size === 0) return undefined
    try {
      return await this.directory.fetch(publicKey)
    } catch (error) {
      if (error instanceof NotFoundError) return undefined
      throw error
    }
  }

  private async requestBundle(peerId: Bytes): Promise<PreKeyBundle | undefined> {
    const links = this.links
    if (!links) return undefined
    const key = toHex(peerId)
    let timer: TimerHandle | undefined
    const answer = new Promise<PreKeyBundle | undefined>((resolve) => {
      this.awaitingBundle.set(key, resolve)
      timer = this.timers.setTimeout(() => resolve(undefined), DIRECT_ACK_TIMEOUT_MS)
    })
    try {
      await links.send(peerId, encodeDirectFrame({ type: 'bundle-request' }))
      return await answer
    } finally {
      this.awaitingBundle.delete(key)
      if (timer !== undefined) this.timers.clearTimeout(timer)
    }
  }

  // ------------------------------------------------------------------ lifecycle

  async open(): Promise<void> {
    this.session = await libsignalSessions.open({
      identity: this.identity,
      storage: new SqliteSignalStorage(this.db, {
        ...(this.store.sqlite ? { sqlite: this.store.sqlite } : {}),
      }),
      clock: this.clock,
      fetchBundle: (address) => this.fetchBundle(address.name),
    })
    if ((await this.session.countOneTimePreKeys()) === 0) {
      await this.session.generatePreKeys()
    }
    await this.countOutbox()
    for (const row of await this.db.selectFrom('contacts').select(['id', 'public_key']).execute()) {
      this.rememberContact(row.id, toBytes(new Uint8Array(row.public_key)))
    }
    const last = await this.db
      .selectFrom('messages')
      .select((eb) => eb.fn.max('sent_at').as('t'))
      .where('direction', '=', 'out')
      .executeTakeFirst()
    this.lastSentAt = Number(last?.t ?? 0)
    if (this.options.network === false) return
    await this.startNetwork()
    // Be findable before resolving: join, announce, publish the bundle (failures are events).
    await this.runGuarded('joining the DHT', () => this.joinDht())
    await this.runGuarded('announcing', () => this.announce())
    await this.runGuarded('publishing the pre-key bundle', () => this.publishBundle())
    if (this.options.background !== false) this.schedule(0)
  }

  private async startNetwork(): Promise<void> {
    if (this.options.dht) {
      this.dht = this.options.dht
    } else {
      const bind = this.options.dhtBind ?? {}
      this.dht = new DhtNode({
        // A throwaway node identity: the DHT node is not linkable to the account.
        identity: Identity.generate(libsignalKeys),
        socket: await bindUdpSocket(bind.host ?? '127.0.0.1', bind.port ?? 0),
        clock: this.clock,
        client: true,
      })
      this.ownDht = true
    }
    this.directory = new PreKeyDirectory(this.dht)
    if (this.options.listen !== false) {
      const listen = this.options.listen ?? {}
      this.listener = await LinkListener.listen({
        identity: this.identity,
        host: listen.host ?? '127.0.0.1',
        port: listen.port ?? 0,
        timers: this.timers,
        listen: listenTcp,
      })
      this.listener.on('link', (link) => this.links?.adopt(link))
    }
    this.links = new LinkManager({
      identity: this.identity,
      resolve: (peerId) => this.resolveLinkAddresses(peerId),
      connect: connectTcp,
      clock: this.clock,
      timers: this.timers,
    })
    if (this.listener && this.options.lan !== false) {
      const lan =
        this.options.lan === true || this.options.lan === undefined ? {} : this.options.lan
      const discovery = new LanDiscovery({
        identity: this.identity,
        tcpPort: this.listener.address().port,
        bind: bindMulticastSocket,
        clock: this.clock,
        timers: this.timers,
        ...(lan.group !== undefined ? { group: lan.group } : {}),
        ...(lan.port !== undefined ? { port: lan.port } : {}),
        ...(lan.interface !== undefined ? { interface: lan.interface } : {}),
        ...(lan.intervalMs !== undefined ? { intervalMs: lan.intervalMs } : {}),
      })
      discovery.on('peer', (peer) => this.onLanPeer(peer))
      discovery.on('lost', (peer) => {
        this.lan.delete(peer.textId)
        this.emitStatus()
      })
      try {
        await discovery.start()
        this.discovery = discovery
      } catch (error) {
        // No multicast here (or the port is taken): the internet and mailboxes still work.
        this.emitError(error, 'starting LAN discovery')
      }
    }
    this.links.on('frame', (payload, peer) => void this.onDirectFrame(payload, peer))
    this.links.on('link', () => this.emitStatus())
    this.links.on('down', () => this.emitStatus())
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    for (const resolve of this.awaitingAck.values()) resolve()
    for (const resolve of this.awaitingBundle.values()) resolve(undefined)
    await this.discovery?.stop().catch(() => {})
    this.links?.close()
    await this.listener?.close().catch(() => {})
    await Promise.allSettled([this.ticking, this.fetchChain, this.flushChain, this.background])
    if (this.ownDht) await this.dht?.destroy().catch(() => {})
    await this.store.close()
    for (const handlers of this.handlers.values()) handlers.clear()
    this.iteratorEnders.forEach((end) => end())
  }

  private schedule(delayMs: number): void {
    if (this.closed) return
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined
      this.ticking = this.tick().finally(() =>
        this.schedule(this.options.fetchIntervalMs ?? DEFAULT_FETCH_INTERVAL_MS),
      )
    }, delayMs)
  }

  /** Periodic work: join the DHT, announce, publish the bundle, fetch, flush. Never throws. */
  private async tick(): Promise<void> {
    await this.runGuarded('joining the DHT', () => this.joinDht())
    await this.runGuarded('announcing', () => this.announce())
    await this.runGuarded('publishing the pre-key bundle', () => this.publishBundle())
    await this.runGuarded('fetching the mailbox', () => this.fetchInbox())
    await this.runGuarded('sending the outbox', () => this.flushOutbox())
    await this.runGuarded('housekeeping', () => this.housekeeping())
  }

  private async runGuarded(what: string, fn: () => Promise<unknown>): Promise<void> {
    if (this.closed) return
    try {
      await fn()
    } catch (error) {
      if (!this.closed) this.emitError(error, what)
    }
  }

  private async joinDht(): Promise<void> {
    const dht = this.dht
    if (!dht || dht.table.size > 0) return
    const peers = new Map<string, NodeAddress>()
    for (const a of this.options.dhtBootstrap ?? []) peers.set(`${a.host}:${a.port}`, a)
    for (const s of this.superNodes) {
      try {
        const info = await s.client.info()
        if (info.dht) peers.set(`${info.dht.host}:${info.dht.port}`, info.dht)
        s.status = { ...s.status, reachable: true }
      } catch (error) {
        s.status = { url: s.status.url, reachable: false, error: String(error) }
      }
    }
    const known = await this.db
      .selectFrom('dht_nodes')
      .select(['host', 'port'])
      .orderBy('last_seen_at', 'desc')
      .limit(MAX_KNOWN_DHT_NODES)
      .execute()
    for (const a of known) peers.set(`${a.host}:${a.port}`, a)
    if (peers.size === 0) return
    await dht.bootstrap([...peers.values()])
    await this.rememberDhtNodes()
    this.emitStatus()
  }

  private async rememberDhtNodes(): Promise<void> {
    const dht = this.dht
    if (!dht) return
    const now = this.clock.now()
    const nodes = dht.contacts().slice(0, MAX_KNOWN_DHT_NODES)
    if (nodes.length === 0) return
    await this.db.transaction().execute(async (trx) => {
      for (const n of nodes) {
        const address = `${n.host}:${n.port}`
        await trx
          .insertInto('dht_nodes')
          .values({ address, host: n.host, port: n.port, last_seen_at: now })
          .onConflict((c) => c.column('address').doUpdateSet({ last_seen_at: now }))
          .execute()
      }
    })
  }

  private async announce(): Promise<void> {
    if (this.superNodes.length === 0) return
    const now = this.clock.now()
    if (now - this.lastAnnounceAt < ANNOUNCE_EVERY_MS && this.lastAnnounceAt !== 0) return
    const addresses: PeerAddress[] = []
    const tcp = this.listener?.address()
    if (tcp) addresses.push({ transport: 'tcp', host: tcp.host, port: tcp.port })
    await Promise.all(
      this.superNodes.map(async (s) => {
        try {
          await s.client.announce({ addresses })
          s.status = { url: s.status.url, reachable: true, lastAnnounceAt: this.clock.now() }
        } catch (error) {
          s.status = { ...s.status, reachable: false, error: String(error) }
        }
      }),
    )
    this.lastAnnounceAt = now
    this.emitStatus()
  }

  private async publishBundle(): Promise<void> {
    const directory = this.directory
    if (!directory || !this.dht || this.dht.table.size === 0) return
    const now = this.clock.now()
    if (!this.bundleStale && now - this.lastPublishAt < REPUBLISH_BUNDLE_MS) return
    const stored = await directory.publish(this.session)
    if (stored > 0) {
      this.bundleStale = false
      this.lastPublishAt = now
    }
  }

  private async housekeeping(): Promise<void> {
    await this.db
      .deleteFrom('processed_envelopes')
      .where('processed_at', '<', this.clock.now() - PROCESSED_KEEP_MS)
      .execute()
    await this.session.purgeUsedPreKeys()
  }

  // ------------------------------------------------------------------ events

  on<E extends keyof ClientEvents>(
    event: E,
    handler: (payload: ClientEvents[E]) => void,
  ): () => void {
    let set = this.handlers.get(event)
    if (!set) {
      set = new Set()
      this.handlers.set(event, set)
    }
    set.add(handler as (payload: never) => void)
    return () => this.off(event, handler)
  }

  off<E extends keyof ClientEvents>(event: E, handler: (payload: ClientEvents[E]) => void): void {
    this.handlers.get(event)?.delete(handler as (payload: never) => void)
  }

  private emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]): void {
    for (const handler of [...(this.handlers.get(event) ?? [])]) {
      try {
        ;(handler as (p: ClientEvents[E]) => void)(payload)
      } catch (error) {
        if (event !== 'error') this.emitError(error, `a ${event} handler`)
      }
    }
  }

  private emitError(error: unknown, what: string): void {
    const wrapped =
      error instanceof PassageError
        ? error
        : new PassageError(
            'PASSAGE_ERR_CLIENT',
            `${what} failed: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          )
    this.emit('error', wrapped)
  }

  private emitStatus(): void {
    // status() builds a fresh snapshot: twice per message adds up when nobody listens.
    if (!this.closed && (this.handlers.get('status')?.size ?? 0) > 0) {
      this.emit('status', this.status())
    }
  }

  private readonly iteratorEnders = new Set<() => void>()

  messages(options: SignalOptions = {}): AsyncIterableIterator<ChatMessage> {
    const buffer: ChatMessage[] = []
    let wake: (() => void) | undefined
    let done = this.closed || options.signal?.aborted === true
    const end = () => {
      done = true
      wake?.()
    }
    const unsubscribe = this.on('message', (m) => {
      buffer.push(m)
      wake?.()
    })
    this.iteratorEnders.add(end)
    options.signal?.addEventListener('abort', end, { once: true })
    const cleanup = () => {
      unsubscribe()
      this.iteratorEnders.delete(end)
      options.signal?.removeEventListener('abort', end)
    }
    const iterator: AsyncIterableIterator<ChatMessage> = {
      next: async () => {
        for (;;) {
          const message = buffer.shift()
          if (message) return { value: message, done: false }
          if (done) {
            cleanup()
            return { value: undefined, done: true }
          }
          await new Promise<void>((resolve) => (wake = resolve))
          wake = undefined
        }
      },
      return: () => {
        end()
        cleanup()
        return Promise.resolve({ value: undefined, done: true })
      },
      [Symbol.asyncIterator]() {
        return iterator
      },
    }
    return iterator
  }

  // ------------------------------------------------------------------ status

  status(): ClientStatus {
    const tcp = this.listener?.address()
    return {
      online: (this.dht?.table.size ?? 0) > 0 || (this.links?.openLinks().length ?? 0) > 0,
      lanPeers: this.lan.size,
      superNodes: this.superNodes.map((s) => ({ ...s.status })),
      dhtNodes: this.dht?.table.size ?? 0,
      directLinks: this.links?.openLinks().length ?? 0,
      outbox: this.outboxCount,
      ...(this.lastFetchAt !== undefined ? { lastFetchAt: this.lastFetchAt } : {}),
      ...(tcp ? { listening: { host: tcp.host, port: tcp.port } } : {}),
    }
  }

  lanPeers(): LanPeer[] {
    return [...this.lan.values()].map((p) => ({
      ...p,
      addresses: [...p.addresses],
      ...(this.knownContacts.has(p.textId) ? { contactId: p.textId } : {}),
    }))
  }

  private async countOutbox(): Promise<void> {
    const row = await this.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst()
    this.outboxCount = Number(row?.n ?? 0)
  }

  // ------------------------------------------------------------------ contacts

  private async addContact(
    idOrUri: string,
    options: { name?: string } & SignalOptions = {},
  ): Promise<ChatContact> {
    const input = idOrUri.trim()
    let publicKey: Bytes
    let name = options.name
    if (input.toLowerCase().startsWith('passage:')) {
      const card = parseContactUri(input)
      publicKey = card.publicKey
      name ??= card.name
    } else {
      const id = parseTextId(input)
      const known = await this.contactRow(input)
      if (known) {
        publicKey = toBytes(new Uint8Array(known.public_key))
      } else {
        const found = await this.lookupPublicKey(input, options.signal)
        if (!found || !equalBytes(nodeIdFromPublicKey(found), id)) {
          throw new NotFoundError(
            `the key of ${input} could not be found (it is not online on the super-nodes); add it with its passage: URI instead`,
          )
        }
        publicKey = found
      }
    }
    if (equalBytes(publicKey, this.identity.publicKey)) {
      throw new MalformedError('that is this client’s own ID')
    }
    const textId = signalAddressOfKey(publicKey).name
    const now = this.clock.now()
    await this.db
      .insertInto('contacts')
      .values({
        id: textId,
        public_key: Buffer.from(publicKey),
        name: name ?? null,
        added_at: now,
        last_seen_at: null,
        flagged: null,
      })
      .onConflict((c) => c.column('id').doUpdateSet(name !== undefined ? { name } : { id: textId }))
      .execute()
    this.rememberContact(textId, publicKey)
    return (await this.contactById(textId))!
  }

  private async lookupPublicKey(
    textId: string,
    signal: AbortSignal | undefined,
  ): Promise<Bytes | undefined> {
    const lan = [...this.lan.values()].find((p) => p.textId === textId)
    if (lan) return lan.publicKey
    for (const s of this.superNodes) {
      try {
        const peer = await s.client.resolve(textId, signal ? { signal } : {})
        if (peer) return peer.announce.publicKey
      } catch {
        // try the next super-node
      }
    }
    return undefined
  }

  private contactRow(textId: string): Promise<ContactRow | undefined> {
    return this.db.selectFrom('contacts').selectAll().where('id', '=', textId).executeTakeFirst()
  }

  private async unreadCounts(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('messages')
      .select(['contact_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('direction', '=', 'in')
      .where('read', '=', 0)
      .groupBy('contact_id')
      .execute()
    return new Map(rows.map((r) => [r.contact_id, Number(r.n)]))
  }

  private toContact(row: ContactRow, unread: number): ChatContact {
    const seen = this.lastSeen.get(row.id)?.at
    const lastSeenAt =
      row.last_seen_at === null
        ? seen
        : seen === undefined
          ? row.last_seen_at
          : Math.max(seen, row.last_seen_at)
    const publicKey = toBytes(new Uint8Array(row.public_key))
    const online =
      this.lan.has(row.id) ||
      (this.links?.link(nodeIdFromPublicKey(publicKey)) ?? undefined) !== undefined
    return {
      id: row.id,
      textId: row.id,
      publicKey,
      ...(row.name !== null ? { name: row.name } : {}),
      addedAt: row.added_at,
      ...(lastSeenAt !== undefined ? { lastSeenAt } : {}),
      online,
      unread,
      ...(row.flagged !== null ? { flagged: row.flagged as RefusalReason } : {}),
    }
  }

  private async contactById(id: string): Promise<ChatContact | undefined> {
    const row = await this.contactRow(id)
    if (!row) return undefined
    return this.toContact(row, (await this.unreadCounts()).get(id) ?? 0)
  }

  private async listContacts(): Promise<ChatContact[]> {
    const rows = await this.db.selectFrom('contacts').selectAll().execute()
    const unread = await this.unreadCounts()
    return rows
      .map((r) => this.toContact(r, unread.get(r.id) ?? 0))
      .sort(
        (a, b) =>
          (a.name ?? '\uffff').localeCompare(b.name ?? '\uffff') || a.id.localeCompare(b.id),
      )
  }

  private async getContact(idOrName: string): Promise<ChatContact | undefined> {
    const input = idOrName.trim()
    if (isTextId(input)) return this.contactById(input)
    const rows = await this.db
      .selectFrom('contacts')
      .select('id')
      .where('name', '=', input)
      .execute()
    return rows.length === 1 ? this.contactById(rows[0]!.id) : undefined
  }

  private async requireContact(id: ContactId): Promise<ContactRow> {
    const row = await this.contactRow(id)
    if (!row) throw new NotFoundError(`${id} is not a contact; add it first`)
    return row
  }

  private async renameContact(id: ContactId, name: string): Promise<ChatContact> {
    await this.requireContact(id)
    await this.db.updateTable('contacts').set({ name }).where('id', '=', id).execute()
    return (await this.contactById(id))!
  }

  private async removeContact(id: ContactId): Promise<void> {
    await this.db.deleteFrom('contacts').where('id', '=', id).execute()
    this.knownContacts.delete(id)
    this.contactKeys.delete(id)
    this.lastSeen.delete(id)
  }

  // ------------------------------------------------------------------ history

  async conversations(): Promise<Conversation[]> {
    const contacts = await this.listContacts()
    const out: Conversation[] = []
    for (const contact of contacts) {
      const last = await this.db
        .selectFrom('messages')
        .selectAll()
        .where('contact_id', '=', contact.id)
        .orderBy('sent_at', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst()
      const lastMessage = last ? toMessage(last) : undefined
      out.push({
        contact,
        ...(lastMessage ? { lastMessage } : {}),
        unread: contact.unread,
        updatedAt: lastMessage
          ? Math.max(lastMessage.sentAt, lastMessage.receivedAt)
          : contact.addedAt,
      })
    }
    return out.sort((a, b) => b.updatedAt - a.updatedAt)
  }

  async history(contactId: ContactId, options: HistoryOptions = {}): Promise<ChatMessage[]> {
    const limit = Math.min(Math.max(options.limit ?? DEFAULT_HISTORY_LIMIT, 1), MAX_HISTORY_LIMIT)
    let query = this.db.selectFrom('messages').selectAll().where('contact_id', '=', contactId)
    if (options.before !== undefined) {
      const pivot = await this.db
        .selectFrom('messages')
        .select(['sent_at', 'id'])
        .where('id', '=', options.before)
        .executeTakeFirst()
      if (!pivot) throw new NotFoundError(`no message ${options.before}`)
      query = query.where((eb) =>
        eb.or([
          eb('sent_at', '<', pivot.sent_at),
          eb.and([eb('sent_at', '=', pivot.sent_at), eb('id', '<', pivot.id)]),
        ]),
      )
    }
    const rows = await query.orderBy('sent_at', 'desc').orderBy('id', 'desc').limit(limit).execute()
    return rows.reverse().map(toMessage)
  }

  // ------------------------------------------------------------------ send

  async send(contactId: ContactId, text: string, options: SendOptions = {}): Promise<ChatMessage> {
    options.signal?.throwIfAborted()
    if (!(await this.contactKey(contactId))) {
      throw new NotFoundError(`${contactId} is not a contact; add it first`)
    }
    const id = newMessageId()
    const idHex = toHex(id)
    const now = this.clock.now()
    // Strictly increasing send times order messages even when the clock stands still (and
    // when sends overlap: the last one is taken here, synchronously).
    const sentAt = Math.max(now, this.lastSentAt + 1)
    this.lastSentAt = sentAt
    const plaintext = encodeChatPayload({ kind: 'text', id, sentAt, text })
    const row: MessageRow = {
      id: idHex,
      contact_id: contactId,
      direction: 'out',
      body: text,
      sent_at: sentAt,
      received_at: now,
      state: 'pending',
      read: 0,
      route: null,
      notified: 1,
    }
    const entry: OutboxRow = {
      id: idHex,
      contact_id: contactId,
      plaintext: Buffer.from(plaintext),
      sealed: null,
      signal: null,
      message_id: idHex,
      created_at: now,
      attempts: 0,
      next_attempt_at: now,
    }
    if (this.options.network !== false && options.wait !== false) {
      // Accepted with the ratchet step: the message, its outbox entry and its Signal message
      // commit in the encryption's transaction. Until then send() has not resolved and
      // nothing is stored: a crash before it loses a message nobody was told was accepted.
      if (await this.encryptNew(row, entry, plaintext)) {
        this.outboxCount++
        this.emitStatus()
        await this.deliver(entry, options.signal, row)
      }
      return toMessage(row)
    }
    await this.write(async () => {
      this.sql.insertMessage(row)
      this.sql.insertOutbox(entry)
    })
    this.outboxCount++
    this.emitStatus()
    if (this.options.network !== false) {
      void this.flushOutbox().catch((error: unknown) => this.emitError(error, 'sending'))
    }
    return toMessage(row)
  }

  /**
   * Signal-encrypts a new message and stores it, its outbox entry and the Signal message in
   * the transaction of the ratchet step. True when it did; false when there is no usable
   * session (no bundle, or a changed identity key): then the message waits in the outbox as
   * plaintext, as a message sent offline would.
   */
  private async encryptNew(row: MessageRow, entry: OutboxRow, plaintext: Bytes): Promise<boolean> {
    this.faults.beforeSeal?.()
    try {
      await this.session.encrypt(
        { name: entry.contact_id, deviceId: PRIMARY_DEVICE_ID },
        plaintext,
        {
          persist: async (m) => {
            entry.signal = encodeOutboxSignal(m)
            this.sql.insertMessage(row)
            this.sql.insertOutbox(entry)
          },
        },
      )
      return true
    } catch (error) {
      if (!(error instanceof NoSessionError || error instanceof IdentityChangedError)) throw error
      entry.signal = null
      await this.write(async () => {
        this.sql.insertMessage(row)
        this.sql.insertOutbox(entry)
      })
      this.outboxCount++
      this.emitStatus()
      await this.retryLater(entry)
      if (error instanceof IdentityChangedError)
        await this.flag(entry.contact_id, 'identity-changed')
      return false
    }
  }

  async flushOutbox(options: SignalOptions = {}): Promise<number> {
    if (this.options.network === false || this.closed) return 0
    const run = async () => {
      const due = await this.db
        .selectFrom('outbox')
        .selectAll()
        .where('next_attempt_at', '<=', this.clock.now())
        .orderBy('created_at')
        .orderBy('id')
        .execute()
      let sent = 0
      for (const entry of due) {
        if (this.closed) break
        options.signal?.throwIfAborted()
        try {
          if (await this.deliver(entry, options.signal)) sent++
        } catch (error) {
          if (options.signal?.aborted) throw error
          // One entry failing (a crash hook, a store error) does not hold up the others.
          this.emitError(error, 'sending a message')
          await this.retryLater(entry).catch(() => {})
        }
      }
      return sent
    }
    const result = this.flushChain.then(run, run)
    this.flushChain = result.catch(() => undefined)
    return result
  }

  /**
   * One delivery attempt of an outbox entry: Signal-encrypt (once; the message is saved with
   * the ratchet step), then a direct link (the message as is), then the mailbox (sealed
   * once, saved, then put). True when something took it. `row`, the message when the caller
   * holds it, follows its state.
   */
  private async deliver(
    entry: OutboxRow,
    signal: AbortSignal | undefined,
    row?: MessageRow,
  ): Promise<boolean> {
    if (this.delivering.has(entry.id) || this.closed) return false
    this.delivering.add(entry.id)
    try {
      const publicKey = await this.contactKey(entry.contact_id)
      if (!publicKey) {
        await this.dropOutbox(entry.id)
        return false
      }
      let sealed = entry.sealed ? toBytes(new Uint8Array(entry.sealed)) : undefined
      let message = entry.signal ? decodeOutboxSignal(entry.signal) : undefined
      if (!sealed && !message) {
        this.faults.beforeSeal?.()
        try {
          message = await this.session.encrypt(
            // A contact's ID is its key's text ID: no hashing per message.
            { name: entry.contact_id, deviceId: PRIMARY_DEVICE_ID },
            toBytes(new Uint8Array(entry.plaintext)),
            {
              persist: async (m) => {
                this.sql.setOutboxSignal(entry.id, encodeOutboxSignal(m))
              },
            },
          )
        } catch (error) {
          if (error instanceof NoSessionError || error instanceof IdentityChangedError) {
            await this.retryLater(entry)
            if (error instanceof IdentityChangedError)
              await this.flag(entry.contact_id, 'identity-changed')
            return false
          }
          throw error
        }
      }
      this.faults.beforeDeliver?.()
      // A message sealed by an earlier version goes as it is; else the Signal message, unsealed.
      const direct: [DirectFrame, Bytes] = message
        ? [
            {
              type: 'signal',
              deviceId: this.session.address.deviceId,
              messageType: message.type,
              message: message.body,
            },
            directMessageId(message.body),
          ]
        : [{ type: 'sealed', sealed: sealed! }, envelopeIdOf(mailboxKeyFor(publicKey), sealed!)]
      if (await this.sendDirect(publicKey, encodeDirectFrame(direct[0]), direct[1], signal)) {
        this.faults.afterDeliver?.()
        await this.delivered(entry, 'delivered', 'direct', row)
        return true
      }
      if (this.dht && this.dht.table.size > 0) {
        signal?.throwIfAborted()
        if (!sealed) {
          // Sealed once and saved before the first put: every attempt puts the same envelope.
          const bytes = sealMessage(
            publicKey,
            {
              senderPublicKey: this.identity.publicKey,
              senderDeviceId: this.session.address.deviceId,
              type: message!.type,
              ciphertext: message!.body,
            },
            this.identity.keys,
          )
          await this.write((trx) =>
            trx
              .updateTable('outbox')
              .set({ sealed: Buffer.from(bytes) })
              .where('id', '=', entry.id)
              .execute(),
          )
          entry.sealed = Buffer.from(bytes)
          sealed = bytes
        }
        const result = await this.dht.putEnvelope(publicKey, sealed)
        if (result.stored > 0) {
          this.faults.afterDeliver?.()
          await this.delivered(entry, 'stored', 'mailbox', row)
          return true
        }
      }
      await this.retryLater(entry)
      return false
    } finally {
      this.delivering.delete(entry.id)
    }
  }

  /** Sends a frame over a direct link and waits for the "stored" answer naming `ackId`; false when it cannot. */
  private async sendDirect(
    publicKey: Bytes,
    frame: Bytes,
    ackId: Bytes,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const links = this.links
    if (!links) return false
    const key = toHex(ackId)
    let timer: TimerHandle | undefined
    const acked = new Promise<boolean>((resolve) => {
      this.awaitingAck.set(key, () => resolve(true))
      timer = this.timers.setTimeout(() => resolve(false), DIRECT_ACK_TIMEOUT_MS)
      signal?.addEventListener('abort', () => resolve(false), { once: true })
    })
    try {
      await links.send(this.nodeIdOf(publicKey), frame, signal)
      return await acked
    } catch (error) {
      // Unreachable, closed, timed out, refused: the mailbox takes it.
      if (error instanceof PassageError) return false
      throw error
    } finally {
      this.awaitingAck.delete(key)
      if (timer !== undefined) this.timers.clearTimeout(timer)
    }
  }

  private async delivered(
    entry: OutboxRow,
    state: DeliveryState,
    route: MessageRoute,
    row?: MessageRow,
  ) {
    const changed = await this.writeDelivered(entry, state, route)
    this.outboxCount = Math.max(0, this.outboxCount - 1)
    if (entry.message_id && changed) {
      if (row && STATE_RANK[state] > STATE_RANK[row.state as DeliveryState]) {
        row.state = state
        row.route ??= route
      }
      this.emit('delivery', {
        messageId: entry.message_id,
        contactId: entry.contact_id,
        state,
        route,
      })
    }
    this.emitStatus()
  }

  /**
   * Acknowledged outbox entries waiting for their write. The answers to many messages in
   * flight arrive together; one item of the group commit writes them all (delete from the
   * outbox, move the state), and each caller resolves after that COMMIT, as before.
   */
  private acked: AckedEntry[] | undefined

  /** Removes a taken entry from the outbox and moves its message's state; true if it moved. */
  private writeDelivered(entry: OutboxRow, state: DeliveryState, route: MessageRoute) {
    return new Promise<boolean>((resolve, reject) => {
      let batch = this.acked
      if (!batch) {
        const taken: AckedEntry[] = []
        this.acked = batch = taken
        this.write(async () => {
          // Acks that come after this point start the next batch.
          if (this.acked === taken) this.acked = undefined
          return taken.map(({ entry, state, route }) => {
            this.sql.deleteOutbox(entry.id)
            return entry.message_id ? this.sql.advanceState(entry.message_id, state, route) : false
          })
        }).then(
          (changed) => taken.forEach((a, i) => a.resolve(changed[i]!)),
          (error: unknown) => taken.forEach((a) => a.reject(error)),
        )
      }
      batch.push({ entry, state, route, resolve, reject })
    })
  }

  private async retryLater(entry: OutboxRow): Promise<void> {
    const delay = Math.min(FIRST_RETRY_MS * 2 ** Math.min(entry.attempts, 20), MAX_RETRY_MS)
    await this.db
      .updateTable('outbox')
      .set({ attempts: entry.attempts + 1, next_attempt_at: this.clock.now() + delay })
      .where('id', '=', entry.id)
      .execute()
  }

  private async dropOutbox(id: string): Promise<void> {
    await this.db.deleteFrom('outbox').where('id', '=', id).execute()
    this.outboxCount = Math.max(0, this.outboxCount - 1)
  }

  // ------------------------------------------------------------------ read marks

  async markRead(contactId: ContactId, messageIds?: MessageId[]): Promise<number> {
    const ids = await this.db.transaction().execute(async (trx) => {
      let query = trx
        .selectFrom('messages')
        .select('id')
        .where('contact_id', '=', contactId)
        .where('direction', '=', 'in')
        .where('read', '=', 0)
      if (messageIds) query = query.where('id', 'in', messageIds.length ? messageIds : [''])
      const rows = await query.execute()
      const found = rows.map((r) => r.id)
      if (found.length === 0) return found
      await trx
        .updateTable('messages')
        .set({ read: 1, state: 'read' })
        .where('id', 'in', found)
        .execute()
      for (const id of found) {
        await trx
          .insertInto('pending_receipts')
          .values({ contact_id: contactId, message_id: id, kind: 'read' })
          .onConflict((c) => c.doNothing())
          .execute()
      }
      return found
    })
    if (ids.length > 0) {
      await this.queueReceipts()
      if (this.options.network !== false) {
        void this.flushOutbox().catch((error: unknown) => this.emitError(error, 'sending receipts'))
      }
    }
    return ids.length
  }

  /** Turns owed receipts into receipt messages in the outbox (one per contact and kind, batched). */
  private async queueReceipts(): Promise<void> {
    const added = await this.db.transaction().execute(async (trx) => {
      const owed = await trx.selectFrom('pending_receipts').selectAll().execute()
      const groups = new Map<
        string,
        { contact: string; kind: 'delivered' | 'read'; ids: string[] }
      >()
      for (const r of owed) {
        const key = `${r.contact_id}|${r.kind}`
        let g = groups.get(key)
        if (!g) {
          g = { contact: r.contact_id, kind: r.kind === 'read' ? 'read' : 'delivered', ids: [] }
          groups.set(key, g)
        }
        g.ids.push(r.message_id)
      }
      const now = this.clock.now()
      let count = 0
      for (const g of groups.values()) {
        for (let i = 0; i < g.ids.length; i += MAX_RECEIPT_IDS) {
          const id = newMessageId()
          const plaintext = encodeChatPayload({
            kind: 'receipt',
            id,
            sentAt: now,
            receipt: g.kind,
            ids: g.ids.slice(i, i + MAX_RECEIPT_IDS).map((h) => fromHex(h)),
          })
          await trx
            .insertInto('outbox')
            .values({
              id: toHex(id),
              contact_id: g.contact,
              plaintext: Buffer.from(plaintext),
              sealed: null,
              message_id: null,
              created_at: now,
              attempts: 0,
              next_attempt_at: now,
            })
            .execute()
          count++
        }
      }
      await trx.deleteFrom('pending_receipts').execute()
      return count
    })
    if (added > 0) {
      this.outboxCount += added
      this.emitStatus()
    }
  }

  // ------------------------------------------------------------------ receive

  async fetchInbox(options: SignalOptions = {}): Promise<ChatMessage[]> {
    if (this.options.network === false || !this.dht) return []
    const run = () => this.fetchOnce(options.signal)
    const result = this.fetchChain.then(run, run)
    this.fetchChain = result.catch(() => undefined)
    return result
  }

  private async fetchOnce(signal: AbortSignal | undefined): Promise<ChatMessage[]> {
    const dht = this.dht
    if (!dht || this.closed) return []
    signal?.throwIfAborted()
    if (dht.table.size === 0) await this.joinDht()
    const preKeysBefore = await this.session.countOneTimePreKeys()
    // Messages stored by an earlier run that died before emitting them come first.
    const replayed = (
      await this.db
        .selectFrom('messages')
        .selectAll()
        .where('direction', '=', 'in')
        .where('notified', '=', 0)
        .orderBy('sent_at')
        .orderBy('id')
        .limit(MAX_HISTORY_LIMIT)
        .execute()
    ).map(toMessage)
    const envelopes = await dht.fetchMailbox(this.identity)
    signal?.throwIfAborted()
    const handled: Bytes[] = []
    const fresh: ChatMessage[] = []
    const deliveries: ClientEvents['delivery'][] = []
    const refusals: RefusedEvent[] = []
    for (const [index, envelope] of envelopes.entries()) {
      if (this.closed) break
      const outcome = await this.processIncoming(envelope.id, envelope.data, 'mailbox')
      this.faults.afterEnvelopeStored?.(index)
      handled.push(envelope.id)
      if (outcome.status === 'stored') {
        if (outcome.message) fresh.push(outcome.message)
        deliveries.push(...outcome.deliveries)
      } else if (outcome.status === 'refused') {
        refusals.push(outcome.event)
      }
    }
    this.lastFetchAt = this.clock.now()
    fresh.sort((a, b) => a.sentAt - b.sentAt || a.id.localeCompare(b.id))
    const shown = [...replayed, ...fresh]
    await this.notify(shown)
    for (const d of deliveries) this.emit('delivery', d)
    for (const r of refusals) this.emit('refused', r)
    if (handled.length > 0) {
      this.faults.beforeMailboxDelete?.()
      await dht.deleteEnvelopes(this.identity, handled)
    }
    await this.queueReceipts()
    this.emitStatus()
    if (this.outboxCount > 0 && !this.closed) {
      void this.flushOutbox().catch((error: unknown) => this.emitError(error, 'sending'))
    }
    // A first message used a one-time pre-key: publish a bundle without it.
    if ((await this.session.countOneTimePreKeys()) < preKeysBefore) this.bundleStale = true
    if (this.bundleStale && !this.closed) {
      this.background = this.runGuarded('publishing the pre-key bundle', () => this.publishBundle())
    }
    return shown
  }

  /** Emits `message` events, then records that they were emitted. */
  private async notify(messages: ChatMessage[]): Promise<void> {
    if (messages.length === 0) return
    for (const m of messages) this.emit('message', m)
    await this.db
      .updateTable('messages')
      .set({ notified: 1 })
      .where(
        'id',
        'in',
        messages.map((m) => m.id),
      )
      .execute()
  }

  private async onDirectFrame(payload: Bytes, peer: LinkPeer): Promise<void> {
    try {
      const frame = decodeDirectFrame(payload)
      if (frame.type === 'stored') {
        this.awaitingAck.get(toHex(frame.envelopeId))?.()
        return
      }
      if (frame.type === 'bundle-request') {
        const bundle = await this.session.createPreKeyBundle()
        this.bundleStale = true // its one-time keys may be used: publish fresh ones
        await this.links
          ?.link(peer.id)
          ?.send(encodeDirectFrame({ type: 'bundle', bundle: encodePreKeyBundle(bundle) }))
        return
      }
      if (frame.type === 'bundle') {
        this.awaitingBundle.get(toHex(peer.id))?.(decodePreKeyBundle(frame.bundle))
        return
      }
      let id: Bytes
      let outcome: ProcessOutcome
      if (frame.type === 'signal') {
        id = directMessageId(frame.message)
        outcome = await this.processDirect(frame, id, peer)
      } else {
        id = envelopeIdOf(mailboxKeyFor(this.identity.publicKey), frame.sealed)
        outcome = await this.processIncoming(id, frame.sealed, 'direct', peer)
      }
      if (outcome.status === 'refused') {
        this.emit('refused', outcome.event)
        return
      }
      void this.answerStored(peer, id)
      if (outcome.status === 'stored') {
        // Stored with its event marked emitted: the emit follows at once.
        if (outcome.message) this.emit('message', outcome.message)
        for (const d of outcome.deliveries) this.emit('delivery', d)
      }
    } catch (error) {
      if (!this.closed) this.emitError(error, 'a direct message')
    }
  }

  /** Tells a link peer its message is stored (it is durable: its transaction committed). */
  private async answerStored(peer: LinkPeer, id: Bytes): Promise<void> {
    try {
      this.faults.beforeDirectAck?.()
      await this.links?.link(peer.id)?.send(encodeDirectFrame({ type: 'stored', envelopeId: id }))
    } catch {
      // The link went down: the sender falls back to the mailbox, where the Signal message
      // is recognised as a duplicate.
    }
  }

  /**
   * Decrypts and stores a Signal message that came unsealed over a link, under the session
   * of the link's authenticated peer (the sender), in ONE SQLite transaction with the ratchet
   * step. A message seen before (libsignal's duplicate check, then the message ID) is a
   * duplicate; a refused one is recorded and reported.
   */
  private async processDirect(
    frame: Extract<DirectFrame, { type: 'signal' }>,
    id: Bytes,
    peer: LinkPeer,
  ): Promise<ProcessOutcome> {
    let message: ChatMessage | undefined
    let deliveries: ClientEvents['delivery'][] = []
    let duplicate = false
    let now = 0
    let storedAt = 0
    try {
      await this.session.decrypt(
        { name: peer.textId, deviceId: frame.deviceId },
        { type: frame.messageType, body: frame.message },
        {
          persist: async (plaintext, tx) => {
            const trx = sqliteTransactionOf(tx)
            const payload = decodeChatPayload(plaintext)
            now = this.clock.now()
            // The row's last_seen_at is written at most once per LAST_SEEN_WRITE_MS per
            // sender (it is one more row write per message otherwise); contacts read the
            // exact time from memory while running.
            const stored = this.lastSeen.get(peer.textId)?.storedAt
            if (stored === undefined || now - stored >= LAST_SEEN_WRITE_MS) {
              this.sql.upsertSender(peer.textId, peer.publicKey, now)
              storedAt = now
            } else storedAt = stored
            const result = await storePayload(trx, payload, peer.textId, 'direct', now, this.sql)
            message = result.message
            deliveries = result.deliveries
            duplicate = result.duplicate
          },
        },
      )
    } catch (error) {
      const reason = refusalReason(error)
      if (reason === undefined) throw error
      if (reason === 'replay') return { status: 'duplicate' }
      await this.recordRefusal(toHex(id), reason, peer.textId, 'direct')
      const passage =
        error instanceof PassageError ? error : new TamperedError(undefined, { cause: error })
      return {
        status: 'refused',
        event: { reason, route: 'direct', error: passage, claimedSender: peer.textId },
      }
    }
    // Committed: the sender's row exists and holds last_seen_at = storedAt.
    if (this.lastSeen.size >= MAX_CACHED_NODE_IDS && !this.lastSeen.has(peer.textId)) {
      this.lastSeen.clear()
    }
    this.lastSeen.set(peer.textId, { at: now, storedAt })
    if (duplicate) return { status: 'duplicate' }
    if (message) this.rememberContact(peer.textId, peer.publicKey)
    return { status: 'stored', ...(message ? { message } : {}), deliveries }
  }

  /**
   * Records a refused message (never retried; reported) and flags the contact it claims,
   * unless it is only damaged.
   */
  private async recordRefusal(
    idHex: string,
    reason: RefusalReason,
    claimed: string | undefined,
    route: MessageRoute,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('processed_envelopes')
        .values({ id: idHex, processed_at: this.clock.now(), outcome: reason })
        .onConflict((c) => c.doNothing())
        .execute()
      if (reason === 'replay') return
      await trx
        .insertInto('refusals')
        .values({ id: idHex, claimed_sender: claimed ?? null, reason, route, at: this.clock.now() })
        .onConflict((c) => c.doNothing())
        .execute()
      if (claimed && reason !== 'malformed' && reason !== 'tampered') {
        await trx
          .updateTable('contacts')
          .set({ flagged: reason })
          .where('id', '=', claimed)
          .execute()
      }
    })
  }

  /**
   * Opens, decrypts and stores one sealed message in ONE SQLite transaction with the Signal
   * ratchet step and the processed-envelope mark. A message seen before is a duplicate; a
   * refused one is marked processed (so it is deleted and never retried) and reported.
   */
  private async processIncoming(
    envelopeId: Bytes,
    sealed: Bytes,
    route: MessageRoute,
    linkPeer?: LinkPeer,
  ): Promise<ProcessOutcome> {
    const idHex = toHex(envelopeId)
    const seen = await this.db
      .selectFrom('processed_envelopes')
      .select('id')
      .where('id', '=', idHex)
      .executeTakeFirst()
    if (seen) return { status: 'duplicate' }
    let senderKey: Bytes | undefined
    let message: ChatMessage | undefined
    let deliveries: ClientEvents['delivery'][] = []
    let duplicate = false
    try {
      await this.session.openSealed(sealed, {
        persist: async (opened, tx) => {
          const trx = sqliteTransactionOf(tx)
          if (linkPeer && !equalBytes(opened.senderPublicKey, linkPeer.publicKey)) {
            throw new ImpersonationError('a sealed message on a link from another identity')
          }
          const payload = decodeChatPayload(opened.plaintext)
          const now = this.clock.now()
          const sender = opened.sender.name
          senderKey = opened.senderPublicKey
          await trx
            .insertInto('processed_envelopes')
            .values({ id: idHex, processed_at: now, outcome: 'ok' })
            .execute()
          await upsertSender(trx, sender, opened.senderPublicKey, now)
          const result = await storePayload(trx, payload, sender, route, now)
          message = result.message
          deliveries = result.deliveries
          duplicate = result.duplicate
        },
      })
    } catch (error) {
      let reason = refusalReason(error)
      if (reason === undefined) throw error
      // Who it claims to be, when the seal opens at all (for the report and the flag).
      let claimed: string | undefined
      try {
        claimed = signalAddressOfKey(openSealedMessage(this.identity, sealed).senderPublicKey).name
      } catch {
        claimed = undefined
      }
      // A seal that does not even open is tampered bytes, whatever the decoder said.
      if (claimed === undefined) reason = 'tampered'
      await this.recordRefusal(idHex, reason, claimed, route)
      if (reason === 'replay') return { status: 'duplicate' }
      const passage =
        error instanceof PassageError ? error : new TamperedError(undefined, { cause: error })
      return {
        status: 'refused',
        event: { reason, route, error: passage, ...(claimed ? { claimedSender: claimed } : {}) },
      }
    }
    if (duplicate) return { status: 'duplicate' }
    if (message && senderKey) this.rememberContact(message.contactId, senderKey)
    if (message && route === 'direct') {
      // The link's "stored" answer is the delivery receipt.
    } else if (message) {
      await this.db
        .insertInto('pending_receipts')
        .values({ contact_id: message.contactId, message_id: message.id, kind: 'delivered' })
        .onConflict((c) => c.doNothing())
        .execute()
    }
    return { status: 'stored', ...(message ? { message } : {}), deliveries }
  }

  private async flag(contactId: string, reason: RefusalReason): Promise<void> {
    await this.db
      .updateTable('contacts')
      .set({ flagged: reason })
      .where('id', '=', contactId)
      .execute()
  }

  // ------------------------------------------------------------------ addresses

  private async resolveLinkAddresses(peerId: Uint8Array): Promise<LinkAddress[]> {
    const out: LinkAddress[] = []
    const textId = encodeTextId(toBytes(peerId))
    const lan = this.lan.get(textId)
    if (lan) out.push(...lan.addresses)
    for (const s of this.superNodes) {
      try {
        const peer = await s.client.resolve(textId)
        if (!peer) continue
        for (const a of peer.announce.addresses) {
          if (a.transport !== 'tcp') continue
          out.push({ host: a.host === '' ? peer.observed.host : a.host, port: a.port })
        }
      } catch {
        // the next super-node
      }
    }
    const seen = new Set<string>()
    return out.filter((a) => {
      const key = `${a.host}|${a.port}`
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
  }

  private onLanPeer(peer: DiscoveredPeer): void {
    this.addLanPeer({
      textId: peer.textId,
      publicKey: peer.publicKey,
      addresses: [{ host: peer.host, port: peer.tcpPort }],
      lastSeenAt: peer.lastSeen,
    })
  }

  /**
   * Tells the client where a peer's direct link listens (LAN discovery, or tests). LAN peers
   * are dialed before any address a super-node reports.
   * @internal
   */
  addLanPeer(peer: LanPeer): void {
    this.lan.set(peer.textId, peer)
    this.links?.retryNow(nodeIdFromPublicKey(peer.publicKey))
    this.emitStatus()
  }
}

/** Adds the sender of a message as a contact, or notes when it was last seen. */
async function upsertSender(
  trx: Transaction<ClientDatabase>,
  id: string,
  publicKey: Bytes,
  now: number,
): Promise<void> {
  await trx
    .insertInto('contacts')
    .values({
      id,
      public_key: Buffer.from(publicKey),
      name: null,
      added_at: now,
      last_seen_at: now,
      flagged: null,
    })
    .onConflict((c) => c.column('id').doUpdateSet({ last_seen_at: now }))
    .execute()
}

/** The outbox's `signal` column: `type (1) || Signal message`. */
function encodeOutboxSignal(message: SignalCiphertext): Buffer {
  return Buffer.concat([Uint8Array.of(message.type), message.body])
}

function decodeOutboxSignal(bytes: Uint8Array): SignalCiphertext {
  const type = bytes[0]
  if (type !== SignalMessageType.whisper && type !== SignalMessageType.preKey) {
    throw new MalformedError(`an outbox entry holds an unknown Signal message type ${type}`)
  }
  return { type, body: toBytes(new Uint8Array(bytes.subarray(1))) }
}

/** Stores a decrypted payload; runs inside the decrypting transaction. */
async function storePayload(
  trx: Transaction<ClientDatabase>,
  payload: ChatPayload,
  sender: string,
  route: MessageRoute,
  now: number,
  statements?: SqliteClientStatements,
): Promise<{ message?: ChatMessage; deliveries: ClientEvents['delivery'][]; duplicate: boolean }> {
  if (payload.kind === 'text') {
    const row: MessageRow = {
      id: toHex(payload.id),
      contact_id: sender,
      direction: 'in',
      body: payload.text,
      sent_at: payload.sentAt,
      received_at: now,
      state: 'delivered',
      read: 0,
      route,
      // Mailbox messages are marked once their event was emitted; direct ones are emitted
      // right after this commit.
      notified: route === 'direct' ? 1 : 0,
    }
    const fresh = statements
      ? statements.insertMessage(row)
      : Number(
          (
            await trx
              .insertInto('messages')
              .values(row)
              .onConflict((c) => c.doNothing())
              .executeTakeFirst()
          ).numInsertedOrUpdatedRows ?? 0,
        ) > 0
    if (!fresh) return { deliveries: [], duplicate: true }
    return { message: toMessage(row), deliveries: [], duplicate: false }
  }
  const state: DeliveryState = payload.receipt === 'read' ? 'read' : 'delivered'
  const deliveries: ClientEvents['delivery'][] = []
  for (const id of payload.ids) {
    const hex = toHex(id)
    const owned = await trx
      .selectFrom('messages')
      .select('id')
      .where('id', '=', hex)
      .where('contact_id', '=', sender)
      .where('direction', '=', 'out')
      .executeTakeFirst()
    if (owned && (await advanceState(trx, hex, state))) {
      deliveries.push({ messageId: hex, contactId: sender, state })
    }
  }
  return { deliveries, duplicate: false }
}

/** Moves a message's state forward (never back). True when it changed. */
async function advanceState(
  trx: Transaction<ClientDatabase>,
  messageId: string,
  state: DeliveryState,
  route?: MessageRoute,
): Promise<boolean> {
  const ranks = (Object.keys(STATE_RANK) as DeliveryState[]).filter(
    (s) => STATE_RANK[s] < STATE_RANK[state],
  )
  if (ranks.length === 0) return false
  const result = await trx
    .updateTable('messages')
    .set({
      state,
      ...(state === 'read' ? { read: 1 } : {}),
      ...(route ? { route: sql<string>`coalesce(route, ${route})` } : {}),
    })
    .where('id', '=', messageId)
    .where('state', 'in', ranks)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
}

function refusalReason(error: unknown): RefusalReason | undefined {
  if (error instanceof ReplayError) return 'replay'
  if (error instanceof IdentityChangedError) return 'identity-changed'
  if (error instanceof ImpersonationError) return 'impersonation'
  if (error instanceof MalformedError) return 'malformed'
  if (
    error instanceof TamperedError ||
    error instanceof NoSessionError ||
    error instanceof UnknownPreKeyError
  ) {
    return 'tampered'
  }
  return undefined
}

function toMessage(row: MessageRow): ChatMessage {
  return {
    id: row.id,
    contactId: row.contact_id,
    direction: row.direction === 'in' ? 'in' : 'out',
    text: row.body,
    sentAt: row.sent_at,
    receivedAt: row.received_at,
    state: row.state as DeliveryState,
    read: row.read === 1,
    ...(row.route !== null ? { route: row.route as MessageRoute } : {}),
  }
}

/** @internal For tests and LAN discovery: the concrete client behind a {@link PassageClient}. */
export function lanPeerSink(client: PassageClient): ((peer: LanPeer) => void) | undefined {
  return client instanceof Client ? (peer) => client.addLanPeer(peer) : undefined
}

function newMessageId(): Bytes {
  return globalThis.crypto.getRandomValues(new Uint8Array(MESSAGE_ID_BYTES)) as Bytes
}
