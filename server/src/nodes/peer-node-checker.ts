import {
  createNodeList,
  encodeTextId,
  equalBytes,
  fromBase64Url,
  idMatchesKey,
  MAX_NODE_LIST_NODES,
  MAX_RECORD_PAYLOAD_BYTES,
  nodeListPayloadBytes,
  parseTextId,
  systemTimers,
  type Clock,
  type Identity,
  type NodeId,
  type NodeList,
  type NodeListEntry,
  type Timers,
} from '@passage/sdk'
import type { Endpoint } from '../config.js'

/** The timers the checker uses; tests pass their own (or none) and tick by hand. */
export type CheckerTimers = Pick<Timers, 'setInterval' | 'clearInterval'>

/**
 * How often the timer asks the clock whether a round is due: 1 s, so a round starts at
 * most a second late while the interval itself is measured on the injected clock.
 */
const TICK_MS = 1_000
/** Largest answer read from another super-node: 64 KiB; /v1/info and /readyz are < 1 KiB. */
const MAX_ANSWER_BYTES = 65_536

/** What this super-node knows about one other super-node. */
export interface PeerNodeStatus {
  url: string
  /** Whether the last check passed: /v1/info and /readyz answered in time and made sense. */
  healthy: boolean
  /** Its ID (from /v1/info, bound to its key); pinned once seen. */
  id: NodeId | undefined
  dht: Endpoint | null
  /** When it last passed a check (clock ms), or undefined. */
  lastHealthy: number | undefined
  /** When it was last checked (clock ms), or undefined before the first round. */
  lastChecked: number | undefined
  /** Why the last check failed; undefined when it passed. */
  error: string | undefined
}

/** Options of {@link PeerNodeChecker}. */
export interface PeerNodeCheckerOptions {
  /** Base URLs of the other super-nodes (no trailing slash). */
  urls: string[]
  /** This super-node: signs the list; a URL that turns out to be itself is left out. */
  identity: Identity
  clock: Clock
  intervalMs: number
  /** Per request (each of /v1/info and /readyz). */
  timeoutMs: number
  fetch?: typeof globalThis.fetch
  /** Real timers by default; `null` for none (tests call {@link PeerNodeChecker.tick}). */
  timers?: CheckerTimers | null
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
  /** Called after every round (metrics). */
  onRound?: (statuses: readonly PeerNodeStatus[]) => void
}

/** Hosts that mean "every interface": not an address another machine can use. */
const UNSPECIFIED_HOSTS = new Set(['', '0.0.0.0', '::', '[::]'])

/**
 * Keeps the list of the other super-nodes this one knows: checks each (GET /v1/info, then
 * GET /readyz, each within `timeoutMs`) every `intervalMs` of the injected clock, and keeps
 * a signed list of the healthy ones (record type 5) for `GET /v1/nodes`.
 *
 * @example
 * const checker = new PeerNodeChecker({ urls, identity, clock, intervalMs: 60_000, timeoutMs: 5_000 })
 * checker.start()
 * const list = checker.signedList()
 */
export class PeerNodeChecker {
  private readonly nodes: PeerNodeStatus[]
  private readonly fetch: typeof globalThis.fetch
  private handle: unknown
  private nextRoundAt = -Infinity
  private round: Promise<void> | undefined
  private list: NodeList
  private stopped = false

  constructor(private readonly options: PeerNodeCheckerOptions) {
    this.fetch = options.fetch ?? globalThis.fetch
    this.nodes = [...new Set(options.urls)].map((url) => ({
      url,
      healthy: false,
      id: undefined,
      dht: null,
      lastHealthy: undefined,
      lastChecked: undefined,
      error: undefined,
    }))
    this.list = this.sign()
  }

  /** Starts checking: a round now, then one every `intervalMs` (idempotent). */
  start(): void {
    if (this.handle !== undefined || this.options.timers === null) return
    const timers = this.options.timers ?? systemTimers
    this.handle = timers.setInterval(
      () => void this.tick(),
      Math.min(TICK_MS, this.options.intervalMs),
    )
    void this.tick()
  }

  /** Runs a round when one is due on the clock; resolves when it is done. */
  async tick(): Promise<void> {
    if (this.stopped || this.options.clock.now() < this.nextRoundAt) return this.round
    return this.checkAll()
  }

  /** Checks every node now (one round at a time) and signs a fresh list. */
  async checkAll(): Promise<void> {
    this.round ??= (async () => {
      this.nextRoundAt = this.options.clock.now() + this.options.intervalMs
      await Promise.all(this.nodes.map((node) => this.check(node)))
      this.list = this.sign()
      this.options.onRound?.(this.nodes)
    })().finally(() => {
      this.round = undefined
    })
    return this.round
  }

  /** Stops the timer and waits for a round in progress. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.handle !== undefined) {
      ;(this.options.timers ?? systemTimers).clearInterval(this.handle)
      this.handle = undefined
    }
    await this.round?.catch(() => undefined)
  }

  /** A copy of what is known about every configured node. */
  statuses(): PeerNodeStatus[] {
    return this.nodes.map((node) => ({ ...node, dht: node.dht && { ...node.dht } }))
  }

  /** The latest signed list of healthy nodes (signed after every round). */
  signedList(): NodeList {
    return this.list
  }

  private sign(): NodeList {
    const entries: NodeListEntry[] = []
    for (const node of this.nodes) {
      if (!node.healthy || !node.id || node.lastHealthy === undefined) continue
      const entry: NodeListEntry = {
        url: node.url,
        id: node.id,
        dht: node.dht,
        lastChecked: node.lastHealthy,
      }
      // Configured order; whatever would not fit in one record is left out.
      if (entries.length >= MAX_NODE_LIST_NODES) break
      if (nodeListPayloadBytes([...entries, entry]) > MAX_RECORD_PAYLOAD_BYTES) break
      entries.push(entry)
    }
    const now = this.options.clock.now()
    // seq must grow with every list; the clock in ms does, unless it stands still or goes back.
    const seq = Math.max(now, (this.list?.seq ?? 0) + 1)
    return createNodeList(this.options.identity, { seq, timestamp: now, nodes: entries })
  }

  private async check(node: PeerNodeStatus): Promise<void> {
    const wasHealthy = node.healthy
    try {
      const info = await this.getJson(node.url, '/v1/info')
      const { id, dht } = this.parseInfo(node.url, info)
      if (node.id && !equalBytes(node.id, id)) {
        throw new Error(
          `its ID changed from ${encodeTextId(node.id)} to ${encodeTextId(id)}; restart to accept`,
        )
      }
      if (equalBytes(id, this.options.identity.id)) throw new Error('it is this server itself')
      node.id = id
      node.dht = dht
      await this.getJson(node.url, '/readyz')
      node.healthy = true
      node.error = undefined
      node.lastHealthy = this.options.clock.now()
    } catch (error) {
      node.healthy = false
      node.error = error instanceof Error ? error.message : String(error)
    }
    node.lastChecked = this.options.clock.now()
    if (node.healthy !== wasHealthy || (!node.healthy && node.lastHealthy === undefined)) {
      if (node.healthy) this.options.logger?.info({ node: node.url }, 'super-node is healthy')
      else {
        this.options.logger?.warn(
          { node: node.url, reason: node.error },
          `super-node is not healthy: ${node.error}`,
        )
      }
    }
  }

  private parseInfo(url: string, info: unknown): { id: NodeId; dht: Endpoint | null } {
    const body = info as { id?: unknown; publicKey?: unknown; dht?: unknown }
    if (typeof body.id !== 'string' || typeof body.publicKey !== 'string') {
      throw new Error('/v1/info has no id and publicKey')
    }
    const id = parseTextId(body.id)
    if (!idMatchesKey(id, fromBase64Url(body.publicKey, 'publicKey'))) {
      throw new Error('/v1/info: the ID is not the hash of the public key')
    }
    let dht: Endpoint | null = null
    const raw = body.dht as { host?: unknown; port?: unknown } | null | undefined
    if (raw && typeof raw.host === 'string' && Number.isInteger(raw.port)) {
      const port = raw.port as number
      if (port >= 1 && port <= 65_535) {
        // A node listening on every interface publishes no usable host: use its URL's.
        const host = UNSPECIFIED_HOSTS.has(raw.host) ? new URL(url).hostname : raw.host
        dht = { host: host.replace(/^\[(.*)\]$/, '$1'), port }
      }
    }
    return { id, dht }
  }

  private async getJson(base: string, path: string): Promise<unknown> {
    const signal = AbortSignal.timeout(this.options.timeoutMs)
    let response: Response
    try {
      response = await this.fetch(base + path, {
        signal,
        // A fresh connection per check: one a minute gains nothing from keep-alive, and a
        // pooled socket the peer has since closed would fail a check of a healthy peer.
        headers: { accept: 'application/json', connection: 'close' },
        redirect: 'error',
      })
    } catch (error) {
      if (signal.aborted) throw new Error(`${path}: no answer within ${this.options.timeoutMs} ms`)
      const cause = (error as { cause?: { code?: string } }).cause?.code
      throw new Error(`${path}: ${cause ?? (error instanceof Error ? error.message : 'failed')}`)
    }
    const text = await readCapped(response, signal, path, this.options.timeoutMs)
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`)
    try {
      return JSON.parse(text) as unknown
    } catch {
      throw new Error(`${path}: not JSON`)
    }
  }
}

async function readCapped(
  response: Response,
  signal: AbortSignal,
  path: string,
  timeoutMs: number,
): Promise<string> {
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for await (const chunk of response.body ?? []) {
      size += (chunk as Uint8Array).byteLength
      if (size > MAX_ANSWER_BYTES) throw new Error(`${path}: answer over ${MAX_ANSWER_BYTES} bytes`)
      chunks.push(chunk as Uint8Array)
    }
  } catch (error) {
    if (signal.aborted) throw new Error(`${path}: no answer within ${timeoutMs} ms`)
    throw error
  } finally {
    if (size > MAX_ANSWER_BYTES) await response.body?.cancel().catch(() => undefined)
  }
  return Buffer.concat(chunks).toString('utf8')
}
