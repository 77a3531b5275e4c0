import {
  BootstrapClient,
  MAX_PEERS_LIMIT,
  MalformedError,
  PassageError,
  type BootstrapInfo,
  type ReadyStatus,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { style } from '../style.js'
import { table } from '../table.js'

/** How long `passage status` waits for each answer: 5 s, a status check must be quick. */
const STATUS_TIMEOUT_MS = 5_000

export interface StatusOptions {
  server?: string
  json?: boolean
  timeout?: string
}

/** Collaborators a test may replace. */
export interface StatusDeps {
  fetch?: typeof globalThis.fetch
  /** Monotonic milliseconds, for the response time. */
  now?: () => number
}

interface Part<T> {
  value?: T
  error?: PassageError
}

async function part<T>(promise: Promise<T>): Promise<Part<T>> {
  try {
    return { value: await promise }
  } catch (error) {
    if (error instanceof PassageError) return { error }
    throw error
  }
}

/**
 * `passage status --server URL`: the super-node's identity, health, readiness and live
 * peers, as a table or JSON. Exit 0 when healthy and ready, 1 when it answers but is not
 * ready (or refuses a part), 3 when it cannot be reached.
 */
export async function statusCommand(
  options: StatusOptions,
  io: CliIo,
  deps: StatusDeps = {},
): Promise<ExitCode> {
  const server = options.server ?? io.env.PASSAGE_SERVERS?.split(',')[0]?.trim()
  if (!server) {
    throw new MalformedError('which super-node? pass --server URL (or set PASSAGE_SERVERS)')
  }
  const timeoutMs = options.timeout === undefined ? STATUS_TIMEOUT_MS : Number(options.timeout)
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new MalformedError(`--timeout is in milliseconds, got ${options.timeout}`)
  }
  let rejectedPeers = 0
  const client = new BootstrapClient({
    keys: libsignalKeys,
    url: server,
    timeoutMs,
    onRejectedPeer: () => rejectedPeers++,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  })
  const now = deps.now ?? (() => performance.now())

  const started = now()
  let health
  try {
    health = await client.health()
  } catch (error) {
    if (options.json && error instanceof PassageError) {
      const json = {
        server: client.url.href,
        reachable: false,
        error: { code: error.code, message: error.message },
      }
      io.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
    }
    throw error
  }
  const latencyMs = Math.round(now() - started)
  const [info, ready, counted] = await Promise.all([
    part(client.info()),
    part(client.ready()),
    part(client.livePeerCount()),
  ])
  // Peers are checked against the server's ID, which info() just fetched. The sample also
  // gives the count when the server keeps /metrics private.
  const peers = info.value ? await part(client.peers({ limit: MAX_PEERS_LIMIT })) : {}
  const exact = counted.value
  const livePeers = exact ?? peers.value?.length
  const capped = exact === undefined && livePeers === MAX_PEERS_LIMIT

  const healthy = ready.value?.ready === true && !info.error && !peers.error
  if (options.json) {
    const json = {
      server: client.url.href,
      reachable: true,
      latencyMs,
      health: health.status,
      ready: ready.value ?? null,
      info: info.value ? infoJson(info.value) : null,
      livePeers: livePeers ?? null,
      livePeersSource: exact !== undefined ? 'metrics' : livePeers !== undefined ? 'peers' : null,
      livePeersCapped: capped,
      rejectedPeers,
      errors: [info, ready, peers]
        .map((p) => p.error)
        .filter((e) => e !== undefined)
        .map((e) => ({ code: e.code, message: e.message })),
    }
    io.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
    return healthy ? ExitCode.ok : ExitCode.failure
  }

  const s = style(io)
  const failed = (p: Part<unknown>) => s.red(`error: ${p.error?.message ?? 'unknown'}`)
  const rows: [string, string][] = [['Super-node', client.url.href]]
  if (info.value) {
    rows.push(
      ['ID', s.bold(info.value.textId)],
      ['Version', info.value.version],
      [
        'DHT',
        info.value.dht ? `${info.value.dht.host}:${info.value.dht.port}` : s.dim('not running'),
      ],
      ['Announce TTL', duration(info.value.announceTtlMs)],
    )
  } else {
    rows.push(['ID', failed(info)])
  }
  rows.push(['Health', `${s.green(health.status)} ${s.dim(`(${latencyMs} ms)`)}`])
  rows.push(['Ready', ready.value ? readyText(ready.value, s) : failed(ready)])
  if (livePeers !== undefined) {
    const count = capped ? `${livePeers}+` : String(livePeers)
    const source = exact !== undefined ? '' : s.dim(' (counted from a sample; /metrics is private)')
    const note =
      rejectedPeers > 0 ? s.red(` (${rejectedPeers} listed peers failed verification)`) : ''
    rows.push(['Live peers', `${count}${source}${note}`])
  } else if (peers.error) {
    rows.push(['Live peers', failed(peers)])
  }
  io.stdout.write(table(rows, { label: s.dim }))
  if (healthy) return ExitCode.ok
  const why = ready.value && !ready.value.ready ? 'is not ready' : 'answered with errors'
  io.stderr.write(
    `${style(io, io.stderr).red('error:')} the super-node at ${client.url.href} answers but ${why}; see above\n`,
  )
  return ExitCode.failure
}

function readyText(ready: ReadyStatus, s: ReturnType<typeof style>): string {
  const checks = Object.entries(ready.checks)
    .map(([name, value]) => `${name}: ${value}`)
    .join(', ')
  const word = ready.ready ? s.green('ready') : s.red(ready.status || 'not ready')
  return checks ? `${word} ${s.dim(`(${checks})`)}` : word
}

function infoJson(info: BootstrapInfo) {
  return {
    id: info.textId,
    version: info.version,
    dht: info.dht,
    announceTtlMs: info.announceTtlMs,
    announceSkewMs: info.announceSkewMs,
  }
}

function duration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`
  return `${Math.round(ms / 1000)} s`
}
