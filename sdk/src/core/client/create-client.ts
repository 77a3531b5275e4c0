import type { KeyProvider } from '../crypto/key-provider.js'
import { NoIdentityError } from '../errors.js'
import { encodeContactUri } from '../identity/contact-uri.js'
import { Identity } from '../identity/identity.js'
import { systemClock, type Clock } from '../runtime/clock.js'
import { systemRandom, type Random } from '../runtime/host.js'
import { systemTimers, type TimerHandle, type Timers } from '../runtime/timers.js'
import type { SignalSession } from '../signal/signal-session.js'
import { ContactDirectory } from './contacts.js'
import type { ClientContext, ClientFaults, ClientInternals } from './context.js'
import { DirectProtocol } from './direct-protocol.js'
import { ClientEventBus } from './events.js'
import { History } from './history.js'
import { Inbox } from './inbox.js'
import { LinkAddresses } from './link-addresses.js'
import { ClientNetwork } from './network.js'
import { Outbox } from './outbox.js'
import type { ClientPorts, ClientRepository } from './ports.js'
import { Presence } from './presence.js'
import { Receipts } from './receipts.js'
import { SuperNodes } from './super-nodes.js'
import type {
  ChatMessage,
  ClientEvents,
  ClientOptions,
  ClientStatus,
  ContactId,
  Conversation,
  HistoryOptions,
  LanPeer,
  MessageId,
  PassageClient,
  SendOptions,
  SignalOptions,
} from './types.js'

/** Default period of mailbox fetches and outbox retries while running. */
export const DEFAULT_FETCH_INTERVAL_MS = 30_000 // 30 s: a mailbox is a fallback, links carry live chat
/** Processed envelope IDs are kept as long as an envelope can live in a mailbox. */
const PROCESSED_KEEP_MS = 31 * 24 * 3600_000 // 31 days > MAX_ENVELOPE_TTL_MS (30 days)

/**
 * Opens a client on `ports` (its store, Signal and key providers, sockets) and starts it
 * (DHT, listener, super-nodes, mailbox fetch). See {@link PassageClient}. In Node,
 * `createNodeClient` of `@passage/sdk/node` fills the ports.
 *
 * @example
 * const client = await createClient(ports, { createIdentity: true, servers: ['http://127.0.0.1:8080'] })
 * client.on('message', (m) => console.log(m.contactId, m.text))
 */
export async function createClient(
  ports: ClientPorts,
  options: ClientOptions = {},
  internals: ClientInternals = {},
): Promise<PassageClient> {
  const { repository, keys } = ports
  const clock = ports.runtime?.clock ?? systemClock
  const random = ports.runtime?.random ?? systemRandom
  const timers = internals.timers ?? ports.runtime?.timers ?? systemTimers
  const home = await repository.loadIdentity()
  let identity: Identity
  let name = home?.name
  if (home) {
    identity = Identity.deserialize(keys, home.secretKey)
  } else {
    if (!options.createIdentity) {
      throw new NoIdentityError(
        `${repository.location} has no identity yet; run \`passage init\` or pass createIdentity: true`,
      )
    }
    identity = Identity.generate(keys)
    name = options.name
    await repository.saveIdentity({
      secretKey: identity.serialize(),
      textId: identity.textId,
      createdAt: clock.now(),
      ...(name !== undefined ? { name } : {}),
    })
  }
  const given = options.servers ?? []
  if (given.length > 0) {
    await repository.transaction(async (w) => {
      for (const url of given) await w.rememberServer(url)
    })
  }
  const servers = options.servers ?? (await repository.rememberedServers())
  const client = new Client(
    { identity, name, ports, options, clock, timers, random, servers },
    internals.faults ?? {},
  )
  await client.open()
  return client
}

/** The parts of a client, sharing one context (see {@link ClientContext}). */
class Context implements ClientContext {
  readonly identity: Identity
  readonly name: string | undefined
  readonly repository: ClientRepository
  /** Set by `Client.open`, before any part runs. */
  session!: SignalSession
  readonly keys: KeyProvider
  readonly ports: ClientPorts
  readonly options: ClientOptions
  readonly clock: Clock
  readonly timers: Timers
  readonly random: Random
  readonly events: ClientEventBus
  readonly superNodes: SuperNodes
  readonly network: ClientNetwork = new ClientNetwork(this)
  readonly addresses: LinkAddresses = new LinkAddresses(this)
  readonly contacts: ContactDirectory = new ContactDirectory(this)
  readonly presence: Presence = new Presence(this)
  readonly direct: DirectProtocol = new DirectProtocol(this)
  readonly inbox: Inbox = new Inbox(this)
  readonly outbox: Outbox = new Outbox(this)
  readonly receipts: Receipts = new Receipts(this)
  readonly history: History = new History(this)
  closed = false

  constructor(
    init: ClientInit,
    readonly faults: ClientFaults,
    status: () => ClientStatus,
  ) {
    this.identity = init.identity
    this.name = init.name
    this.ports = init.ports
    this.repository = init.ports.repository
    this.keys = init.ports.keys
    this.options = init.options
    this.clock = init.clock
    this.timers = init.timers
    this.random = init.random
    this.events = new ClientEventBus(status)
    this.superNodes = new SuperNodes(init.servers, {
      identity: init.identity,
      clock: init.clock,
      fetch: init.ports.fetch,
    })
  }

  async guard(what: string, fn: () => Promise<unknown>): Promise<void> {
    if (this.closed) return
    try {
      await fn()
    } catch (error) {
      if (!this.closed) this.events.error(error, what)
    }
  }
}

interface ClientInit {
  identity: Identity
  name: string | undefined
  ports: ClientPorts
  options: ClientOptions
  clock: Clock
  timers: Timers
  random: Random
  servers: string[]
}

/** The facade every app talks to; the work is done by the parts of its {@link Context}. */
class Client implements PassageClient {
  readonly identity: Identity
  readonly textId: string
  readonly contactUri: string
  readonly home: string
  readonly contacts: ContactDirectory
  private readonly ctx: Context
  private timer: TimerHandle | undefined
  private ticking: Promise<void> = Promise.resolve()

  constructor(init: ClientInit, faults: ClientFaults) {
    this.ctx = new Context(init, faults, () => this.status())
    this.identity = init.identity
    this.textId = init.identity.textId
    this.home = this.ctx.repository.location
    this.contactUri = encodeContactUri({
      publicKey: init.identity.publicKey,
      ...(init.name !== undefined ? { name: init.name } : {}),
    })
    this.contacts = this.ctx.contacts
  }

  async open(): Promise<void> {
    const { ctx } = this
    ctx.session = await ctx.ports.signal.open({
      identity: ctx.identity,
      storage: ctx.repository.signal,
      clock: ctx.clock,
      random: ctx.random,
      fetchBundle: (address) => ctx.direct.fetchBundle(address.name),
    })
    if ((await ctx.session.countOneTimePreKeys()) === 0) await ctx.session.generatePreKeys()
    await ctx.outbox.open()
    await ctx.contacts.load()
    if (ctx.options.network === false) return
    await ctx.network.start()
    // Be findable before resolving: join, announce, publish the bundle (failures are events).
    await ctx.guard('joining the DHT', () => ctx.presence.joinDht())
    await ctx.guard('announcing', () => ctx.presence.announce())
    await ctx.guard('publishing the pre-key bundle', () => ctx.presence.publishBundle())
    if (ctx.options.background !== false) this.schedule(0)
  }

  async close(): Promise<void> {
    const { ctx } = this
    if (ctx.closed) return
    ctx.closed = true
    if (this.timer !== undefined) ctx.timers.clearTimeout(this.timer)
    ctx.direct.close()
    await ctx.network.close()
    await Promise.allSettled([this.ticking, ctx.inbox.settled(), ctx.outbox.settled()])
    await ctx.network.closeDht()
    await ctx.repository.close()
    ctx.events.close()
  }

  private schedule(delayMs: number): void {
    const { ctx } = this
    if (ctx.closed) return
    this.timer = ctx.timers.setTimeout(() => {
      this.timer = undefined
      this.ticking = this.tick().finally(() =>
        this.schedule(ctx.options.fetchIntervalMs ?? DEFAULT_FETCH_INTERVAL_MS),
      )
    }, delayMs)
  }

  /** Periodic work: join the DHT, announce, publish the bundle, fetch, flush. Never throws. */
  private async tick(): Promise<void> {
    const { ctx } = this
    await ctx.guard('joining the DHT', () => ctx.presence.joinDht())
    await ctx.guard('announcing', () => ctx.presence.announce())
    await ctx.guard('publishing the pre-key bundle', () => ctx.presence.publishBundle())
    await ctx.guard('fetching the mailbox', () => this.fetchInbox())
    await ctx.guard('sending the outbox', () => this.flushOutbox())
    await ctx.guard('housekeeping', async () => {
      const before = ctx.clock.now() - PROCESSED_KEEP_MS
      await ctx.repository.transaction((w) => w.purgeProcessed(before))
      await ctx.session.purgeUsedPreKeys()
    })
  }

  status(): ClientStatus {
    const { network, inbox } = this.ctx
    const tcp = network.listener?.address()
    const links = network.links?.openLinks().length ?? 0
    const dhtNodes = network.dht?.table.size ?? 0
    return {
      online: dhtNodes > 0 || links > 0,
      lanPeers: this.ctx.addresses.lanCount,
      superNodes: this.ctx.superNodes.statuses(),
      dhtNodes,
      directLinks: links,
      outbox: this.ctx.outbox.count,
      ...(inbox.lastFetchAt !== undefined ? { lastFetchAt: inbox.lastFetchAt } : {}),
      ...(tcp ? { listening: { host: tcp.host, port: tcp.port } } : {}),
    }
  }

  lanPeers(): LanPeer[] {
    return this.ctx.addresses.lanPeers()
  }

  /** @internal Where a peer's link listens (LAN discovery, tests); see {@link lanPeerSink}. */
  addLanPeer(peer: LanPeer): void {
    this.ctx.addresses.addLanPeer(peer)
  }

  conversations(): Promise<Conversation[]> {
    return this.ctx.history.conversations()
  }

  history(contactId: ContactId, options?: HistoryOptions): Promise<ChatMessage[]> {
    return this.ctx.history.messages(contactId, options)
  }

  send(contactId: ContactId, text: string, options?: SendOptions): Promise<ChatMessage> {
    return this.ctx.outbox.send(contactId, text, options)
  }

  markRead(contactId: ContactId, messageIds?: MessageId[]): Promise<number> {
    return this.ctx.history.markRead(contactId, messageIds)
  }

  fetchInbox(options?: SignalOptions): Promise<ChatMessage[]> {
    return this.ctx.inbox.fetch(options)
  }

  flushOutbox(options?: SignalOptions): Promise<number> {
    return this.ctx.outbox.flush(options)
  }

  on<E extends keyof ClientEvents>(event: E, handler: (payload: ClientEvents[E]) => void) {
    return this.ctx.events.on(event, handler)
  }

  off<E extends keyof ClientEvents>(event: E, handler: (payload: ClientEvents[E]) => void): void {
    this.ctx.events.off(event, handler)
  }

  messages(options?: SignalOptions): AsyncIterableIterator<ChatMessage> {
    return this.ctx.events.messages(options)
  }
}

/** @internal For tests and LAN discovery: tells a client where a peer's link listens. */
export function lanPeerSink(client: PassageClient): ((peer: LanPeer) => void) | undefined {
  return client instanceof Client ? (peer) => client.addLanPeer(peer) : undefined
}
