import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import {
  DhtNode,
  systemClock,
  systemTimers,
  type Clock,
  type DhtNodeOptions,
  type Timers,
  type Identity,
  type NodeAddress,
} from '@passage/sdk'
import { bindUdpSocket } from '@passage/sdk/node'
import type { Kysely } from 'kysely'
import type { Registry } from 'prom-client'
import type { Endpoint } from '../config.js'
import { DhtContactsStore } from '../db/dht-contacts-store.js'
import { PostgresMailboxStore } from '../db/postgres-mailbox-store.js'
import { PostgresRecordStore } from '../db/postgres-record-store.js'
import type { Database } from '../db/schema.js'
import type { ReadinessCheck } from '../plugins/context.js'
import { DhtPrometheusMetrics } from './dht-metrics.js'
import { readUdpSocketCounters } from './udp-socket-counters.js'

export { DEFAULT_DHT_PORT } from './default-dht-port.js'
/** Maintenance (expiry, bucket refresh, handover, hourly republish) runs this often. */
export const DHT_MAINTAIN_INTERVAL_MS = 60_000 // 1 min, as DhtNode.maintain() asks
/** The routing table's contacts are saved this often (and at shutdown). */
export const DHT_SAVE_CONTACTS_INTERVAL_MS = 300_000 // 5 min: at most 5 min of churn lost
/** First retry of a failed bootstrap; doubles up to {@link DHT_BOOTSTRAP_RETRY_MAX_MS}. */
export const DHT_BOOTSTRAP_RETRY_MS = 1_000 // 1 s: a peer that starts with us is found fast
/** Longest wait between bootstrap attempts while no node is verified. */
export const DHT_BOOTSTRAP_RETRY_MAX_MS = 30_000 // 30 s: calm against a peer that is down

/** The logger subset used (pino's). */
export interface SuperNodeDhtLogger {
  debug(obj: object, msg: string): void
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

/** Options of {@link SuperNodeDht.start}. */
export interface SuperNodeDhtOptions {
  /** The server's storage: mailboxes, records and saved contacts live there. */
  db: Kysely<Database>
  /** The server's identity (the same key as the HTTP service's). */
  identity: Identity
  /** Literal address to bind (`0.0.0.0`, `::`, `127.0.0.1`…). */
  host: string
  /** UDP port; 0 picks a free one. */
  port: number
  /** Configured DHT nodes to join through (`--bootstrap`); host names are resolved. */
  bootstrap: Endpoint[]
  /** Published in `/v1/info` instead of the bound address (e.g. a public address). */
  advertise?: Endpoint | null
  clock?: Clock
  logger?: SuperNodeDhtLogger
  /** Registers the DHT metrics there (the app's registry). */
  registry?: Registry
  /** Maintenance, saves and bootstrap retries; the SDK's `systemTimers` by default (tests: `ManualTimers`). */
  timers?: Timers
  maintainIntervalMs?: number
  saveContactsIntervalMs?: number
  bootstrapRetryMs?: number
  bootstrapRetryMaxMs?: number
  /** More `DhtNode` options (timeouts, quota, rate limit). */
  node?: Partial<Omit<DhtNodeOptions, 'identity' | 'socket' | 'mailboxStore' | 'recordStore'>>
}

/** What the last bootstrap attempt did (for logs and `/readyz`). */
export interface BootstrapState {
  attempts: number
  /** Verified nodes in the table after the last attempt. */
  verified: number
  /** When the next attempt is due (clock ms), or undefined when none is scheduled. */
  nextAt: number | undefined
}

/**
 * The super-node's always-on DHT node: a {@link DhtNode} on UDP whose mailboxes, records
 * and routing-table contacts live in the server's database (Postgres or PGlite).
 *
 * On start it binds, loads the contacts saved by the previous run and bootstraps from them
 * and from the configured peers (every contact proves its key again); while no node is
 * verified it retries with backoff (1 s doubling to 30 s on the injected timers) and logs
 * each attempt. It runs `maintain()` (expiry, bucket refresh, handover, hourly republish)
 * every minute, saves the table's contacts every 5 minutes and at {@link SuperNodeDht.close}.
 *
 * @example
 * const dht = await SuperNodeDht.start({ db, identity, host: '0.0.0.0', port: 7401, bootstrap })
 * dht.endpoint()            // { host: '0.0.0.0', port: 7401 }
 * await dht.close()         // before the database closes
 */
export class SuperNodeDht {
  readonly node: DhtNode
  readonly contactsStore: DhtContactsStore
  readonly mailboxStore: PostgresMailboxStore
  readonly recordStore: PostgresRecordStore
  readonly metrics: DhtPrometheusMetrics | undefined
  readonly bootstrapState: BootstrapState = { attempts: 0, verified: 0, nextAt: undefined }
  private readonly options: SuperNodeDhtOptions
  private readonly clock: Clock
  private readonly timers: Timers
  private readonly log: SuperNodeDhtLogger | undefined
  private savedContacts: NodeAddress[] = []
  private maintainHandle: unknown
  private saveHandle: unknown
  private retryHandle: unknown
  private retryDelayMs: number
  private running: Promise<unknown> | undefined
  private joining: Promise<number> | undefined
  private closing: Promise<void> | undefined

  private constructor(options: SuperNodeDhtOptions, node: DhtNode, stores: StoresOf) {
    this.options = options
    this.node = node
    this.clock = options.clock ?? systemClock
    this.timers = options.timers ?? systemTimers
    this.log = options.logger
    this.contactsStore = stores.contacts
    this.mailboxStore = stores.mailbox
    this.recordStore = stores.record
    this.metrics = stores.metrics
    this.retryDelayMs = options.bootstrapRetryMs ?? DHT_BOOTSTRAP_RETRY_MS
  }

  /**
   * Binds the UDP socket and starts the node, its timers and the first bootstrap attempt
   * (in the background: the server need not wait for the network; `/readyz` tells).
   */
  static async start(options: SuperNodeDhtOptions): Promise<SuperNodeDht> {
    const clock = options.clock ?? systemClock
    const stores: StoresOf = {
      contacts: new DhtContactsStore(options.db),
      mailbox: new PostgresMailboxStore(options.db),
      record: new PostgresRecordStore(options.db),
      metrics: options.registry ? DhtPrometheusMetrics.on(options.registry) : undefined,
    }
    const saved = await stores.contacts.load()
    const socket = await bindUdpSocket(options.host, options.port)
    const node = new DhtNode({
      ...options.node,
      identity: options.identity,
      socket,
      clock,
      mailboxStore: stores.mailbox,
      recordStore: stores.record,
      ...(options.logger && { logger: options.logger }),
      ...(stores.metrics && { metrics: stores.metrics.hooks }),
    })
    const dht = new SuperNodeDht(options, node, stores)
    dht.savedContacts = saved.map(({ host, port }) => ({ host, port }))
    // The kernel's drops for our socket, where /proc tells them (Linux): overload shows there
    // first, since datagrams dropped in the receive buffer never reach the node.
    const port = node.address().port
    const udpSocket = () => readUdpSocketCounters(port)
    const udpReadable = stores.metrics ? (await udpSocket()) !== undefined : false
    if (stores.metrics && !udpReadable) {
      options.logger?.info(
        { port },
        'dht: /proc/net/udp is not readable here; passage_dht_udp_receive_drops_total is not exported',
      )
    }
    stores.metrics?.track({
      routingTableNodes: () => node.table.size,
      mailboxStats: () => stores.mailbox.stats(clock.now()),
      ...(udpReadable && { udpSocket }),
    })
    options.logger?.info(
      {
        dht: node.address(),
        bootstrap: options.bootstrap.length,
        savedContacts: saved.length,
      },
      `dht node listening on udp ${formatEndpoint(node.address())}`,
    )
    dht.maintainHandle = dht.timers.setInterval(
      () => void dht.maintain(),
      options.maintainIntervalMs ?? DHT_MAINTAIN_INTERVAL_MS,
    )
    dht.saveHandle = dht.timers.setInterval(
      () => void dht.saveContacts().catch(() => undefined),
      options.saveContactsIntervalMs ?? DHT_SAVE_CONTACTS_INTERVAL_MS,
    )
    void dht.bootstrap()
    return dht
  }

  /** The endpoint published in `/v1/info`: the advertised one, else the bound address. */
  endpoint(): Endpoint {
    return this.options.advertise ?? this.node.address()
  }

  /** Configured bootstrap peers (`--bootstrap`). */
  get configuredPeers(): readonly Endpoint[] {
    return this.options.bootstrap
  }

  /**
   * One bootstrap attempt from the saved contacts and the configured peers (an attempt in
   * progress is joined). While no node is verified and there is someone to ask, the next
   * attempt is scheduled with backoff. Resolves with the verified nodes in the table.
   */
  bootstrap(): Promise<number> {
    return (this.joining ??= this.bootstrapOnce().finally(() => (this.joining = undefined)))
  }

  private async bootstrapOnce(): Promise<number> {
    if (this.closing) return this.node.table.size
    this.cancelRetry()
    const state = this.bootstrapState
    state.attempts++
    const peers = dedupe([...(await this.resolvePeers()), ...this.savedContacts])
    let verified = 0
    if (peers.length > 0) {
      try {
        verified = await this.node.bootstrap(peers)
      } catch (error) {
        this.log?.warn({ err: error }, 'dht bootstrap failed')
      }
    }
    verified = Math.max(verified, this.node.table.size)
    state.verified = verified
    if (verified > 0) {
      this.retryDelayMs = this.options.bootstrapRetryMs ?? DHT_BOOTSTRAP_RETRY_MS
      state.nextAt = undefined
      this.log?.info(
        { attempt: state.attempts, verified, asked: peers.length },
        `dht joined: ${verified} verified nodes in the routing table`,
      )
      void this.saveContacts().catch(() => undefined)
    } else if (peers.length > 0 && !this.closing) {
      const delay = this.retryDelayMs
      this.retryDelayMs = Math.min(
        delay * 2,
        this.options.bootstrapRetryMaxMs ?? DHT_BOOTSTRAP_RETRY_MAX_MS,
      )
      state.nextAt = this.clock.now() + delay
      this.retryHandle = this.timers.setTimeout(() => {
        this.retryHandle = undefined
        void this.bootstrap()
      }, delay)
      this.log?.warn(
        { attempt: state.attempts, asked: peers.length, retryInMs: delay },
        `dht bootstrap: no node answered of ${peers.length}; retrying in ${delay} ms`,
      )
    }
    return verified
  }

  /** Configured peers with host names resolved (to the socket's address family). */
  private async resolvePeers(): Promise<NodeAddress[]> {
    const family = this.node.address().host.includes(':') ? 6 : 4
    const out: NodeAddress[] = []
    for (const peer of this.options.bootstrap) {
      if (isIP(peer.host)) {
        out.push(peer)
        continue
      }
      try {
        const { address } = await dnsLookup(peer.host, { family })
        out.push({ host: address, port: peer.port })
      } catch (error) {
        this.log?.warn({ err: error, peer: peer.host }, 'dht bootstrap peer does not resolve')
      }
    }
    return out
  }

  /**
   * Periodic work: `DhtNode.maintain()` (expiry, refresh, handover, republish); when the
   * table ran empty (every peer left), bootstraps again. One run at a time.
   */
  async maintain(): Promise<void> {
    if (this.closing || this.running) return
    const run = (async () => {
      try {
        const done = await this.node.maintain()
        if (done.expired + done.handedOver + done.republished > 0) {
          this.log?.debug(done, 'dht maintenance')
        }
      } catch (error) {
        this.log?.warn({ err: error }, 'dht maintenance failed')
      }
      if (this.node.table.size === 0 && this.retryHandle === undefined && !this.closing) {
        await this.bootstrap()
      }
    })()
    this.running = run
    try {
      await run
    } finally {
      this.running = undefined
    }
  }

  /** Saves the routing table's verified contacts (nothing when the table is empty). */
  async saveContacts(): Promise<number> {
    const contacts = this.node.contacts()
    if (contacts.length === 0) return 0
    await this.contactsStore.save(contacts, this.clock.now())
    this.savedContacts = contacts.map(({ host, port }) => ({ host, port }))
    return contacts.length
  }

  /**
   * `/readyz` check `dht`: fails while bootstrap peers are configured and no node is
   * verified. Without configured peers (the first node of a network) it is always ready.
   */
  readiness(): ReadinessCheck {
    return {
      name: 'dht',
      check: async () => {
        const peers = this.options.bootstrap.length
        if (peers === 0 || this.node.table.size > 0) return
        const state = this.bootstrapState
        const next =
          state.nextAt === undefined
            ? ''
            : `, next in ${Math.max(0, Math.ceil((state.nextAt - this.clock.now()) / 1000))} s`
        throw new Error(
          `no verified DHT node yet; bootstrapping from ${peers} configured ` +
            `peer${peers === 1 ? '' : 's'} (attempt ${state.attempts}${next})`,
        )
      },
    }
  }

  /**
   * Stops timers, saves the contacts, destroys the node (socket closed) and waits for
   * maintenance in progress. Call before the database closes. Idempotent.
   */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.timers.clearInterval(this.maintainHandle)
      this.timers.clearInterval(this.saveHandle)
      this.cancelRetry()
      try {
        await this.saveContacts()
      } catch (error) {
        this.log?.warn({ err: error }, 'saving dht contacts at shutdown failed')
      }
      // Destroying fails the requests in flight, so a bootstrap or maintenance run ends
      // quickly; wait for it, since it may still touch storage.
      await this.node.destroy()
      await this.running?.catch(() => undefined)
      await this.joining?.catch(() => undefined)
      this.metrics?.track(undefined)
    })())
  }

  private cancelRetry(): void {
    if (this.retryHandle === undefined) return
    this.timers.clearTimeout(this.retryHandle)
    this.retryHandle = undefined
    this.bootstrapState.nextAt = undefined
  }
}

interface StoresOf {
  contacts: DhtContactsStore
  mailbox: PostgresMailboxStore
  record: PostgresRecordStore
  metrics: DhtPrometheusMetrics | undefined
}

function dedupe(peers: NodeAddress[]): NodeAddress[] {
  const seen = new Set<string>()
  return peers.filter((p) => {
    const key = `${p.host}|${p.port}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

function formatEndpoint({ host, port }: Endpoint): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
