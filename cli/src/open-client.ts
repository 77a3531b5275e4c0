import { MalformedError, type PassageClient } from '@passage/sdk'
import { createNodeClient, type NodeClientOptions } from '@passage/sdk/node'
import type { CliIo } from './cli-io.js'
import { home } from './home.js'

/** The options every command that opens a client accepts. */
export interface ClientCommandOptions {
  home?: string
  /** `--server URL`, repeatable. */
  server?: string[]
}

/**
 * The super-nodes asked for: `--server` (repeatable), else `PASSAGE_SERVERS` (comma-separated),
 * else `undefined` (the client then uses those remembered in the home). `http://` may be
 * omitted, as in `passage status`.
 */
export function serversOf(options: ClientCommandOptions, io: CliIo): string[] | undefined {
  const given = options.server?.length ? options.server : (io.env.PASSAGE_SERVERS ?? '').split(',')
  const urls = given.map((url) => url.trim()).filter((url) => url.length > 0)
  if (urls.length === 0) return undefined
  return urls.map((url) => serverUrl(url))
}

/** A super-node URL as remembered: `http://` added when missing, no trailing slash. */
export function serverUrl(url: string, flag = '--server'): string {
  const full = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`
  let parsed: URL
  try {
    parsed = new URL(full)
  } catch {
    throw new MalformedError(`${flag}: not a URL: ${url}`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new MalformedError(`${flag}: a super-node URL is http:// or https://, got ${url}`)
  }
  return parsed.href.replace(/\/$/, '')
}

/**
 * LAN discovery as `PASSAGE_LAN` asks: unset (multicast on the OS's default interface),
 * `off`, or the address of the interface to use (e.g. `127.0.0.1` to stay on this machine);
 * `PASSAGE_LAN_PORT` picks the beacon port.
 */
export function lanOf(io: CliIo): NodeClientOptions['lan'] {
  const lan = io.env.PASSAGE_LAN?.trim()
  const port = io.env.PASSAGE_LAN_PORT?.trim()
  if (lan === 'off' || lan === '0' || lan === 'false') return false
  const portNumber = port ? Number(port) : undefined
  if (
    portNumber !== undefined &&
    !(Number.isInteger(portNumber) && portNumber > 0 && portNumber < 65536)
  ) {
    throw new MalformedError(`PASSAGE_LAN_PORT must be a UDP port, got ${port}`)
  }
  if (!lan && portNumber === undefined) return undefined
  return {
    ...(lan ? { interface: lan } : {}),
    ...(portNumber !== undefined ? { port: portNumber } : {}),
  }
}

/**
 * Opens the client of the command's home (`--home`/`PASSAGE_HOME`), with the super-nodes of
 * `--server`/`PASSAGE_SERVERS` (which the client remembers in the home). `network: false`
 * opens the home only: contacts and history, no sockets. A home that does not exist is
 * reported (`NoIdentityError`, which says to run `passage init`), never created.
 */
export async function openClient(
  options: ClientCommandOptions,
  io: CliIo,
  extra: Omit<NodeClientOptions, 'home' | 'servers'> = {},
): Promise<PassageClient> {
  const servers = serversOf(options, io)
  const dir = home(options.home, io)
  const lan = lanOf(io)
  return createNodeClient({
    home: dir,
    ...(servers ? { servers } : {}),
    ...(lan !== undefined ? { lan } : {}),
    ...extra,
  })
}

/** Runs `body` with an open client and always closes it. */
export async function withClient<T>(
  options: ClientCommandOptions,
  io: CliIo,
  extra: Omit<NodeClientOptions, 'home' | 'servers'>,
  body: (client: PassageClient) => Promise<T>,
): Promise<T> {
  const client = await openClient(options, io, extra)
  try {
    return await body(client)
  } finally {
    await client.close()
  }
}
