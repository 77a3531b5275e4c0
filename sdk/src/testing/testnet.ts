import { systemClock, type Clock } from '../core/runtime/clock.js'
import { Identity } from '../core/identity/identity.js'
import type { MailboxQuota, MailboxStore } from '../core/mailbox/mailbox-store.js'
import type { DatagramSocket } from '../core/net/ports.js'
import { bindUdpSocket } from '../node/udp-socket.js'
import { libsignalKeys } from '../node/libsignal/key-provider.js'
import { DhtNode, type DhtNodeOptions } from '../core/dht/dht-node.js'
import type { NodeAddress } from '../core/dht/messages.js'

/**
 * Loopback answers in well under a millisecond, but 100 nodes share one thread (and CI shares
 * its cores): 200 ms, then 400 and 800 ms on resends, keeps lossy tests fast and still calm.
 */
const TESTNET_REQUEST_TIMEOUT_MS = 200
/** Requests in flight per node: all nodes share one thread, so keep bursts small. */
const TESTNET_MAX_IN_FLIGHT = 16
/** Nodes joining at once while the testnet is built. */
const JOIN_CONCURRENCY = 16

export interface TestnetOptions {
  /** Shared by every node (a `ManualClock` in tests). */
  clock?: Clock
  /** Fraction (0 to 1) of outgoing datagrams each node drops at random: fault injection. */
  lossRate?: number
  /** Seed of the loss pattern, for reproducible runs. */
  seed?: number
  requestTimeoutMs?: number
  retries?: number
  quota?: MailboxQuota
  /** A fresh store per node (default: {@link MemoryMailboxStore}). */
  mailboxStore?: () => MailboxStore
  /** Extra options for every node. */
  node?: Partial<Omit<DhtNodeOptions, 'identity' | 'socket'>>
}

/** An in-process DHT on 127.0.0.1. */
export interface Testnet {
  /** Live nodes, in creation order; the first is the bootstrap node. */
  readonly nodes: DhtNode[]
  /** Where newcomers bootstrap from. */
  readonly bootstrap: NodeAddress[]
  /** Creates a node and joins it to the network. */
  add(options?: { client?: boolean; identity?: Identity }): Promise<DhtNode>
  /** Stops a node abruptly (as a crash: no goodbye) and removes it from `nodes`. */
  kill(node: DhtNode): Promise<void>
  /** Stops every node and client. */
  destroy(): Promise<void>
}

/**
 * Starts `n` DHT nodes on 127.0.0.1 (random ports), joined through the first one. For tests,
 * benchmarks and SDK users trying things out; always `destroy()` it.
 *
 * @example
 * const net = await createTestnet(20)
 * t.teardown(() => net.destroy())
 * const r = await net.nodes[3]!.putEnvelope(bob.publicKey, ciphertext)
 */
export async function createTestnet(n: number, options: TestnetOptions = {}): Promise<Testnet> {
  const clock = options.clock ?? systemClock
  const random = mulberry32(options.seed ?? 1)
  const nodes: DhtNode[] = []
  const everyone = new Set<DhtNode>()

  const make = async (client: boolean, identity: Identity): Promise<DhtNode> => {
    let socket = await bindUdpSocket('127.0.0.1', 0)
    if (options.lossRate) socket = lossySocket(socket, options.lossRate, random)
    const node = new DhtNode({
      ...options.node,
      identity,
      socket,
      clock,
      client,
      requestTimeoutMs: options.requestTimeoutMs ?? TESTNET_REQUEST_TIMEOUT_MS,
      retries: options.retries ?? 2,
      maxInFlight: options.node?.maxInFlight ?? TESTNET_MAX_IN_FLIGHT,
      // Every node of a testnet sends from 127.0.0.1: one per-IP limit would throttle them all.
      rateLimit: options.node?.rateLimit ?? false,
      ...(options.quota ? { quota: options.quota } : {}),
      ...(options.mailboxStore ? { mailboxStore: options.mailboxStore() } : {}),
    })
    everyone.add(node)
    return node
  }

  const first = await make(false, Identity.generate(libsignalKeys))
  nodes.push(first)
  const bootstrap = [first.address()]
  const rest = await Promise.all(
    Array.from({ length: Math.max(0, n - 1) }, () => make(false, Identity.generate(libsignalKeys))),
  )
  nodes.push(...rest)
  // Join in small waves, then let every node look itself up once more so that early joiners
  // learn about the later ones (as bucket refresh would, without waiting for it).
  await inWaves(rest, JOIN_CONCURRENCY, (node) => node.bootstrap(bootstrap))
  await inWaves(nodes, JOIN_CONCURRENCY, (node) => node.lookup(node.id))

  return {
    nodes,
    bootstrap,
    async add(opts = {}) {
      const node = await make(
        opts.client ?? false,
        opts.identity ?? Identity.generate(libsignalKeys),
      )
      await node.bootstrap(bootstrap)
      if (!opts.client) nodes.push(node)
      return node
    },
    async kill(node) {
      const i = nodes.indexOf(node)
      if (i >= 0) nodes.splice(i, 1)
      everyone.delete(node)
      await node.destroy()
    },
    async destroy() {
      const all = [...everyone]
      everyone.clear()
      nodes.length = 0
      await Promise.all(all.map((node) => node.destroy()))
    },
  }
}

async function inWaves<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += width) {
    await Promise.all(items.slice(i, i + width).map(fn))
  }
}

/** Wraps a socket so that a fraction of outgoing datagrams is silently lost. */
export function lossySocket(
  inner: DatagramSocket,
  lossRate: number,
  random: () => number = Math.random,
): DatagramSocket {
  return {
    send: (bytes, port, host) =>
      random() < lossRate ? Promise.resolve() : inner.send(bytes, port, host),
    onMessage: (handler) => inner.onMessage(handler),
    address: () => inner.address(),
    close: () => inner.close(),
  }
}

/** A small seeded PRNG (mulberry32): reproducible loss patterns. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}
