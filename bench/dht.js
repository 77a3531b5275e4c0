// Issue 3 benchmark: iterative lookups on our DHT testnet against hyperdht's testnet, same
// sizes, same workload, same run. Each (implementation, size) runs in a fresh child process
// started with --expose-gc, so memory per node is an RSS delta after a GC, not polluted by the
// other network. Lookups are sequential, from random nodes to random targets; every one of ours
// is checked against the true k closest computed from the testnet's node IDs (hyperdht's too,
// for information). Latency and memory are reported as our/their ratios (goal: at most 1).
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { runChild } from './child.js'
import { median, percentile, fmt } from './lib.js'

const SIZES = (process.env.BENCH_DHT_SIZES ?? '50,200').split(',').map(Number)
const LOOKUPS = Number(process.env.BENCH_DHT_LOOKUPS ?? 300) // timed lookups per size
const WARMUP = 20 // untimed lookups first: JIT and caches settle alike for both
const LOOKUP_BUDGET_MS = 40_000 // stop timing after this even if fewer lookups ran
const CHILD_TIMEOUT_MS = 150_000 // build + lookups + teardown of one network

/** XOR-distance order of `a` and `b` to `target` (all the same length). */
function compareXor(target, a, b) {
  for (let i = 0; i < target.length; i++) {
    const da = a[i] ^ target[i]
    const db = b[i] ^ target[i]
    if (da !== db) return da - db
  }
  return 0
}

const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i])

/** The true k closest IDs to `target` among `ids`, leaving `self` out. */
function truth(ids, self, target, k) {
  return ids
    .filter((id) => !sameBytes(id, self))
    .sort((a, b) => compareXor(target, a, b))
    .slice(0, k)
}

function exact(found, expected) {
  return found.length === expected.length && found.every((id, i) => sameBytes(id, expected[i]))
}

function gcRss() {
  globalThis.gc?.()
  globalThis.gc?.()
  return process.memoryUsage()
}

/** Our testnet: DhtNode.lookup() returns the k closest verified nodes and its hop count. */
async function oursNetwork(n) {
  const { createTestnet, K } = await import('@passage/sdk')
  const net = await createTestnet(n)
  return {
    k: K,
    idBytes: 20,
    nodes: net.nodes,
    ids: net.nodes.map((node) => node.id),
    idOf: (node) => node.id,
    async lookup(node, target) {
      const r = await node.lookup(target)
      return { closest: r.closest.map((c) => c.id), hops: r.hops }
    },
    destroy: () => net.destroy(),
  }
}

/**
 * hyperdht's testnet: `findNode(target)` is dht-rpc's iterative query; its closest replies
 * are the k closest nodes that answered. dht-rpc does not count hops, so the query's `map`
 * hook records, for every node a reply names, one hop more than the node that named it (nodes
 * from the asker's own table are hop 0), the same definition as ours.
 */
async function theirsNetwork(n) {
  const { default: createTestnet } = await import('hyperdht/testnet.js')
  const net = await createTestnet(n)
  return {
    k: 20, // dht-rpc's table k
    idBytes: 32,
    nodes: net.nodes,
    // The first node only bootstraps the others: it stays ephemeral (no ID, in no table).
    ids: net.nodes.map((node) => node.id).filter((id) => id !== null),
    idOf: (node) => node.table.id,
    async lookup(node, target) {
      const hopOf = new Map()
      const key = (p) => `${p.host}:${p.port}`
      // The query starts from the asker's k closest contacts (as ours does): hop 0.
      for (const c of node.table.closest(target, 20)) hopOf.set(key(c), 0)
      const query = node.findNode(target, {
        map: (m) => {
          const hop = hopOf.get(key(m.from)) ?? 0
          hopOf.set(key(m.from), hop)
          for (const c of m.closerNodes ?? []) {
            if (!hopOf.has(key(c))) hopOf.set(key(c), hop + 1)
          }
          return m
        },
      })
      await query.finished()
      const closest = query.closestReplies.map((m) => m.from)
      return {
        closest: closest.map((p) => p.id),
        hops: closest.length ? (hopOf.get(key(closest[0])) ?? 0) : 0,
      }
    },
    async destroy() {
      await net.destroy()
    },
  }
}

/** Child: builds one network, runs the lookups, prints one JSON line. */
async function lookupWorker(impl, n) {
  const open = impl === 'ours' ? oursNetwork : theirsNetwork
  // Load the code first, so the baseline holds the modules and only the nodes are counted.
  await open(1).then((net) => net.destroy())
  const before = gcRss()
  const buildStart = performance.now()
  const net = await open(n)
  const buildMs = performance.now() - buildStart
  const latencies = []
  const hops = []
  let exactCount = 0
  let seed = 0x9e3779b9 ^ n
  const random = () => {
    seed = (seed + 0x6d2b79f5) >>> 0
    let t = seed
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
  const deadline = performance.now() + LOOKUP_BUDGET_MS
  for (let i = 0; i < WARMUP + LOOKUPS && performance.now() < deadline; i++) {
    const node = net.nodes[Math.floor(random() * net.nodes.length)]
    const target = randomBytes(net.idBytes)
    const started = performance.now()
    const r = await net.lookup(node, target)
    const ms = performance.now() - started
    if (i < WARMUP) continue
    latencies.push(ms)
    hops.push(r.hops)
    if (exact(r.closest, truth(net.ids, net.idOf(node), target, net.k))) exactCount++
  }
  const after = gcRss()
  const result = {
    impl,
    n,
    buildMs,
    lookups: latencies.length,
    exact: exactCount,
    medianMs: median(latencies),
    p95Ms: percentile(latencies, 95),
    medianHops: median(hops),
    maxHops: Math.max(...hops),
    meanHops: hops.reduce((a, b) => a + b, 0) / hops.length,
    rssPerNode: (after.rss - before.rss) / n,
    heapPerNode: (after.heapUsed + after.external - before.heapUsed - before.external) / n,
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
  await Promise.race([net.destroy(), new Promise((resolve) => setTimeout(resolve, 10_000))])
}

const kib = (bytes) => `${fmt(bytes / 1024, 1)} KiB`

export async function benchDht() {
  console.log(
    `\n# dht: ${LOOKUPS} sequential lookups (random node, random target) per network, ours vs hyperdht ${SIZES.join(' and ')} nodes`,
  )
  const rows = []
  for (const n of SIZES) {
    // Alternate which goes first, so a drift in machine load does not always favour one.
    const order = rows.length % 2 ? ['theirs', 'ours'] : ['ours', 'theirs']
    const got = {}
    for (const impl of order) {
      got[impl] = await runChild(
        ['--expose-gc', fileURLToPath(import.meta.url), 'lookup', impl, String(n)],
        { timeoutMs: CHILD_TIMEOUT_MS },
      )
      const r = got[impl]
      console.log(
        `${(impl === 'ours' ? 'passage' : 'hyperdht').padEnd(8)} n=${String(n).padEnd(4)} built in ${fmt(r.buildMs / 1000, 1)} s; ${r.lookups} lookups: median ${fmt(r.medianMs, 2)} ms, p95 ${fmt(r.p95Ms, 2)} ms, hops median ${r.medianHops} max ${r.maxHops}, exact k closest ${r.exact}/${r.lookups}, RSS/node ${kib(r.rssPerNode)}, heap+external/node ${kib(r.heapPerNode)}`,
      )
    }
    rows.push(got)
  }
  console.log(
    '\n## dht summary (ratio = passage / hyperdht; goal: latency and memory ratio <= 1, 100% exact)',
  )
  console.log(
    `${'nodes'.padEnd(6)} ${'median ms'.padStart(17)} ${'ratio'.padStart(6)} ${'p95 ms'.padStart(17)} ${'ratio'.padStart(6)} ${'hops (median)'.padStart(14)} ${'exact'.padStart(16)} ${'RSS/node KiB'.padStart(17)} ${'ratio'.padStart(6)}`,
  )
  for (const { ours, theirs } of rows) {
    const verdict = (ratio) => (ratio <= 1 ? 'ok' : 'OVER')
    const latency = ours.medianMs / theirs.medianMs
    const memory = ours.rssPerNode / theirs.rssPerNode
    console.log(
      `${String(ours.n).padEnd(6)} ${`${fmt(ours.medianMs, 2)} / ${fmt(theirs.medianMs, 2)}`.padStart(17)} ${latency.toFixed(2).padStart(6)} ${`${fmt(ours.p95Ms, 2)} / ${fmt(theirs.p95Ms, 2)}`.padStart(17)} ${(ours.p95Ms / theirs.p95Ms).toFixed(2).padStart(6)} ${`${ours.medianHops} / ${theirs.medianHops}`.padStart(14)} ${`${ours.exact}/${ours.lookups} | ${theirs.exact}/${theirs.lookups}`.padStart(16)} ${`${fmt(ours.rssPerNode / 1024, 1)} / ${fmt(theirs.rssPerNode / 1024, 1)}`.padStart(17)} ${memory.toFixed(2).padStart(6)}  latency ${verdict(latency)}, memory ${verdict(memory)}, success ${ours.exact === ours.lookups ? 'ok' : 'BELOW 100%'}`,
    )
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'lookup') {
  await lookupWorker(process.argv[3], Number(process.argv[4]))
  process.exit(0)
}
