// Over 500 lines: the client object is the one place that wires the parts (ports, store,
// network, outbox, inbox, devices, groups, attachments) and owns their start-up order and
// close; each part's logic lives in its own module. Moving the start-up sequence (`open`,
// `recover`) into a module of its own is the next split when it grows.
import type { KeyProvider } from '../crypto/key-provider.js'
import { parseRecoveryCode } from '../devices/recovery-code.js'
import { isGroupId } from '../groups/group-id.js'
import { NoIdentityError, NotLinkedError, RevokedDeviceError } from '../errors.js'
import { encodeContactUri } from '../identity/contact-uri.js'
import { Identity } from '../identity/identity.js'
import { nodeIdFromPublicKey } from '../identity/node-id.js'
import { encodeTextId } from '../identity/text-id.js'
import { systemClock, type Clock } from '../runtime/clock.js'
import { systemRandom, type Random } from '../runtime/host.js'
import { systemTimers, type TimerHandle, type Timers } from '../runtime/timers.js'
import type { SignalSession } from '../signal/signal-session.js'
import { Attachments } from './attachments.js'
import { ContactDirectory } from './contacts.js'
import { RequestList } from './requests.js'
import type { AccountState, ClientContext, ClientFaults, ClientInternals } from './context.js'
import { DeviceLinking } from './device-linking.js'
import { DeviceDirectory } from './devices.js'
import { GroupDirectory } from './groups.js'
import { DirectProtocol } from './direct-protocol.js'
import { ClientEventBus } from './events.js'
import { History } from './history.js'
import { Inbox } from './inbox.js'
import { LinkAddresses } from './link-addresses.js'
import type { LinkManager } from '../link/link-manager.js'
import { ClientNetwork } from './network.js'
import { Outbox } from './outbox.js'
import type { ClientPorts, ClientRepository, HomeIdentity } from './ports.js'
import { Presence } from './presence.js'
import { Receipts } from './receipts.js'
import { SuperNodes } from './super-nodes.js'
import type {
  AttachmentInput,
  AttachmentManager,
  ChatMessage,
  ClientEvents,
  ClientOptions,
  ClientStatus,
  ContactId,
  Conversation,
  DeviceInfo,
  DeviceManager,
  GroupManager,
  HistoryOptions,
  LinkRequest,
  LanPeer,
  MessageId,
  PassageClient,
  SendOptions,
  FlushOptions,
  SignalOptions,
} from './types.js'
import type { Bytes } from '../wire/bytes.js'

/** The setting that says device 1 was restored from its recovery code and must publish its list anew. */
const RECOVERY_PENDING = 'recovery-pending'

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
  let home = await repository.loadIdentity()
  let recovering = false
  if (!home) {
    const now = clock.now()
    let identity: Identity
    let deviceId = 1
    if (options.recover !== undefined) {
      identity = Identity.fromPrivateKey(keys, parseRecoveryCode(options.recover))
      recovering = true
    } else if (options.link) {
      identity = Identity.generate(keys)
      deviceId = 0
    } else if (options.createIdentity) {
      identity = Identity.generate(keys)
    } else {
      throw new NoIdentityError(
        `${repository.location} has no identity yet; run \`passage init\` or pass createIdentity: true`,
      )
    }
    home = {
      secretKey: identity.serialize(),
      publicKey: identity.publicKey,
      textId: identity.textId,
      createdAt: now,
      deviceId,
      ...(options.name !== undefined ? { name: options.name } : {}),
    }
    await repository.saveIdentity(home)
    if (recovering) await repository.transaction((w) => w.setSetting(RECOVERY_PENDING, '1'))
  } else {
    recovering = (await repository.setting(RECOVERY_PENDING)) === '1'
  }
  const identity = Identity.deserialize(keys, home.secretKey)
  if (!home.publicKey) {
    // A home made before the public key was kept beside the secret one: keep it now.
    home = { ...home, publicKey: identity.publicKey }
    await repository.updateIdentity(home)
  }
  const accountKey = home.accountPublicKey ?? identity.publicKey
  const accountId = nodeIdFromPublicKey(accountKey)
  const account: AccountState = {
    publicKey: accountKey,
    id: accountId,
    textId: encodeTextId(accountId),
    deviceId: home.deviceId,
    name: home.name,
    revoked: false,
  }
  const given = options.servers ?? []
  if (given.length > 0) {
    await repository.transaction(async (w) => {
      for (const url of given) await w.rememberServer(url)
    })
  }
  const servers = options.servers ?? (await repository.rememberedServers())
  const client = new Client(
    { identity, account, home, ports, options, clock, timers, random, servers },
    internals.faults ?? {},
  )
  await client.open(recovering, options.recover !== undefined)
  return client
}

/** The parts of a client, sharing one context (see {@link ClientContext}). */
class Context implements ClientContext {
  readonly identity: Identity
  readonly account: AccountState
  /** The home's identity row, as stored. */
  home: HomeIdentity
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
  readonly requests: RequestList = new RequestList(this)
  readonly presence: Presence = new Presence(this)
  readonly direct: DirectProtocol = new DirectProtocol(this)
  readonly inbox: Inbox = new Inbox(this)
  readonly outbox: Outbox = new Outbox(this)
  readonly receipts: Receipts = new Receipts(this)
  readonly history: History = new History(this)
  readonly devices: DeviceDirectory = new DeviceDirectory(this)
  readonly groups: GroupDirectory = new GroupDirectory(this)
  readonly linking: DeviceLinking = new DeviceLinking(this)
  readonly attachments: Attachments = new Attachments(this)
  closed = false

  constructor(
    init: ClientInit,
    readonly faults: ClientFaults,
    status: () => ClientStatus,
    readonly becomeDevice: ClientContext['becomeDevice'],
  ) {
    this.identity = init.identity
    this.account = init.account
    this.home = init.home
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

  requireLinked(): void {
    if (this.account.deviceId === 0) throw new NotLinkedError()
    if (this.account.revoked) {
      throw new RevokedDeviceError(
        'this device was revoked by its account: it can no longer send; link it again from device 1',
      )
    }
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
  account: AccountState
  home: HomeIdentity
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
  readonly home: string
  readonly contacts: ContactDirectory
  readonly requests: RequestList
  readonly devices: DeviceManager
  readonly groups: GroupManager
  readonly attachments: AttachmentManager
  private readonly ctx: Context
  private timer: TimerHandle | undefined
  private ticking: Promise<void> = Promise.resolve()

  constructor(init: ClientInit, faults: ClientFaults) {
    this.ctx = new Context(
      init,
      faults,
      () => this.status(),
      (device) => this.becomeDevice(device),
    )
    this.identity = init.identity
    this.home = this.ctx.repository.location
    this.contacts = this.ctx.contacts
    this.requests = this.ctx.requests
    const { devices, linking } = this.ctx
    this.devices = {
      list: (account?: ContactId) => devices.list(account),
      requestLink: (options?: { name?: string }): Promise<LinkRequest> =>
        linking.requestLink(options),
      approveLink: (uri: string, options?: { name?: string; history?: boolean } & SignalOptions) =>
        linking.approveLink(uri, options),
      revoke: (deviceId: number, options?: SignalOptions): Promise<DeviceInfo> =>
        devices.revoke(deviceId, options),
      rename: (deviceId: number, name: string, options?: SignalOptions) =>
        devices.rename(deviceId, name, options),
      recoveryCode: () => devices.recoveryCode(),
    }
    const files = this.ctx.attachments
    this.attachments = {
      fetch: (messageId, opts) => files.fetch(messageId, opts),
      requestResend: (messageId) => files.requestResend(messageId),
    }
    const groups = this.ctx.groups
    this.groups = {
      create: async (name, members = []) => groups.create(name, members),
      list: async () => groups.list(),
      info: async (groupId) => groups.info(groupId),
      add: (groupId, members) => groups.add(groupId, members),
      remove: (groupId, members) => groups.remove(groupId, members),
      leave: (groupId) => groups.leave(groupId),
      promote: (groupId, member) => groups.setRole(groupId, member, 'admin'),
      demote: (groupId, member) => groups.setRole(groupId, member, 'member'),
      rename: (groupId, name) => groups.rename(groupId, name),
      send: (groupId, text, options) => groups.send(groupId, text, options),
    }
  }

  get textId(): string {
    return this.ctx.account.textId
  }

  get accountKey(): Bytes {
    return this.ctx.account.publicKey
  }

  get deviceId(): number {
    return this.ctx.account.deviceId
  }

  get contactUri(): string {
    const { account } = this.ctx
    return encodeContactUri({
      publicKey: account.publicKey,
      ...(account.name !== undefined ? { name: account.name } : {}),
    })
  }

  /**
   * Opens the parts and starts the network. A recovery asked for now (`recoverNow`) that
   * cannot finish throws (the client is closed; the home is kept and the next start finishes
   * it); one left from an earlier start is retried in the background.
   */
  async open(recovering: boolean, recoverNow = false): Promise<void> {
    const { ctx } = this
    await ctx.devices.load()
    if (ctx.account.deviceId !== 0) await this.openAccount()
    if (ctx.options.network === false) return
    await ctx.network.start()
    // Be findable before resolving: join, announce, publish the bundle and the device list
    // (failures are events).
    await ctx.guard('joining the DHT', () => ctx.presence.joinDht())
    await ctx.guard('registering at relays', () => ctx.network.maintainRelays())
    await ctx.guard('announcing', () => ctx.presence.announce())
    await ctx.guard('publishing addresses', () => ctx.presence.publishAddresses())
    if (ctx.account.deviceId !== 0) {
      await ctx.guard('publishing the pre-key bundle', () => ctx.presence.publishBundle())
      if (recovering && recoverNow) {
        try {
          await this.recover()
        } catch (error) {
          await this.close()
          throw error
        }
      } else if (recovering) await ctx.guard('restoring the account', () => this.recover())
      else await ctx.guard('publishing the device list', () => ctx.devices.startOwn())
    }
    if (ctx.options.background !== false) this.schedule(0)
  }

  /** Opens what a linked device has: its Signal session (for its account), outbox, contacts. */
  private async openAccount(): Promise<void> {
    const { ctx } = this
    const ownKey = ctx.account.publicKey === ctx.identity.publicKey
    ctx.session = await ctx.ports.signal.open({
      identity: ctx.identity,
      storage: ctx.repository.signal,
      deviceId: ctx.account.deviceId,
      ...(ownKey ? {} : { accountKey: ctx.account.publicKey }),
      clock: ctx.clock,
      random: ctx.random,
      keyPolicy: ctx.devices.policy,
      fetchBundle: (address) => ctx.direct.fetchBundle(address),
    })
    if ((await ctx.session.countOneTimePreKeys()) === 0) await ctx.session.generatePreKeys()
    await ctx.outbox.open()
    await ctx.contacts.load()
    await ctx.groups.load()
  }

  /** Device 1 restored from its recovery code: publish the account's list anew. */
  private async recover(): Promise<void> {
    const { ctx } = this
    await ctx.devices.recover()
    await ctx.repository.transaction((w) => w.setSetting(RECOVERY_PENDING, '0'))
  }

  /** A new device was provisioned: it is now `deviceId` of the account `accountKey`. */
  private async becomeDevice(device: { accountKey: Bytes; deviceId: number; name?: string }) {
    const { ctx } = this
    const id = nodeIdFromPublicKey(device.accountKey)
    const home: HomeIdentity = {
      ...ctx.home,
      textId: encodeTextId(id),
      accountPublicKey: device.accountKey,
      deviceId: device.deviceId,
      ...(device.name !== undefined ? { name: device.name } : {}),
    }
    await ctx.repository.updateIdentity(home)
    ctx.home = home
    Object.assign(ctx.account, {
      publicKey: device.accountKey,
      id,
      textId: home.textId,
      deviceId: device.deviceId,
      name: device.name,
    })
    await this.openAccount()
    ctx.presence.markBundleStale()
    // Reachable before it says it is linked: contacts find its bundle in the DHT.
    if (ctx.options.network !== false) {
      await ctx.guard('publishing the pre-key bundle', () => ctx.presence.publishBundle())
    }
  }

  async close(): Promise<void> {
    const { ctx } = this
    if (ctx.closed) return
    ctx.closed = true
    if (this.timer !== undefined) ctx.timers.clearTimeout(this.timer)
    ctx.linking.cancel(new NotLinkedError('the client closed before this device was linked'))
    ctx.direct.close()
    ctx.attachments.close()
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
    if (ctx.account.deviceId === 0) return // waiting to be linked: the link request polls
    await ctx.guard('publishing the pre-key bundle', () => ctx.presence.publishBundle())
    await ctx.guard('keeping device lists', () => ctx.devices.maintain())
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
    const open = network.links?.openLinks() ?? []
    const links = open.length
    const dhtNodes = network.dht?.table.size ?? 0
    return {
      online: dhtNodes > 0 || links > 0,
      lanPeers: this.ctx.addresses.lanCount,
      superNodes: this.ctx.superNodes.statuses(),
      dhtNodes,
      directLinks: links,
      relayedLinks: open.filter((l) => l.route === 'relay').length,
      relays: network.relaysRegistered,
      outbox: this.ctx.outbox.count,
      ...(inbox.lastFetchAt !== undefined ? { lastFetchAt: inbox.lastFetchAt } : {}),
      ...(tcp ? { listening: { host: tcp.host, port: tcp.port } } : {}),
    }
  }

  lanPeers(): LanPeer[] {
    return this.ctx.addresses.lanPeers()
  }

  /** @internal The direct links (tests); see {@link linkManagerOf}. */
  get linkManager(): LinkManager | undefined {
    return this.ctx.network.links
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
    if (isGroupId(contactId)) return this.ctx.groups.send(contactId, text, options)
    return this.ctx.outbox.send(contactId, text, options)
  }

  sendAttachment(to: ContactId, input: AttachmentInput, options?: SendOptions) {
    return this.ctx.attachments.send(to, input, options)
  }

  markRead(contactId: ContactId, messageIds?: MessageId[]): Promise<number> {
    return this.ctx.history.markRead(contactId, messageIds)
  }

  fetchInbox(options?: SignalOptions): Promise<ChatMessage[]> {
    return this.ctx.inbox.fetch(options)
  }

  flushOutbox(options?: FlushOptions): Promise<number> {
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

/** @internal For tests: the client's direct links (undefined without a link listener). */
export function linkManagerOf(client: PassageClient): LinkManager | undefined {
  return client instanceof Client ? client.linkManager : undefined
}

/** @internal For tests and LAN discovery: tells a client where a peer's link listens. */
export function lanPeerSink(client: PassageClient): ((peer: LanPeer) => void) | undefined {
  return client instanceof Client ? (peer) => client.addLanPeer(peer) : undefined
}
