import { readdir, readFile, readlink } from 'node:fs/promises'
import { join } from 'node:path'

/** What the kernel counts for a UDP socket (Linux, `/proc/net/udp` and `/proc/net/udp6`). */
export interface UdpSocketCounters {
  /** Datagrams dropped since the socket was bound, mostly for a full receive buffer. */
  drops: number
  /** Bytes waiting in the receive buffer now. */
  receiveQueueBytes: number
}

/** Column indexes of a `/proc/net/udp` line (the header names them). */
const LOCAL_ADDRESS = 1
const QUEUES = 4 // tx_queue:rx_queue, hexadecimal
const INODE = 9
const DROPS = 12

/** The inodes of this process's sockets, from `/proc/self/fd` (empty when unreadable). */
async function ownSocketInodes(procRoot: string): Promise<Set<string>> {
  const inodes = new Set<string>()
  const dir = join(procRoot, 'self', 'fd')
  let fds: string[]
  try {
    fds = await readdir(dir)
  } catch {
    return inodes
  }
  await Promise.all(
    fds.map(async (fd) => {
      const target = await readlink(join(dir, fd)).catch(() => '')
      const match = /^socket:\[(\d+)\]$/.exec(target)
      if (match) inodes.add(match[1]!)
    }),
  )
  return inodes
}

/**
 * The kernel's counters of this process's UDP socket(s) bound to local `port`: sockets are
 * matched by port in `/proc/net/udp` and `/proc/net/udp6`, and by inode among this process's
 * open sockets (another process's socket on the same port is not counted). Resolves with
 * `undefined` where the files are not there (not Linux, no /proc) or no socket matched: the
 * caller then exports nothing rather than a misleading zero.
 *
 * @example
 * const c = await readUdpSocketCounters(7401) // { drops: 0, receiveQueueBytes: 0 }
 */
export async function readUdpSocketCounters(
  port: number,
  procRoot = '/proc',
): Promise<UdpSocketCounters | undefined> {
  const tables = await Promise.all(
    ['udp', 'udp6'].map((name) => readFile(join(procRoot, 'net', name), 'utf8').catch(() => '')),
  )
  if (tables.every((text) => text === '')) return undefined
  const own = await ownSocketInodes(procRoot)
  let found: UdpSocketCounters | undefined
  for (const text of tables) {
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length <= DROPS) continue
      const local = f[LOCAL_ADDRESS]!
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue
      // Without /proc/self/fd (a restricted /proc), the port alone decides.
      if (own.size > 0 && !own.has(f[INODE]!)) continue
      const queues = f[QUEUES]!
      found ??= { drops: 0, receiveQueueBytes: 0 }
      found.drops += Number.parseInt(f[DROPS]!, 10) || 0
      found.receiveQueueBytes += Number.parseInt(queues.slice(queues.indexOf(':') + 1), 16) || 0
    }
  }
  return found
}
