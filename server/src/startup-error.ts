import { resolve, sep } from 'node:path'
import type { ServerConfig } from './config.js'

/** The fields of a Node system error (`listen`, `bind`, `mkdir`, `connect`) read here. */
interface SystemError {
  code?: string
  syscall?: string
  path?: string
  address?: string
  port?: number
  message?: string
  cause?: unknown
}

/** Postgres unreachable, or refusing the connection, as `pg` reports it. */
const DATABASE_NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name does not resolve now',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ECONNRESET: 'the connection was reset',
  // SQLSTATEs Postgres answers at log-in.
  '28P01': 'the password was refused',
  '28000': 'the user may not log in',
  '3D000': 'the database does not exist',
}

/** Why a data folder cannot be written. */
const FOLDER_CODES: Record<string, string> = {
  ENOTDIR: 'a file is in the way',
  EEXIST: 'a file is in the way',
  EISDIR: 'a folder is where a file should be',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
}

/** The error and its causes, outermost first (bounded: a cause chain is short). */
function chain(error: unknown): SystemError[] {
  const errors: SystemError[] = []
  let current = error
  while (current && typeof current === 'object' && errors.length < 8) {
    errors.push(current as SystemError)
    current = (current as SystemError).cause
  }
  return errors
}

/** `host:port/db` of a Postgres URL, never its user or password. */
function postgresTarget(url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`
  } catch {
    return 'the configured server'
  }
}

function inside(path: string, folder: string): boolean {
  const base = resolve(folder)
  const target = resolve(path)
  return target === base || target.startsWith(base + sep)
}

/**
 * The one sentence `passage-server` prints when it cannot start for a reason the operator
 * can fix (a port in use, Postgres unreachable, the data folder unwritable): what is wrong
 * and what to do. `undefined` for anything else (a bug: the caller logs the stack).
 */
export function startupErrorSentence(error: unknown, config: ServerConfig): string | undefined {
  for (const e of chain(error)) {
    const code = e.code ?? ''
    if (e.syscall === 'listen' || e.syscall === 'bind') {
      const http = e.syscall === 'listen'
      const what = http ? 'HTTP port' : 'DHT port'
      const proto = http ? 'TCP' : 'UDP'
      const host = e.address ?? config.httpHost
      const port = e.port ?? (http ? config.httpPort : config.dhtPort)
      const flag = http ? '--http-port (PASSAGE_HTTP_PORT)' : '--dht-port (PASSAGE_DHT_PORT)'
      if (code === 'EADDRINUSE') {
        return `The ${what} ${port} (${proto}) on ${host} is already in use: stop the program using it, or choose another port with ${flag}.`
      }
      if (code === 'EACCES' || code === 'EPERM') {
        return `Not allowed to listen on ${what} ${port} (${proto}) on ${host} (ports below 1024 need privileges): choose a port of 1024 or above with ${flag}, or grant CAP_NET_BIND_SERVICE.`
      }
      if (code === 'EADDRNOTAVAIL') {
        return `${host} is not an address of this machine: set --http-host (PASSAGE_HTTP_HOST) to one of its addresses, or 0.0.0.0 for all of them.`
      }
    }
    if (config.databaseUrl && DATABASE_NETWORK_CODES[code]) {
      return `Cannot use Postgres at ${postgresTarget(config.databaseUrl)} (DATABASE_URL): ${DATABASE_NETWORK_CODES[code]}. Start Postgres there or correct DATABASE_URL; leave it unset to keep the data in the embedded database under --data-dir.`
    }
    if (config.databaseUrl && /connection timeout|timeout expired/i.test(e.message ?? '')) {
      return `Cannot use Postgres at ${postgresTarget(config.databaseUrl)} (DATABASE_URL): the connection timed out. Start Postgres there or correct DATABASE_URL; leave it unset to keep the data in the embedded database under --data-dir.`
    }
    if (e.path && FOLDER_CODES[code] && inside(e.path, config.dataDir)) {
      return `Cannot write the data folder ${resolve(config.dataDir)} (${FOLDER_CODES[code]} at ${e.path}): point --data-dir (PASSAGE_DATA_DIR) at a folder this user can write, or fix that path.`
    }
  }
  return undefined
}
