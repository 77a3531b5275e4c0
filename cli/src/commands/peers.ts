import {
  BEACON_INTERVAL_MS,
  BootstrapClient,
  MalformedError,
  MAX_PEERS_LIMIT,
  PassageError,
  type LanPeer,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import type { CliIo } from '../cli-io.js'
import { ExitCode } from '../exit-code.js'
import { serversOf, withClient, type ClientCommandOptions } from '../open-client.js'
import { style } from '../style.js'

/** How long `passage peers` listens for LAN beacons: one beacon interval and a little. */
const LAN_WAIT_MS = BEACON_INTERVAL_MS + 500
/** Bound on each super-node request. */
const PEERS_TIMEOUT_MS = 5_000 // 5 s, as `passage status`

export interface PeersOptions extends ClientCommandOptions {
  json?: boolean
  lanWait?: string
}

interface ServerPeers {
  server: string
  peers: Array<{ id: string; observed: string; addresses: string[]; expiresAt: string }>
  error?: string
}

/**
 * `passage peers [--json]`: the peers seen on the LAN (signed beacons, while listening for
 * `--lan-wait` ms) and the live peers each super-node lists (signatures re-verified).
 * Exit 3 when no super-node could be asked and nothing was heard on the LAN.
 */
export async function peersCommand(options: PeersOptions, io: CliIo): Promise<ExitCode> {
  const lanWaitMs = options.lanWait === undefined ? LAN_WAIT_MS : Number(options.lanWait)
  if (!Number.isInteger(lanWaitMs) || lanWaitMs < 0) {
    throw new MalformedError(`--lan-wait is in milliseconds, got ${options.lanWait}`)
  }
  const { lan, servers, me } = await withClient(
    options,
    io,
    { background: false },
    async (client) => {
      const wanted = serversOf(options, io) ?? client.status().superNodes.map((s) => s.url)
      const asked = Promise.all(wanted.map((url) => askServer(url)))
      await new Promise((resolve) => setTimeout(resolve, lanWaitMs))
      return { lan: client.lanPeers(), servers: await asked, me: client.textId }
    },
  )
  const others = servers.map((s) => ({ ...s, peers: s.peers.filter((p) => p.id !== me) }))
  if (options.json) {
    const json = { lan: lan.map(lanJson), superNodes: others }
    io.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  } else {
    const s = style(io)
    io.stdout.write(`${s.bold('LAN')} ${s.dim(`(${lan.length})`)}\n`)
    for (const p of lan) {
      const where = p.addresses.map((a) => `${a.host}:${a.port}`).join(' ')
      io.stdout.write(`  ${p.textId}  ${where}${p.contactId ? s.green('  contact') : ''}\n`)
    }
    if (lan.length === 0) io.stdout.write(s.dim('  none heard\n'))
    for (const server of others) {
      io.stdout.write(`${s.bold(server.server)} ${s.dim(`(${server.peers.length})`)}\n`)
      if (server.error) io.stdout.write(`  ${s.red(`error: ${server.error}`)}\n`)
      for (const p of server.peers) {
        io.stdout.write(`  ${p.id}  ${p.addresses.join(' ') || p.observed}\n`)
      }
    }
    if (others.length === 0) {
      io.stdout.write(s.dim('No super-node configured: pass --server URL or set PASSAGE_SERVERS\n'))
    }
  }
  const anyServer = others.some((s) => s.error === undefined)
  return anyServer || lan.length > 0 ? ExitCode.ok : ExitCode.unreachable
}

async function askServer(url: string): Promise<ServerPeers> {
  const client = new BootstrapClient({ keys: libsignalKeys, url, timeoutMs: PEERS_TIMEOUT_MS })
  try {
    // info() first: the listed announces are verified against the server's own ID.
    await client.info()
    const peers = await client.peers({ limit: MAX_PEERS_LIMIT })
    return {
      server: client.url.href,
      peers: peers.map((p) => ({
        id: p.textId,
        observed: `${p.observed.host}:${p.observed.port}`,
        addresses: p.announce.addresses.map((a) => `${a.transport}://${a.host}:${a.port}`),
        expiresAt: new Date(p.expiresAt).toISOString(),
      })),
    }
  } catch (error) {
    if (!(error instanceof PassageError)) throw error
    return { server: client.url.href, peers: [], error: error.message }
  }
}

function lanJson(peer: LanPeer) {
  return {
    id: peer.textId,
    addresses: peer.addresses.map((a) => `${a.host}:${a.port}`),
    lastSeenAt: new Date(peer.lastSeenAt).toISOString(),
    contact: peer.contactId ?? null,
  }
}
