// Issue 4 benchmark: chat messages end to end over a direct link, and send → inbox through a
// DHT mailbox.
//
// Direct: two real clients (createNodeClient) in this process, each with its own SQLite home in a
// tmp dir, linked over loopback TCP (no super-node, no DHT), session already established.
// Alice sends N 200-byte texts with up to IN_FLIGHT sends outstanding; the rate runs from the
// first send until Bob emitted N `message` events (each decrypted and persisted before its
// event). Per second of this process's CPU time (robust on a shared machine) and of wall time.
// Ceiling, measured in the same run and interleaved by round: raw libsignal one-way
// encrypt+decrypt of 200 bytes in one process (bench/signal.js `rawPair`). BENCH_ROUNDS rounds
// (default 3) of BENCH_CHAT_MESSAGES (default 2,000); the median of the per-round ratios with
// their spread (min–max). Goal (issue 15's table): 0.70 per CPU-second.
//
// Mailbox: a testnet of TESTNET_NODES DHT nodes; Bob is offline, Alice sends (the message goes
// to Bob's DHT mailbox), Bob starts and fetches; the time from `send` to the message in Bob's
// inbox, median and p95 over MAILBOX_SAMPLES messages.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNodeClient } from '@passage/sdk/node'
import { createTestnet, introduce } from '@passage/sdk/testing'
import { rawPair } from './signal.js'
import { fmt, median, percentile, report } from './lib.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const MESSAGES = Number(process.env.BENCH_CHAT_MESSAGES ?? 2_000) // per round, both measurements
const IN_FLIGHT = Number(process.env.BENCH_CHAT_IN_FLIGHT ?? 64) // sends outstanding at once
const WARMUP = 200 // messages before timing: JIT, SQLite page cache
const TESTNET_NODES = Number(process.env.BENCH_CHAT_TESTNET ?? 20)
const MAILBOX_SAMPLES = Number(process.env.BENCH_CHAT_MAILBOX_SAMPLES ?? 10)
const TEXT = 'a'.repeat(200) // a 200-byte text message (ASCII)
const GOAL = 0.7

function tmpHome(name, cleanup) {
  const dir = mkdtempSync(join(tmpdir(), `passage-bench-${name}-`))
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const quiet = { background: false, lan: false, servers: [], fetchIntervalMs: 3_600_000 }

/** Resolves after `count` `message` events of `client`. */
function received(client, count) {
  let seen = 0
  return new Promise((resolve) => {
    const off = client.on('message', () => {
      if (++seen >= count) {
        off()
        resolve()
      }
    })
  })
}

/** Alice and Bob, directly linked over 127.0.0.1, with a session both ways. */
async function linkedPair(cleanup) {
  const open = (name) =>
    createNodeClient({
      ...quiet,
      home: tmpHome(name, cleanup),
      createIdentity: true,
      dhtBootstrap: [],
    })
  const alice = await open('alice')
  cleanup.push(() => alice.close())
  const bob = await open('bob')
  cleanup.push(() => bob.close())
  // Each learns where the other's link listens, as LAN discovery would tell it.
  introduce(alice, bob)
  await alice.contacts.add(bob.contactUri)
  await bob.contacts.add(alice.contactUri)
  // First message (pre-key, bundle over the link) and an answer: whisper messages from here on.
  const first = await alice.send(bob.textId, 'hello')
  if (first.route !== 'direct') throw new Error(`expected a direct link, got ${first.route}`)
  await bob.send(alice.textId, 'hello')
  return { alice, bob }
}

/** Sends `count` texts with IN_FLIGHT outstanding; resolves once Bob got them all. */
async function pump(alice, bob, count) {
  const all = received(bob, count)
  let next = 0
  const worker = async () => {
    while (next < count) {
      next++
      const m = await alice.send(bob.textId, TEXT)
      if (m.route !== 'direct') throw new Error(`a message went by ${m.route}`)
    }
  }
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, worker))
  await all
}

async function measure(fn, count) {
  const wall = process.hrtime.bigint()
  const cpu = process.cpuUsage()
  await fn()
  const used = process.cpuUsage(cpu)
  return {
    cpu: count / ((used.user + used.system) / 1e6),
    wall: count / (Number(process.hrtime.bigint() - wall) / 1e9),
  }
}

async function rawRate(count) {
  const step = await rawPair()
  for (let i = 0; i < WARMUP; i++) await step()
  return measure(async () => {
    for (let i = 0; i < count; i++) await step()
  }, count)
}

async function directRate(count) {
  const cleanup = []
  try {
    const { alice, bob } = await linkedPair(cleanup)
    await pump(alice, bob, WARMUP)
    return await measure(() => pump(alice, bob, count), count)
  } finally {
    for (const fn of cleanup.reverse()) await fn()
  }
}

// For profiling the direct pipeline alone: `node --cpu-prof -e "import('./bench/chat.js').then((m) => m.directRate(8000))"`.
export { directRate }

/** Milliseconds from Alice's `send` to the message in the inbox of Bob, offline until then. */
async function mailboxLatencies() {
  const net = await createTestnet(TESTNET_NODES)
  const cleanup = [() => net.destroy()]
  try {
    const open = (home) =>
      createNodeClient({
        ...quiet,
        home,
        createIdentity: true,
        dhtBootstrap: net.bootstrap,
        listen: false,
      })
    const bobHome = tmpHome('mailbox-bob', cleanup)
    let bob = await open(bobHome) // publishes Bob's bundle to the DHT
    const bobUri = bob.contactUri
    const bobId = bob.textId
    await bob.close()
    const alice = await open(tmpHome('mailbox-alice', cleanup))
    cleanup.push(() => alice.close())
    await alice.contacts.add(bobUri)
    const samples = { total: [], send: [] }
    for (let i = 0; i <= MAILBOX_SAMPLES; i++) {
      const t0 = performance.now()
      const sent = await alice.send(bobId, TEXT)
      if (sent.route !== 'mailbox') throw new Error(`expected the mailbox, got ${sent.route}`)
      const t1 = performance.now()
      bob = await open(bobHome)
      const got = await bob.fetchInbox()
      const t2 = performance.now()
      await bob.close()
      if (!got.some((m) => m.id === sent.id)) throw new Error('the message did not arrive')
      if (i === 0) continue // the first one is a pre-key message, and warms up
      samples.send.push(t1 - t0)
      samples.total.push(t2 - t0)
    }
    return samples
  } finally {
    for (const fn of cleanup.reverse()) await fn()
  }
}

/** Prints the direct pipeline against the libsignal ceiling, and the mailbox latency. */
export async function benchChat() {
  console.log(
    `\n# Chat: 200 B texts end to end over a direct link (SQLite homes, ${IN_FLIGHT} in flight), ${ROUNDS} rounds × ${MESSAGES} messages (medians)`,
  )
  const raw = []
  const direct = []
  for (let round = 0; round < ROUNDS; round++) {
    raw.push(await rawRate(MESSAGES))
    direct.push(await directRate(MESSAGES))
  }
  const cpu = (list) => median(list.map((r) => r.cpu))
  const wall = (list) => median(list.map((r) => r.wall))
  const ratios = (key) => direct.map((d, i) => d[key] / raw[i][key])
  console.log('\n## chat summary (median of round ratios, spread min–max)')
  report('libsignal raw encrypt+decrypt (ceiling)', cpu(raw), cpu(raw), undefined, '/cpu-s')
  const cpuRatios = ratios('cpu')
  const wallRatios = ratios('wall')
  report(
    'client send → received, persisted',
    cpu(raw) * median(cpuRatios),
    cpu(raw),
    GOAL,
    '/cpu-s',
    cpuRatios,
  )
  report(
    '  wall clock: client send → received',
    wall(raw) * median(wallRatios),
    wall(raw),
    GOAL,
    '/s',
    wallRatios,
  )

  console.log(
    `\n# Chat: send → offline recipient's inbox through a ${TESTNET_NODES}-node testnet (${MAILBOX_SAMPLES} messages)`,
  )
  const mailbox = await mailboxLatencies()
  const line = (name, list) =>
    console.log(
      `${name.padEnd(48)} median ${fmt(median(list), 1).padStart(8)} ms  p95 ${fmt(percentile(list, 95), 1).padStart(8)} ms`,
    )
  line('send (until stored in the mailbox)', mailbox.send)
  line('send → inbox (incl. recipient start + fetch)', mailbox.total)
  return { raw: cpu(raw), direct: cpu(direct), mailbox }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchChat()
