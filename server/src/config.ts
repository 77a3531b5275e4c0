import { readFileSync } from 'node:fs'
import { DEFAULT_MAILBOX_QUOTA, type MailboxQuota } from '@passage/sdk'
import { Command, InvalidArgumentError, Option } from 'commander'
import { DEFAULT_RELAY_LIMITS, DEFAULT_RELAY_PORT, type RelayLimits } from './relay/relay-limits.js'

/** Default HTTP port of the bootstrap service. */
export const DEFAULT_HTTP_PORT = 8080
/** How long an announce lives: 10 min, so a node re-announces a few times per lifetime. */
export const DEFAULT_ANNOUNCE_TTL_MS = 600_000
/** Accepted clock skew of an announce: ±60 s, as Session's storage servers accept. */
export const DEFAULT_ANNOUNCE_SKEW_MS = 60_000
/** Requests per minute from one IP: 2 per second, far above an honest node's needs. */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 120
/** Largest accepted request body: 16 KiB; an announce with 8 addresses is under 2 KiB. */
export const BODY_LIMIT_BYTES = 16_384
/** How often expired announces are deleted: every 60 s keeps the table small without churn. */
export const DEFAULT_SWEEP_INTERVAL_MS = 60_000
/** How often the other super-nodes are checked: every 60 s notices an outage within a minute. */
export const DEFAULT_PEER_NODE_CHECK_INTERVAL_MS = 60_000
/** How long one check of another super-node may take: 5 s, generous for a healthy server. */
export const DEFAULT_PEER_NODE_TIMEOUT_MS = 5_000

/** A `host:port` pair. */
export interface Endpoint {
  host: string
  port: number
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
/** `json`: one JSON object a line (Docker, log collectors); `pretty`: a line for people. */
export const LOG_FORMATS = ['json', 'pretty'] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

/** Fastify's `trustProxy`: off, on, a hop count, or the proxies' addresses/CIDRs. */
export type TrustProxy = boolean | number | string[]

/** Everything `passage-server` can be told, by flag or environment. */
export interface ServerConfig {
  httpHost: string
  httpPort: number
  /** `postgres://…` to use a Postgres server; undefined for embedded PGlite in `dataDir`. */
  databaseUrl: string | undefined
  dataDir: string
  announceTtlMs: number
  announceSkewMs: number
  /** Requests per minute per client IP; 0 turns the limit off (benchmarks). */
  rateLimitPerMinute: number
  bodyLimitBytes: number
  logLevel: LogLevel
  logFormat: LogFormat
  trustProxy: TrustProxy
  /** UDP port of the DHT node (reserved for the DHT; 0 picks a free port). */
  dhtPort: number | undefined
  /** DHT nodes to join through (reserved for the DHT). */
  bootstrap: Endpoint[]
  /** The DHT endpoint published in `GET /v1/info`; null while there is no DHT. */
  dhtEndpoint: Endpoint | null
  sweepIntervalMs: number
  /** Base URLs of other super-nodes to check and list at `GET /v1/nodes`. */
  peerNodes: string[]
  /** How often they are checked. */
  peerNodeCheckIntervalMs: number
  /** How long one check (each request) may take. */
  peerNodeTimeoutMs: number
  /**
   * List live peers (their IDs with IP address and port) to anyone: `GET /v1/peers` and the
   * sample in announce answers. Off: both list nobody; `GET /v1/peers/{id}` still resolves
   * an ID the asker already knows.
   */
  peersPublic: boolean
  /** Limits of the mailboxes the DHT node stores (per mailbox; per sender address). */
  mailboxQuota: MailboxQuota
  /** Relay links between clients that cannot dial each other (off by default: it costs bandwidth). */
  relay: boolean
  /** TCP port of the relay (0 picks a free one); it binds on `httpHost`. */
  relayPort: number
  /** Per-client limits of the relay. */
  relayLimits: RelayLimits
}

/** The configuration with every default, optionally overridden (handy in tests). */
export function defaultConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    httpHost: '0.0.0.0',
    httpPort: DEFAULT_HTTP_PORT,
    databaseUrl: undefined,
    dataDir: './data',
    announceTtlMs: DEFAULT_ANNOUNCE_TTL_MS,
    announceSkewMs: DEFAULT_ANNOUNCE_SKEW_MS,
    rateLimitPerMinute: DEFAULT_RATE_LIMIT_PER_MINUTE,
    bodyLimitBytes: BODY_LIMIT_BYTES,
    logLevel: 'info',
    logFormat: 'json',
    trustProxy: false,
    dhtPort: undefined,
    bootstrap: [],
    dhtEndpoint: null,
    sweepIntervalMs: DEFAULT_SWEEP_INTERVAL_MS,
    peerNodes: [],
    peerNodeCheckIntervalMs: DEFAULT_PEER_NODE_CHECK_INTERVAL_MS,
    peerNodeTimeoutMs: DEFAULT_PEER_NODE_TIMEOUT_MS,
    peersPublic: false,
    mailboxQuota: { ...DEFAULT_MAILBOX_QUOTA },
    relay: false,
    relayPort: DEFAULT_RELAY_PORT,
    relayLimits: { ...DEFAULT_RELAY_LIMITS },
    ...overrides,
  }
}

function parseInteger(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got "${value}"`)
    }
    return n
  }
}

const parsePort = parseInteger(0, 65_535)

/** Parses `host:port` or `[ipv6]:port`. */
export function parseEndpoint(value: string): Endpoint {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value.trim())
  const port = Number(match?.[3])
  if (!match || port < 1 || port > 65_535) {
    throw new InvalidArgumentError(`expected host:port (IPv6 as [addr]:port), got "${value}"`)
  }
  return { host: (match[1] ?? match[2])!, port }
}

function collectEndpoints(value: string, previous: Endpoint[]): Endpoint[] {
  const parsed = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map(parseEndpoint)
  return [...previous, ...parsed]
}

/** Parses a super-node's base URL (`http://` or `https://`, no query); returns it without a trailing `/`. */
export function parseNodeUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw new InvalidArgumentError(`expected an http:// or https:// URL, got "${value}"`)
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash) {
    throw new InvalidArgumentError(`expected an http:// or https:// URL, got "${value}"`)
  }
  return url.href.replace(/\/+$/, '')
}

function collectUrls(value: string, previous: string[]): string[] {
  const parsed = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map(parseNodeUrl)
  return [...new Set([...previous, ...parsed])]
}

/** Parses `--trust-proxy`: true/false, a hop count, or a comma-separated list of addresses. */
export function parseTrustProxy(value: string): TrustProxy {
  const text = value.trim().toLowerCase()
  if (['true', 'yes', '1', 'on'].includes(text)) return true
  if (['false', 'no', '0', 'off', ''].includes(text)) return false
  if (/^\d+$/.test(text)) return Number(text)
  const list = text.split(',').map((part) => part.trim())
  if (list.some((part) => !/^[0-9a-f:.]+(\/\d{1,3})?$/.test(part))) {
    throw new InvalidArgumentError(
      `expected true, false, a hop count, or proxy addresses/CIDRs separated by commas, got "${value}"`,
    )
  }
  return list
}

function parseLogLevel(value: string): LogLevel {
  const level = value.trim().toLowerCase()
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}, got "${value}"`)
  }
  return level as LogLevel
}

/** Parses a yes/no setting: true, false, yes, no, 1, 0, on, off. */
export function parseBoolean(value: string): boolean {
  const text = value.trim().toLowerCase()
  if (['true', 'yes', '1', 'on'].includes(text)) return true
  if (['false', 'no', '0', 'off'].includes(text)) return false
  throw new InvalidArgumentError(`expected true or false, got "${value}"`)
}

function parseLogFormat(value: string): LogFormat {
  const format = value.trim().toLowerCase()
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    throw new InvalidArgumentError(`expected ${LOG_FORMATS.join(' or ')}, got "${value}"`)
  }
  return format as LogFormat
}

/** server/package.json's version (one level up from src/ and from dist/). */
function serverVersion(): string {
  const url = new URL('../package.json', import.meta.url)
  return (JSON.parse(readFileSync(url, 'utf8')) as { version?: string }).version ?? '0.0.0'
}

/**
 * The `passage-server` command line: every option is a flag and an environment variable
 * (shown by `--help`). Flags win over the environment, the environment over defaults.
 */
export function buildCommand(): Command {
  const defaults = defaultConfig()
  return new Command('passage-server')
    .description(
      'The Passage super-node: bootstrap (peer discovery) service over HTTP, with Prometheus metrics.\n' +
        'Without DATABASE_URL it keeps its data in embedded Postgres (PGlite) under --data-dir.',
    )
    .addOption(
      new Option('--http-host <host>', 'address to listen on')
        .env('PASSAGE_HTTP_HOST')
        .default(defaults.httpHost),
    )
    .addOption(
      new Option('--http-port <port>', 'TCP port to listen on (0 picks a free one)')
        .env('PASSAGE_HTTP_PORT')
        .default(defaults.httpPort)
        .argParser(parsePort),
    )
    .addOption(
      new Option('--database-url <url>', 'Postgres connection URL; unset: embedded PGlite').env(
        'DATABASE_URL',
      ),
    )
    .addOption(
      new Option('--data-dir <dir>', 'data folder of the embedded database')
        .env('PASSAGE_DATA_DIR')
        .default(defaults.dataDir),
    )
    .addOption(
      new Option('--announce-ttl <seconds>', 'how long an announce stays live')
        .env('PASSAGE_ANNOUNCE_TTL')
        .default(defaults.announceTtlMs / 1000)
        .argParser(parseInteger(1, 86_400)),
    )
    .addOption(
      new Option('--rate-limit <per-minute>', 'requests per minute per client IP (0: no limit)')
        .env('PASSAGE_RATE_LIMIT')
        .default(defaults.rateLimitPerMinute)
        .argParser(parseInteger(0, 1_000_000)),
    )
    .addOption(
      new Option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')}`)
        .env('PASSAGE_LOG_LEVEL')
        .default(defaults.logLevel)
        .argParser(parseLogLevel),
    )
    .addOption(
      new Option('--log-format <format>', 'json (one object a line) or pretty (for people)')
        .env('PASSAGE_LOG_FORMAT')
        .default(defaults.logFormat)
        .argParser(parseLogFormat),
    )
    .addOption(
      new Option(
        '--trust-proxy <value>',
        'trust X-Forwarded-For: true, false, a hop count, or proxy addresses/CIDRs',
      )
        .env('PASSAGE_TRUST_PROXY')
        .default(false)
        .argParser(parseTrustProxy),
    )
    .addOption(
      new Option('--dht-port <port>', 'UDP port of the DHT node (0 picks a free one)')
        .env('PASSAGE_DHT_PORT')
        .argParser(parsePort),
    )
    .addOption(
      new Option(
        '--dht-advertise <host:port>',
        'the public DHT endpoint to publish in /v1/info (default: the host clients used, and the DHT port)',
      )
        .env('PASSAGE_DHT_ADVERTISE')
        .argParser(parseEndpoint),
    )
    .addOption(
      new Option(
        '--bootstrap <host:port>',
        'a DHT node to join through; repeatable (env: comma-separated)',
      )
        .env('PASSAGE_BOOTSTRAP')
        .default([])
        .argParser(collectEndpoints),
    )
    .addOption(
      new Option(
        '--peer-node <url>',
        'another super-node to check and list at /v1/nodes; repeatable (env: comma-separated)',
      )
        .env('PASSAGE_PEER_NODES')
        .default([])
        .argParser(collectUrls),
    )
    .addOption(
      new Option(
        '--peers-public [yes]',
        'list live peers (IDs with IP and port) to anyone at GET /v1/peers and in announce answers; off: lists nobody, resolving a known ID still works',
      )
        .env('PASSAGE_PEERS_PUBLIC')
        .default(defaults.peersPublic)
        .preset('true')
        .argParser(parseBoolean),
    )
    .addOption(
      new Option('--mailbox-max-messages <n>', 'envelopes one mailbox may hold')
        .env('PASSAGE_MAILBOX_MAX_MESSAGES')
        .default(defaults.mailboxQuota.maxCount)
        .argParser(parseInteger(1, 10_000_000)),
    )
    .addOption(
      new Option('--mailbox-max-bytes <bytes>', 'bytes one mailbox may hold')
        .env('PASSAGE_MAILBOX_MAX_BYTES')
        .default(defaults.mailboxQuota.maxBytes)
        .argParser(parseInteger(1024, 2 ** 40)),
    )
    .addOption(
      new Option(
        '--mailbox-max-source-bytes <bytes>',
        'bytes stored for one sender IP address, over all mailboxes',
      )
        .env('PASSAGE_MAILBOX_MAX_SOURCE_BYTES')
        .default(defaults.mailboxQuota.maxSourceBytes)
        .argParser(parseInteger(1024, 2 ** 40)),
    )
    .addOption(
      new Option(
        '--relay [yes]',
        'relay end-to-end encrypted links between clients that cannot dial each other (TCP, on --relay-port)',
      )
        .env('PASSAGE_RELAY')
        .default(defaults.relay)
        .preset('true')
        .argParser(parseBoolean),
    )
    .addOption(
      new Option('--relay-port <port>', 'TCP port of the relay (0 picks a free one)')
        .env('PASSAGE_RELAY_PORT')
        .default(defaults.relayPort)
        .argParser(parsePort),
    )
    .addOption(
      new Option('--relay-max-links <n>', 'relayed links one client may have open at once')
        .env('PASSAGE_RELAY_MAX_LINKS')
        .default(defaults.relayLimits.maxLinks)
        .argParser(parseInteger(1, 100_000)),
    )
    .addOption(
      new Option(
        '--relay-max-bytes <bytes>',
        'bytes one client may send through the relay per hour',
      )
        .env('PASSAGE_RELAY_MAX_BYTES')
        .default(defaults.relayLimits.maxBytes)
        .argParser(parseInteger(1024, 2 ** 40)),
    )
    .addOption(
      new Option('--relay-max-duration <seconds>', 'how long one relayed link may last')
        .env('PASSAGE_RELAY_MAX_DURATION')
        .default(defaults.relayLimits.maxDurationMs / 1000)
        .argParser(parseInteger(1, 86_400)),
    )
    .version(serverVersion(), '-V, --version', 'show the version')
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
}

interface ParsedOptions {
  httpHost: string
  httpPort: number
  databaseUrl?: string
  dataDir: string
  announceTtl: number
  rateLimit: number
  logLevel: LogLevel
  logFormat: LogFormat
  trustProxy: TrustProxy
  dhtPort?: number
  dhtAdvertise?: Endpoint
  bootstrap: Endpoint[]
  peerNode: string[]
  peersPublic: boolean
  mailboxMaxMessages: number
  mailboxMaxBytes: number
  mailboxMaxSourceBytes: number
  relay: boolean
  relayPort: number
  relayMaxLinks: number
  relayMaxBytes: number
  relayMaxDuration: number
}

/**
 * Parses the command line (`argv` as in `process.argv`, node and script first) and the
 * environment (`process.env`, read by commander). Prints help or an error and exits on
 * `--help` or bad input, unless `command` was set up with `exitOverride()`.
 */
export function parseConfig(argv: string[], command: Command = buildCommand()): ServerConfig {
  command.parse(argv)
  const options = command.opts<ParsedOptions>()
  return defaultConfig({
    httpHost: options.httpHost,
    httpPort: options.httpPort,
    databaseUrl: options.databaseUrl?.trim() || undefined,
    dataDir: options.dataDir,
    announceTtlMs: options.announceTtl * 1000,
    rateLimitPerMinute: options.rateLimit,
    logLevel: options.logLevel,
    logFormat: options.logFormat,
    trustProxy: options.trustProxy,
    dhtPort: options.dhtPort,
    dhtEndpoint: options.dhtAdvertise ?? null,
    bootstrap: options.bootstrap,
    peerNodes: options.peerNode,
    peersPublic: options.peersPublic,
    mailboxQuota: {
      maxCount: options.mailboxMaxMessages,
      maxBytes: options.mailboxMaxBytes,
      maxSourceBytes: options.mailboxMaxSourceBytes,
    },
    relay: options.relay,
    relayPort: options.relayPort,
    relayLimits: {
      ...DEFAULT_RELAY_LIMITS,
      maxLinks: options.relayMaxLinks,
      maxBytes: options.relayMaxBytes,
      maxDurationMs: options.relayMaxDuration * 1000,
    },
  })
}
