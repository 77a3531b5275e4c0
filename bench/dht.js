// Issue 3 benchmark: iterative lookups on our DHT testnet against hyperdht's testnet, same
// sizes, same workload, same run. Latency: both networks in one child process, lookups
// interleaved in chunks. Memory: each (implementation, size) alone in a fresh child process
// started with --expose-gc, an RSS delta over the node count, measured after a GC and an idle
// pause (see settledMemory). Lookups are sequential, from random nodes to random targets; every one of ours
// is checked against the true k closest computed from the testnet's node IDs (hyperdht's too,
// for information). Latency and memory are reported as our/their ratios: the median of the
// per-round ratios with their spread (min–max).
// Goals (issue 15's table): lookup latency median <= 1.0x hyperdht at 200 and 1,000 nodes,
// exact k closest 100%, RSS per node <= 1.0x (heap+external per node compared alike).
// Knobs: BENCH_DHT_SIZES (default 200,1000: the 1,000-node lookups are part of the default
// run), BENCH_DHT_LOOKUPS (timed lookups per size and round, default 300), BENCH_DHT_ROUNDS
// (else BENCH_ROUNDS, default 3: fresh networks and memory children each round).
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { runChild } from './child.js'
import { median, percentile, fmt, spread } from './lib.js'

const SIZES = (process.env.BENCH_DHT_SIZES ?? '200,1000').split(',').map(Number)
const ROUNDS = Number(process.env.BENCH_DHT_ROUNDS ?? process.env.BENCH_ROUNDS ?? 3)
const LOOKUPS = Number(process.env.BENCH_DHT_LOOKUPS ?? 300) // timed lookups per size
const WARMUP = 20 // untimed lookups first: JIT and caches settle alike for both
const CHUNK = 25 // lookups on one network before switching to the other
const MEMORY_LOOKUPS = 50 // lookups before measuring memory: tables and caches filled
const LOOKUP_BUDGET_MS = 60_000 // stop timing after this even if fewer lookups ran
/** Build + lookups + teardown of one network of `n` nodes (building is about linear in n). */
const childTimeoutMs = (n) => 150_000 + n * 300

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

const SETTLE_MS = 3_000 // idle before measuring: V8's memory reducer returns pooled free pages

/**
 * Memory after the process settles: a GC, an idle pause, another GC. Right after a GC, V8
 * still holds freed pages in its pool (counted in RSS, not in the heap); whether its memory
 * reducer had run yet made the per-node RSS of the same build jump between ~90 and ~600 KiB
 * at 50 nodes. After the pause both implementations are measured in the same settled state.
 */
async function settledMemory() {
  globalThis.gc?.()
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  globalThis.gc?.()
  globalThis.gc?.()
  return process.memoryUsage()
}

/** Our testnet: DhtNode.lookup() returns the k closest verified nodes and its hop count. */
async function oursNetwork(n) {
  const { K } = await import('@passage/sdk')
  const { createTestnet } = await import('@passage/sdk/testing')
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

/**
 * A seeded PRNG (mulberry32, as the SDK's test kit has): the same origins for every run. Its
 * own copy: the hyperdht process measures its memory and must not load the SDK.
 */
function seeded(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** Runs `count` sequential lookups on `net`, adding to `into` (latencies, hops, exact). */
async function lookups(net, count, random, into) {
  for (let i = 0; i < count; i++) {
    const node = net.nodes[Math.floor(random() * net.nodes.length)]
    const target = randomBytes(net.idBytes)
    const cpu = process.cpuUsage()
    const started = performance.now()
    const r = await net.lookup(node, target)
    const ms = performance.now() - started
    if (!into) continue
    const used = process.cpuUsage(cpu)
    into.latencies.push(ms)
    into.cpu.push((used.user + used.system) / 1000)
    into.hops.push(r.hops)
    if (exact(r.closest, truth(net.ids, net.idOf(node), target, net.k))) into.exact++
  }
}

/**
 * Child: both networks of size `n` in this process, lookups interleaved in chunks (ours, then
 * theirs, then theirs, then ours…) so that a change in the machine's load hits both alike.
 */
async function latencyWorker(n) {
  const build = {}
  const nets = {}
  for (const [impl, open] of [
    ['ours', oursNetwork],
    ['theirs', theirsNetwork],
  ]) {
    const started = performance.now()
    nets[impl] = await open(n)
    build[impl] = performance.now() - started
  }
  const random = { ours: seeded(n), theirs: seeded(n) }
  const stats = {}
  for (const impl of ['ours', 'theirs']) {
    await lookups(nets[impl], WARMUP, random[impl])
    stats[impl] = { latencies: [], cpu: [], hops: [], exact: 0 }
  }
  const deadline = performance.now() + LOOKUP_BUDGET_MS
  for (let chunk = 0; chunk * CHUNK < LOOKUPS && performance.now() < deadline; chunk++) {
    const order = chunk % 2 ? ['theirs', 'ours'] : ['ours', 'theirs']
    for (const impl of order) await lookups(nets[impl], CHUNK, random[impl], stats[impl])
  }
  const out = {}
  for (const impl of ['ours', 'theirs']) {
    const { latencies, cpu, hops, exact: exactCount } = stats[impl]
    out[impl] = {
      n,
      buildMs: build[impl],
      lookups: latencies.length,
      exact: exactCount,
      medianMs: median(latencies),
      p95Ms: percentile(latencies, 95),
      cpuMs: median(cpu),
      medianHops: median(hops), // may be a half: printed with decimals
      maxHops: Math.max(...hops),
    }
  }
  process.stdout.write(`${JSON.stringify(out)}\n`)
  await Promise.race([
    Promise.all([nets.ours.destroy(), nets.theirs.destroy()]),
    new Promise((resolve) => setTimeout(resolve, 10_000)),
  ])
}

/**
 * Child: memory per node of one network alone: RSS (and heap + external) after a GC, before
 * and after building it and running a few lookups (so tables and caches are filled), over n.
 * Run with a 1 MiB young generation: otherwise V8 grows it (up to 3 × 16 MiB, committed and
 * counted in RSS even after a GC) depending on the allocation rate of the build, which made
 * the per-node RSS jump by hundreds of KiB between runs of the same size.
 */
async function memoryWorker(impl, n) {
  const open = impl === 'ours' ? oursNetwork : theirsNetwork
  // Load the code first, so the baseline holds the modules and only the nodes are counted.
  await open(2).then((net) => net.destroy())
  const before = await settledMemory()
  const net = await open(n)
  await lookups(net, MEMORY_LOOKUPS, seeded(n))
  const after = await settledMemory()
  process.stdout.write(
    `${JSON.stringify({
      rssPerNode: (after.rss - before.rss) / n,
      heapPerNode: (after.heapUsed + after.external - before.heapUsed - before.external) / n,
    })}\n`,
  )
  await Promise.race([net.destroy(), new Promise((resolve) => setTimeout(resolve, 10_000))])
}

const kib = (bytes) => `${fmt(bytes / 1024, 1)} KiB`
const SELF = fileURLToPath(import.meta.url)

export async function benchDht() {
  console.log(
    `\n# dht: ${LOOKUPS} sequential lookups (random node, random target) per network and round, passage vs hyperdht, ${SIZES.join(' and ')} nodes, ${ROUNDS} rounds`,
  )
  const rows = []
  for (const n of SIZES) {
    const row = { n, ours: [], theirs: [] }
    for (let round = 0; round < ROUNDS; round++) {
      const latency = await runChild([SELF, 'latency', String(n)], {
        timeoutMs: childTimeoutMs(n),
      })
      for (const impl of ['ours', 'theirs']) {
        const r = Object.assign(
          latency[impl],
          await runChild(
            ['--expose-gc', '--max-semi-space-size=1', SELF, 'memory', impl, String(n)],
            { timeoutMs: childTimeoutMs(n) },
          ),
        )
        row[impl].push(r)
        console.log(
          `round ${round + 1} ${(impl === 'ours' ? 'passage' : 'hyperdht').padEnd(8)} n=${String(n).padEnd(4)} built in ${fmt(r.buildMs / 1000, 1)} s; ${r.lookups} lookups: median ${fmt(r.medianMs, 2)} ms, p95 ${fmt(r.p95Ms, 2)} ms, CPU ${fmt(r.cpuMs, 2)} ms, hops median ${fmt(r.medianHops, 1)} max ${r.maxHops}, exact k closest ${r.exact}/${r.lookups}; per node: RSS ${kib(r.rssPerNode)}, heap+external ${kib(r.heapPerNode)}`,
        )
      }
    }
    rows.push(row)
  }
  console.log(
    `\n## dht summary (ratio = passage / hyperdht: median of ${ROUNDS} round ratios, spread min–max; values: medians over rounds)`,
  )
  console.log(
    `${'metric'.padEnd(30)} ${'nodes'.padStart(5)} ${'passage'.padStart(10)} ${'hyperdht'.padStart(10)} ${'ratio'.padStart(6)} ${'spread'.padStart(12)}  goal`,
  )
  /** One metric: per-round values of ours and theirs; lower is better (`goal`: the most). */
  const line = (metric, n, ours, theirs, goal, digits = 2) => {
    const ratios = ours.map((o, i) => o / theirs[i]).filter((r) => Number.isFinite(r))
    const ratio = ratios.length ? median(ratios) : Number.NaN
    const verdict = goal === undefined ? '' : ratio <= goal ? `<= ${goal}  ok` : `<= ${goal}  OVER`
    console.log(
      `${metric.padEnd(30)} ${String(n).padStart(5)} ${fmt(median(ours), digits).padStart(10)} ${fmt(median(theirs), digits).padStart(10)} ${(Number.isNaN(ratio) ? '-' : ratio.toFixed(2)).padStart(6)} ${(ratios.length ? spread(ratios, 2) : '-').padStart(12)}  ${verdict}`,
    )
  }
  const all = (list, key) => list.map((r) => r[key])
  for (const { n, ours, theirs } of rows) {
    line('lookup latency, median (ms)', n, all(ours, 'medianMs'), all(theirs, 'medianMs'), 1)
    line('lookup latency, p95 (ms)', n, all(ours, 'p95Ms'), all(theirs, 'p95Ms'))
    line('CPU per lookup, median (ms)', n, all(ours, 'cpuMs'), all(theirs, 'cpuMs'))
    line('hops, median', n, all(ours, 'medianHops'), all(theirs, 'medianHops'), undefined, 2)
    const sum = (list, key) => all(list, key).reduce((a, b) => a + b, 0)
    const [exactOurs, lookupsOurs] = [sum(ours, 'exact'), sum(ours, 'lookups')]
    const exactOk = exactOurs === lookupsOurs ? '100%  ok' : '100%  BELOW'
    console.log(
      `${'exact k closest'.padEnd(30)} ${String(n).padStart(5)} ${`${exactOurs}/${lookupsOurs}`.padStart(10)} ${`${sum(theirs, 'exact')}/${sum(theirs, 'lookups')}`.padStart(10)} ${''.padStart(6)} ${''.padStart(12)}  ${exactOk}`,
    )
    const perNode = (list, key) => all(list, key).map((b) => b / 1024)
    line('RSS per node (KiB)', n, perNode(ours, 'rssPerNode'), perNode(theirs, 'rssPerNode'), 1, 0)
    line(
      'heap+external per node (KiB)',
      n,
      perNode(ours, 'heapPerNode'),
      perNode(theirs, 'heapPerNode'),
      1,
      0,
    )
  }
}

if (process.argv[1] === SELF) {
  const [mode, a, b] = process.argv.slice(2)
  if (mode === 'latency') await latencyWorker(Number(a))
  else if (mode === 'memory') await memoryWorker(a, Number(b))
  process.exit(0)
}
