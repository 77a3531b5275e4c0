import type { Verifier } from '../crypto/key-provider.js'
import { systemClock, type Clock } from '../runtime/clock.js'
import { hostFetch, type AbortSignalLike, type Fetch, type UrlLike } from '../runtime/host.js'
import { systemTimers, type Timers } from '../runtime/timers.js'
import {
  KeyMismatchError,
  MalformedError,
  NoIdentityError,
  NotFoundError,
  PassageError,
  RemoteError,
} from '../errors.js'
import { idMatchesKey, type Identity } from '../identity/identity.js'
import { NODE_ID_BYTES, PUBLIC_KEY_BYTES, type NodeId } from '../identity/node-id.js'
import { encodeTextId, parseTextId } from '../identity/text-id.js'
import {
  announceFromJson,
  announceToJson,
  createAnnounce,
  verifyAnnounce,
  type Announce,
  type AnnounceJson,
  type PeerAddress,
} from '../records/announce.js'
import { fromBase64Url, type Bytes } from '../wire/bytes.js'
import { verifyNodeListRecord, type NodeList } from '../records/node-list.js'
import { BootstrapHttp, parseServerUrl, type Reply } from './bootstrap-http.js'

/**
 * How long one request may take, body included, before it fails with a TimeoutError: 10 s,
 * long enough for a phone on a poor network, short enough for a person waiting at a prompt.
 */
export const BOOTSTRAP_TIMEOUT_MS = 10_000
/** The most peers one `GET /v1/peers` returns (the server's limit, see HTTP-API.md). */
export const MAX_PEERS_LIMIT = 100

/** What {@link BootstrapClient} needs besides an identity or keys. */
interface BootstrapClientBase {
  /** The super-node's base URL, e.g. `http://127.0.0.1:8080`; `http://` is assumed when no scheme is given. */
  url: string | { readonly href: string }
  /**
   * The super-node's ID when it is known beforehand (a contact card, a previous run): then
   * {@link BootstrapClient.info} refuses a server with another ID (`KeyMismatchError`), so
   * a hijacked address cannot pose as it.
   */
  serverId?: string | Uint8Array
  /** Timestamps and default sequence numbers of announces; `systemClock` by default. */
  clock?: Clock
  /** A `fetch` implementation; the host's by default (Node 20+, browsers, React Native). */
  fetch?: Fetch
  /** For the per-request timeout; the host's timers by default. */
  timers?: Pick<Timers, 'setTimeout' | 'clearTimeout'>
  /** Per-request timeout in ms, {@link BOOTSTRAP_TIMEOUT_MS} by default. */
  timeoutMs?: number
  /**
   * Called for every peer the server returned that does not verify (forged signature, key
   * that does not hash to the ID, announce meant for another server, malformed). Such peers
   * are dropped from results, never returned.
   */
  onRejectedPeer?: (peer: unknown, reason: PassageError) => void
}

/**
 * What {@link BootstrapClient} needs: the URL, and an identity (which {@link BootstrapClient.announce}
 * needs, and whose keys check the signatures the server relays) or `keys` alone.
 */
export type BootstrapClientOptions = BootstrapClientBase &
  (
    | {
        identity: Identity
        /** Checks the signatures of the peers and node lists; the identity's own by default. */
        keys?: Verifier
      }
    | {
        identity?: undefined
        /** Checks the signatures of the peers and node lists the server returns. */
        keys: Verifier
      }
  )

/** Options every call accepts. */
export interface RequestOptions {
  /** Aborts the request; the promise rejects with `signal.reason`. */
  signal?: AbortSignalLike
}

/** `GET /v1/info`: who the super-node is. */
export interface BootstrapInfo {
  id: NodeId
  textId: string
  publicKey: Bytes
  version: string
  /** The super-node's DHT endpoint, `null` while it runs none. */
  dht: { host: string; port: number } | null
  /** Where its relay listens (TCP), `null` while it runs none (docs/PROTOCOL.md, "Relay"). */
  relay: { host: string; port: number } | null
  announceTtlMs: number
  announceSkewMs: number
}

/** The address a server saw a request come from (the public side of a NAT). */
export interface ObservedAddress {
  host: string
  port: number
}

/** A live peer as the server lists it, after this client re-verified its signed announce. */
export interface BootstrapPeer {
  /** The peer's announce; its signature, key and audience have been verified here. */
  announce: Announce
  textId: string
  observed: ObservedAddress
  /** When the server forgets this announce (ms since the epoch, the server's clock). */
  expiresAt: number
}

/** The server's answer to {@link BootstrapClient.announce}. */
export interface AnnounceResult {
  /** The announce that was sent. */
  announce: Announce
  /** The address the server saw this request come from. */
  observed: ObservedAddress
  ttlMs: number
  expiresAt: number
  /** A sample of other live peers, each verified. */
  peers: BootstrapPeer[]
}

/** `GET /healthz`: the process answers. */
export interface HealthStatus {
  status: string
}

/** `GET /readyz`: the server can serve (its storage answers). */
export interface ReadyStatus {
  ready: boolean
  status: string
  /** One entry per dependency: `"ok"` or why not. */
  checks: Record<string, string>
}

/** The live-peers gauge in the Prometheus text of `/metrics`. */
const LIVE_PEERS_SAMPLE = /^passage_live_peers(?:\{[^}]*\})?\s+(\d+)\s*$/m

/**
 * A client of a super-node's bootstrap HTTP API (`/v1/announce`, `/v1/peers`, `/v1/info`,
 * `/healthz`, `/readyz`). It uses only `fetch`,
 * `URL` and `AbortController`, so it runs in Node, browsers and React Native.
 *
 * Every peer it returns has been re-verified locally (the ID is the key's hash, the
 * signature verifies, the announce was meant for this server): a server can withhold peers
 * but cannot forge them. Every refusal is a typed {@link PassageError} (`ReplayError`,
 * `ClockSkewError`, `RateLimitedError`…); network failures are a `RemoteError` or
 * `TimeoutError` naming the URL.
 *
 * @example
 * const client = new BootstrapClient({ url: 'http://127.0.0.1:8080', identity })
 * const { observed, peers } = await client.announce({
 *   addresses: [{ transport: 'tcp', host: '', port: 7400 }],
 * })
 * const bob = await client.resolve('p1…') // undefined when bob has no live announce
 */
export class BootstrapClient {
  /** The normalised base URL, ending with `/`. */
  readonly url: UrlLike
  private readonly identity: Identity | undefined
  private readonly verifier: Verifier
  private readonly clock: Clock
  private readonly http: BootstrapHttp
  private readonly onRejectedPeer: BootstrapClientOptions['onRejectedPeer']
  private serverInfo: BootstrapInfo | undefined

  /** The last `/v1/info` answer, if one was fetched. */
  get cachedInfo(): BootstrapInfo | undefined {
    return this.serverInfo
  }
  private readonly expectedServerId: string | undefined
  private lastSeq = 0

  constructor(options: BootstrapClientOptions) {
    this.url = parseServerUrl(options.url)
    this.identity = options.identity
    this.verifier = options.keys ?? (options.identity as Identity).keys
    this.clock = options.clock ?? systemClock
    const timeoutMs = options.timeoutMs ?? BOOTSTRAP_TIMEOUT_MS
    this.onRejectedPeer = options.onRejectedPeer
    this.expectedServerId = options.serverId === undefined ? undefined : toTextId(options.serverId)
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new MalformedError(`timeoutMs must be a positive number, got ${timeoutMs}`)
    }
    this.http = new BootstrapHttp({
      url: this.url,
      fetch: options.fetch ?? hostFetch,
      timers: options.timers ?? systemTimers,
      clock: this.clock,
      timeoutMs,
    })
  }

  /** The server's identity and parameters (`GET /v1/info`); also refreshes the cached copy. */
  async info(options: RequestOptions = {}): Promise<BootstrapInfo> {
    const reply = await this.http.request('GET', 'v1/info', options)
    const body = reply.body
    if (!isObject(body)) throw this.unexpected('v1/info', 'not an object')
    const textId = body.id
    const publicKeyText = body.publicKey
    if (typeof textId !== 'string' || typeof publicKeyText !== 'string') {
      throw this.unexpected('v1/info', 'no id or publicKey')
    }
    let id: NodeId
    let publicKey: Bytes
    try {
      id = parseTextId(textId)
      publicKey = fromBase64Url(publicKeyText, 'publicKey')
    } catch (cause) {
      throw this.unexpected('v1/info', `bad id or publicKey (${String(cause)})`)
    }
    if (publicKey.byteLength !== PUBLIC_KEY_BYTES || !idMatchesKey(id, publicKey)) {
      throw new KeyMismatchError(
        `the super-node at ${this.url.origin} claims ID ${textId}, but its public key does not hash to it; do not trust this server`,
      )
    }
    if (this.expectedServerId !== undefined && encodeTextId(id) !== this.expectedServerId) {
      throw new KeyMismatchError(
        `the super-node at ${this.url.origin} is ${encodeTextId(id)}, not the expected ${this.expectedServerId}; check the URL`,
      )
    }
    const dht = body.dht
    const info: BootstrapInfo = {
      id,
      textId: encodeTextId(id),
      publicKey,
      version: typeof body.version === 'string' ? body.version : 'unknown',
      dht: isAddress(dht) ? { host: dht.host, port: dht.port } : null,
      relay: isAddress(body.relay) ? { host: body.relay.host, port: body.relay.port } : null,
      announceTtlMs: typeof body.announceTtlMs === 'number' ? body.announceTtlMs : 0,
      announceSkewMs: typeof body.announceSkewMs === 'number' ? body.announceSkewMs : 0,
    }
    this.serverInfo = info
    return info
  }

  /**
   * Signs and posts an announce of this client's identity: "I am here, reach me at these
   * addresses". The server's ID (the audience in the signed bytes) is fetched once with
   * {@link info}. `seq` defaults to `max(clock.now(), last + 1)`, which grows across
   * restarts as long as the clock does. An empty `host` asks the server to use the address
   * it sees the request come from. Throws the server's refusal as a typed error
   * (`ReplayError`, `ClockSkewError`, `WrongAudienceError`, `RateLimitedError`…).
   */
  async announce(
    options: { addresses: PeerAddress[]; seq?: number } & RequestOptions,
  ): Promise<AnnounceResult> {
    const identity = this.identity
    if (!identity) {
      throw new NoIdentityError(
        'announce() needs an identity: new BootstrapClient({ url, identity })',
      )
    }
    const server = await this.audience(options)
    const timestamp = this.clock.now()
    const seq = options.seq ?? Math.max(timestamp, this.lastSeq + 1)
    const announce = createAnnounce(identity, {
      audience: server.id,
      addresses: options.addresses,
      seq,
      timestamp,
    })
    // Reserved before sending, so concurrent announces never share a seq.
    this.lastSeq = Math.max(this.lastSeq, seq)
    const reply = await this.http.request('POST', 'v1/announce', {
      ...options,
      json: announceToJson(announce),
    })
    const body = reply.body
    if (!isObject(body) || !isAddress(body.observed)) {
      throw this.unexpected('v1/announce', 'no observed address')
    }
    return {
      announce,
      observed: { host: body.observed.host, port: body.observed.port },
      ttlMs: typeof body.ttlMs === 'number' ? body.ttlMs : 0,
      expiresAt: typeof body.expiresAt === 'number' ? body.expiresAt : 0,
      peers: this.verifyPeers(body.peers, server),
    }
  }

  /**
   * Live peers (`GET /v1/peers`): the closest to `near` by XOR distance first when given,
   * a random sample otherwise; `limit` is 1 to {@link MAX_PEERS_LIMIT} (server default 20).
   * Peers that do not verify are dropped (see `onRejectedPeer`).
   */
  async peers(
    options: { near?: string | Uint8Array; limit?: number } & RequestOptions = {},
  ): Promise<BootstrapPeer[]> {
    const query: string[] = []
    if (options.near !== undefined) query.push(`near=${toTextId(options.near)}`)
    if (options.limit !== undefined) {
      if (
        !Number.isInteger(options.limit) ||
        options.limit < 1 ||
        options.limit > MAX_PEERS_LIMIT
      ) {
        throw new MalformedError(`limit must be 1 to ${MAX_PEERS_LIMIT}, got ${options.limit}`)
      }
      query.push(`limit=${options.limit}`)
    }
    const server = await this.audience(options)
    const path = query.length > 0 ? `v1/peers?${query.join('&')}` : 'v1/peers'
    const reply = await this.http.request('GET', path, options)
    if (!isObject(reply.body) || !Array.isArray(reply.body.peers)) {
      throw this.unexpected('v1/peers', 'no peers list')
    }
    return this.verifyPeers(reply.body.peers, server)
  }

  /**
   * The latest live announce of one ID (`GET /v1/peers/:id`), verified; **`undefined` when
   * the server has none** (HTTP 404), so "offline" is not an exception. A text ID with a
   * typo throws `BadChecksumError` before any request. An answer that does not verify, or
   * is another ID's announce, throws (`BadSignatureError`, `KeyMismatchError`…): the
   * server is lying or broken.
   */
  async resolve(
    idOrTextId: string | Uint8Array,
    options: RequestOptions = {},
  ): Promise<BootstrapPeer | undefined> {
    const textId = toTextId(idOrTextId)
    const server = await this.audience(options)
    let reply: Reply
    try {
      reply = await this.http.request('GET', `v1/peers/${encodeURIComponent(textId)}`, options)
    } catch (error) {
      if (error instanceof NotFoundError) return undefined
      throw error
    }
    const peer = this.verifyPeer(reply.body, server)
    if (peer.textId !== textId) {
      throw new KeyMismatchError(
        `the super-node at ${this.url.origin} answered ${peer.textId} when asked for ${textId}`,
      )
    }
    return peer
  }

  /** `GET /healthz`: resolves when the server process answers, throws otherwise. */
  async health(options: RequestOptions = {}): Promise<HealthStatus> {
    const reply = await this.http.request('GET', 'healthz', options)
    const body = reply.body
    return { status: isObject(body) && typeof body.status === 'string' ? body.status : 'ok' }
  }

  /**
   * `GET /readyz`: whether the server can serve. An unready server (HTTP 503 with its
   * checks) resolves with `ready: false`; only an unreachable one throws.
   */
  async ready(options: RequestOptions = {}): Promise<ReadyStatus> {
    const reply = await this.http.request('GET', 'readyz', {
      ...options,
      accept: (status) => status === 503,
    })
    const body = reply.body
    if (!isObject(body) || !isObject(body.checks)) {
      if (reply.status === 503) throw this.http.refusal(reply)
      throw this.unexpected('readyz', 'no checks')
    }
    const checks: Record<string, string> = {}
    for (const [name, value] of Object.entries(body.checks)) checks[name] = String(value)
    const status = typeof body.status === 'string' ? body.status : String(reply.status)
    return { ready: reply.status === 200 && status === 'ready', status, checks }
  }

  /**
   * The number of live peers the server reports on `GET /metrics` (`passage_live_peers`),
   * or `undefined` when it does not expose it (operators often keep /metrics private).
   */
  async livePeerCount(options: RequestOptions = {}): Promise<number | undefined> {
    const reply = await this.http.request('GET', 'metrics', { ...options, accept: () => true })
    if (reply.status !== 200) return undefined
    if (typeof reply.body !== 'string') return undefined
    const match = LIVE_PEERS_SAMPLE.exec(reply.body)
    const value = match?.[1] === undefined ? NaN : Number(match[1])
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }

  /**
   * `GET /v1/nodes`: the other super-nodes this server checked and found healthy, to refresh
   * a bootstrap list. Only the signed record is used: it must verify with the server's key
   * from {@link info} (fetched once, checked against `serverId` when given). Each listed
   * node is a hint: check its own `/v1/info` ID against the listed `id` before trusting it.
   *
   * @throws KeyMismatchError or BadSignatureError when the list is not the server's.
   */
  async nodes(options: RequestOptions = {}): Promise<NodeList> {
    const server = await this.audience(options)
    const reply = await this.http.request('GET', 'v1/nodes', options)
    const body = reply.body
    if (!isObject(body) || typeof body.record !== 'string') {
      throw this.unexpected('v1/nodes', 'no record')
    }
    return verifyNodeListRecord(body.record, server.publicKey, this.verifier)
  }

  private async audience(options: RequestOptions): Promise<BootstrapInfo> {
    return this.serverInfo ?? (await this.info(options))
  }

  private verifyPeers(list: unknown, server: BootstrapInfo): BootstrapPeer[] {
    if (!Array.isArray(list)) return []
    const peers: BootstrapPeer[] = []
    for (const item of list) {
      try {
        peers.push(this.verifyPeer(item, server))
      } catch (error) {
        this.onRejectedPeer?.(item, asPassageError(error))
      }
    }
    return peers
  }

  private verifyPeer(json: unknown, server: BootstrapInfo): BootstrapPeer {
    if (!isObject(json) || !Array.isArray(json.addresses) || !isAddress(json.observed)) {
      throw new MalformedError(`the super-node at ${this.url.origin} sent a malformed peer`)
    }
    let announce: Announce
    try {
      announce = announceFromJson(json as unknown as AnnounceJson)
    } catch (error) {
      throw asPassageError(error)
    }
    verifyAnnounce(announce, this.verifier, { audience: server.id })
    return {
      announce,
      textId: encodeTextId(announce.id),
      observed: { host: json.observed.host, port: json.observed.port },
      expiresAt: typeof json.expiresAt === 'number' ? json.expiresAt : 0,
    }
  }

  private unexpected(route: string, what: string): RemoteError {
    return new RemoteError(
      `the super-node at ${this.url.origin} answered /${route} with something this client does not understand (${what}); is it a Passage super-node of a compatible version?`,
    )
  }
}

function toTextId(id: string | Uint8Array): string {
  if (typeof id === 'string') return encodeTextId(parseTextId(id))
  if (id.byteLength !== NODE_ID_BYTES) throw new MalformedError(`an ID is ${NODE_ID_BYTES} bytes`)
  return encodeTextId(new Uint8Array(id))
}

function asPassageError(error: unknown): PassageError {
  if (error instanceof PassageError) return error
  return new MalformedError(error instanceof Error ? error.message : String(error), {
    cause: error,
  })
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isAddress(value: unknown): value is ObservedAddress {
  return isObject(value) && typeof value.host === 'string' && typeof value.port === 'number'
}
