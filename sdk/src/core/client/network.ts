import { DhtNode } from '../dht/dht-node.js'
import { LanDiscovery } from '../discovery/lan-discovery.js'
import { UnreachableError } from '../errors.js'
import { Identity } from '../identity/identity.js'
import { LinkListener } from '../link/link-listener.js'
import { LinkManager } from '../link/link-manager.js'
import { dialLink, type DialLinkOptions, type Link } from '../link/link.js'
import type { LinkAccount } from '../link/link-messages.js'
import { relayConnector } from '../relay/relay-client.js'
import { RelayRegistration } from '../relay/relay-registration.js'
import { host } from '../runtime/host.js'
import type { ClientContext } from './context.js'
import type { ClientOptions } from './types.js'
import { PreKeyDirectory } from './pre-key-directory.js'
import { toBytes, type Bytes } from '../wire/bytes.js'

/**
 * Where the client's own DHT node binds when the app does not say: every interface. A socket
 * bound to 127.0.0.1 cannot send to another machine (sendto fails with EINVAL), so a client
 * whose super-node is elsewhere could not join the DHT at all: no pre-key bundles, no mailbox.
 * The node runs in client mode: other nodes keep it out of their routing tables, so the wider
 * bind does not make it serve the DHT.
 */
const DHT_BIND_HOST = '0.0.0.0'

/**
 * The client's sockets, from its ports: its DHT node (its own, client mode, on a throwaway
 * identity so it is not linkable to the account; or one it was given), the direct-link
 * listener and manager, and LAN discovery.
 */
export class ClientNetwork {
  dht: DhtNode | undefined
  directory: PreKeyDirectory | undefined
  listener: LinkListener | undefined
  links: LinkManager | undefined
  discovery: LanDiscovery | undefined
  /** This client's registrations at super-nodes' relays, by super-node URL. */
  readonly relays = new Map<string, RelayRegistration>()
  private account: () => LinkAccount | undefined = () => undefined
  private ownDht = false

  constructor(private readonly ctx: ClientContext) {}

  /** True when the DHT has someone to ask. */
  get dhtJoined(): boolean {
    return (this.dht?.table.size ?? 0) > 0
  }

  async start(): Promise<void> {
    const { ctx } = this
    const { options, ports } = ctx
    if (options.dht) {
      this.dht = options.dht
    } else if (ports.udp) {
      const bind = options.dhtBind ?? {}
      this.dht = new DhtNode({
        identity: Identity.generate(ctx.keys),
        socket: await ports.udp(bind.host ?? DHT_BIND_HOST, bind.port ?? 0),
        clock: ctx.clock,
        random: ctx.random,
        // Its requests time out on the host's timers, not the client's: tests that drive the
        // client by hand still have a DHT that answers and gives up on its own.
        client: true,
      })
      this.ownDht = true
    }
    if (this.dht) this.directory = new PreKeyDirectory(this.dht)
    // A linked device's hellos and beacons name its account (version 2).
    const account = () =>
      ctx.account.deviceId > 1
        ? { publicKey: toBytes(ctx.account.publicKey), deviceId: ctx.account.deviceId }
        : undefined
    this.account = account
    if (options.listen !== false && ports.listen) {
      const listen = options.listen ?? {}
      this.listener = await LinkListener.listen({
        identity: ctx.identity,
        account,
        host:
          listen.host ??
          defaultListenHost(
            options.lan,
            ports.discovery !== undefined,
            ctx.superNodes.statuses().map((s) => s.url),
          ),
        port: listen.port ?? 0,
        timers: ctx.timers,
        listen: ports.listen,
      })
      this.listener.on('link', (link) => this.links?.adopt(link))
    }
    this.links = new LinkManager({
      identity: ctx.identity,
      account,
      resolve: (peerId) => ctx.addresses.resolve(peerId),
      connect:
        ports.connect ??
        (() => Promise.reject(new UnreachableError('this client has no way to dial links'))),
      ...(ports.connect && options.relay !== false
        ? {
            relayConnect: (peerId, address) =>
              relayConnector(ctx.identity, peerId, {
                connect: ports.connect!,
                ...(address.relayId ? { relayId: address.relayId } : {}),
                timers: ctx.timers,
              }),
          }
        : {}),
      clock: ctx.clock,
      timers: ctx.timers,
      ...(ctx.faults.afterLinkDialed ? { dial: slowDial(ctx.faults.afterLinkDialed) } : {}),
    })
    if (this.listener && options.lan !== false && ports.discovery) await this.startLan(account)
    this.links.on('frame', (payload, peer) => void ctx.direct.onFrame(payload, peer))
    this.links.on('link', () => ctx.events.statusChanged())
    this.links.on('down', () => ctx.events.statusChanged())
  }

  private async startLan(
    account: () => { publicKey: Uint8Array; deviceId: number } | undefined,
  ): Promise<void> {
    const { ctx } = this
    const lan = typeof ctx.options.lan === 'object' ? ctx.options.lan : {}
    const discovery = new LanDiscovery({
      identity: ctx.identity,
      account: () => {
        const a = account()
        return a ? { publicKey: toBytes(a.publicKey), deviceId: a.deviceId } : undefined
      },
      tcpPort: this.listener!.address().port,
      bind: ctx.ports.discovery!,
      clock: ctx.clock,
      timers: ctx.timers,
      ...(lan.group !== undefined ? { group: lan.group } : {}),
      ...(lan.port !== undefined ? { port: lan.port } : {}),
      ...(lan.interface !== undefined ? { interface: lan.interface } : {}),
      ...(lan.intervalMs !== undefined ? { intervalMs: lan.intervalMs } : {}),
    })
    discovery.on('peer', (peer) => ctx.addresses.onLanPeer(peer))
    discovery.on('lost', (peer) => ctx.addresses.onLanLost(peer.textId))
    try {
      await discovery.start()
      this.discovery = discovery
    } catch (error) {
      // No multicast here (or the port is taken): the internet and mailboxes still work.
      ctx.events.error(error, 'starting LAN discovery')
    }
  }

  /**
   * Registers at the relay of every super-node that runs one (and keeps each registration up),
   * so peers that cannot dial this client reach it there. Not for a client with relays off or
   * without a way to dial.
   */
  async maintainRelays(): Promise<void> {
    const { ctx } = this
    const connect = ctx.ports.connect
    if (ctx.options.relay === false || !connect || !this.links || ctx.superNodes.size === 0) return
    await ctx.superNodes.learnInfo()
    for (const relay of ctx.superNodes.relays()) {
      const known = this.relays.get(relay.url)
      if (known && known.address.host === relay.host && known.address.port === relay.port) continue
      known?.close()
      const registration = new RelayRegistration({
        identity: ctx.identity,
        account: this.account,
        connect,
        host: relay.host,
        port: relay.port,
        relayId: relay.relayId,
        timers: ctx.timers,
        onLink: (link) => this.links?.adopt(link),
        onChange: () => ctx.events.statusChanged(),
      })
      this.relays.set(relay.url, registration)
      registration.start()
    }
  }

  /** Relays this client is registered at now. */
  get relaysRegistered(): number {
    return [...this.relays.values()].filter((r) => r.registered).length
  }

  /** Stops LAN discovery, links and the listener (the DHT node: see {@link closeDht}). */
  async close(): Promise<void> {
    for (const relay of this.relays.values()) relay.close()
    this.relays.clear()
    await this.discovery?.stop().catch(() => {})
    this.links?.close()
    await this.listener?.close().catch(() => {})
  }

  /** Destroys the DHT node when the client made it. */
  async closeDht(): Promise<void> {
    if (this.ownDht) await this.dht?.destroy().catch(() => {})
  }
}

/**
 * Where the link listener binds when the app does not say: where peers are told to dial.
 * Beacons name this machine by the address they are sent from (the LAN interface's), so with
 * LAN discovery on the listener takes every interface (`0.0.0.0`), or the one interface
 * discovery was given. Announces to a super-node on another machine name it by the address
 * the super-node sees (an empty host, see `Presence.announce`), so with a super-node that is
 * not on this machine (`servers`, their URLs) the listener takes every interface too. Else
 * (no discovery, no super-node or only ones on this machine), loopback only: nobody elsewhere
 * is told where to dial.
 */
export function defaultListenHost(
  lan: ClientOptions['lan'],
  canDiscover: boolean,
  servers: readonly string[] = [],
): string {
  if (lan !== false && canDiscover) {
    return typeof lan === 'object' && lan.interface !== undefined ? lan.interface : '0.0.0.0'
  }
  return servers.some((url) => !onThisMachine(url)) ? '0.0.0.0' : '127.0.0.1'
}

/** True for a URL whose host is a loopback name or address (or that is not a URL at all). */
function onThisMachine(url: string): boolean {
  let name: string
  try {
    name = new host.URL(url).hostname.toLowerCase()
  } catch {
    return true // not a super-node anyone can reach: no reason to listen more widely
  }
  return (
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    name === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)
  )
}

/** A dial that waits for `delay` once the link is up (fault injection: a late dial). */
function slowDial(delay: (peerId: Bytes) => Promise<void>) {
  return async (options: DialLinkOptions): Promise<Link> => {
    const link = await dialLink(options)
    await delay(link.peer.id)
    return link
  }
}
