// Multi-device benchmark: a send to a contact with 3 devices plus 2 own devices, against 5
// independent 1:1 sends in the same run (goal: ratio >= 0.8).
//
// Measured (fan-out): Alice has 3 devices, Bob has 3. Alice's device 1 sends N 200-byte texts to
// Bob; each send is one message row and 5 outbox entries, each Signal-encrypted under its own
// session: 3 texts to Bob's devices and 2 `sync-sent` copies to Alice's devices 2 and 3. Every
// pair of the 6 clients is introduced (direct links on 127.0.0.1, no super-node); an in-process
// testnet of TESTNET_NODES DHT nodes carries the device lists at set-up (adding a contact
// fetches its list; without a DHT neither account learns the other's list, as neither has seen
// a version 2 payload) and idles while timed. Sessions are set up before timing, and every
// delivery must go direct (`send` resolves with route 'direct'; the outboxes end empty, so no
// copy was left to a retry or a mailbox). A send is complete once all 5 targets
// stored it: Bob's devices count `message` events; Alice's devices 2 and 3 count `delivery`
// events with state 'sent' for Bob's conversation, which a device emits exactly once per
// sync-sent copy it stored (after its commit, never for a duplicate); no `message` event
// exists for a copy, and polling `history()` would cost CPU in the measured process.
//
// Ceiling, measured in the same run and interleaved by round: one single-device sender and 5
// single-device contacts; a "set" is 5 `send`s of the same text, one to each contact, and is
// complete once each contact emitted its `message`. One sender to 5 contacts (rather than 5
// senders to 5 receivers) is the fair "5 independent 1:1 sends": the same 6 clients, the same 5
// encryptions in ONE sender's home, Signal store and outbox, the same 5 decryptions at 5
// receiving homes, the same 5 links from the sender; only the fan-out machinery differs (one
// `send` and one message row for 5 deliveries instead of 5 of each). Five senders would spread
// the sending side over 5 homes and make the ceiling a different workload.
//
// Same window for both: up to IN_FLIGHT fan-out sends, or IN_FLIGHT sets of 5 sends, outstanding
// (so 5 × IN_FLIGHT deliveries either way); same text, same testnet. Each round builds both on
// fresh homes, warms both up, then times SENDS of each in CHUNKS chunks alternating A B B A…
// (one chunk's CPU-s varies ±30 % on a loaded machine; alternating makes drift and load hit both
// alike). Rates are sends (or sets) completed per second of this process's CPU time (all clients
// run in it; robust on a shared machine), and of wall time for information; the ratio is taken
// per round, the summary is the median of the round ratios.
import {
  introduce,
  linkDevice,
  startClient,
  testnet,
  tmpHome,
  until,
  within,
} from '@passage/sdk/testing'
import { median, report } from './lib.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SENDS = Number(process.env.BENCH_DEVICES_SENDS ?? 500) // fan-out sends (or sets of 5) per round
const IN_FLIGHT = Number(process.env.BENCH_DEVICES_IN_FLIGHT ?? 16) // sends (sets) outstanding
const WARMUP = Number(process.env.BENCH_DEVICES_WARMUP ?? 50) // before timing: JIT, sessions, SQLite
const CHUNKS = Number(process.env.BENCH_DEVICES_CHUNKS ?? 5) // alternations of the two in a round
const FAN = 5 // deliveries per send: 3 of Bob's devices + Alice's devices 2 and 3
const TEXT = 'a'.repeat(200) // a 200-byte text message (ASCII)
const TESTNET_NODES = Number(process.env.BENCH_DEVICES_TESTNET ?? 6)
const DONE_MS = 60_000 // a chunk whose deliveries do not all arrive by then fails the suite
const GOAL = 0.8

const quiet = { servers: [], lan: false, background: false, fetchIntervalMs: 3_600_000 }

/**
 * What `startClient`/`linkDevice`/`tmpHome` need of a test: cleanups, all run in reverse by
 * `close` (clients close before their homes are removed), the first failure rethrown after.
 */
function teardowns() {
  const fns = []
  return {
    teardown: (fn) => fns.push(fn),
    close: async () => {
      let failure
      for (const fn of fns.reverse()) {
        try {
          await fn()
        } catch (error) {
          failure ??= error
        }
      }
      if (failure) throw failure
    },
  }
}

/** Introduces every pair of `clients` (direct links both ways, as LAN discovery would). */
function introduceAll(clients) {
  for (let i = 0; i < clients.length; i++) {
    for (let j = i + 1; j < clients.length; j++) introduce(clients[i], clients[j])
  }
}

/** Resolves once every client's outbox is empty (set-up traffic is over). */
async function settled(clients, what) {
  await until(() => clients.every((c) => c.status().outbox === 0), what, { ms: 20_000 })
}

/** Resolves after `count` events `name` of `client` that pass `accept`. */
function counted(client, name, count, accept = () => true) {
  let seen = 0
  return new Promise((resolve) => {
    if (count === 0) return resolve()
    const off = client.on(name, (event) => {
      if (accept(event) && ++seen >= count) {
        off()
        resolve()
      }
    })
  })
}

/** Runs `send` IN_FLIGHT at a time until `count` ran; resolves once `done` did too. */
async function pump(count, send, done) {
  let next = 0
  const worker = async () => {
    while (next < count) {
      next++
      await send()
    }
  }
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, worker))
  await within(done, `${count} deliveries to every target`, DONE_MS)
}

/** A device 1 on a fresh home in `t`, joined to `net`, with a link listener on 127.0.0.1. */
function primary(t, net, name) {
  return startClient(t, net, tmpHome(t, name), quiet)
}

/** Alice (devices 1–3) and Bob (devices 1–3), contacts, lists and sessions all set up. */
async function fanOutAccounts(t, net) {
  const alice1 = await primary(t, net, 'alice1')
  const bob1 = await primary(t, net, 'bob1')
  const link = (to, name) => linkDevice(t, net, to, { ...quiet, home: tmpHome(t, name) })
  const alices = [alice1, await link(alice1, 'alice2'), await link(alice1, 'alice3')]
  const bobs = [bob1, await link(bob1, 'bob2'), await link(bob1, 'bob3')]
  const all = [...alices, ...bobs]
  introduceAll(all)
  // Adding a contact fetches its account's device list from the DHT, and syncs the contact to
  // the other devices (the first messages to them). Sending before that sync is acknowledged
  // stalled the copy to device 3 for the 5 s answer timeout, then it went by mailbox.
  await alice1.contacts.add(bob1.contactUri)
  await bob1.contacts.add(alice1.contactUri)
  await settled(all, 'the contacts synced')
  await bob1.send(alice1.textId, 'hello')
  await alice1.send(bob1.textId, 'hello')
  await until(
    async () =>
      (await alice1.devices.list(bob1.textId)).filter((d) => d.state === 'active').length === 3,
    "Bob's 3 devices known to Alice",
    { ms: 20_000 },
  )
  await settled(all, 'the set-up traffic')
  const bobId = bob1.textId
  return {
    all,
    /** Alice's device 1 sends `count` texts to Bob (5 deliveries each). */
    run: (count) =>
      pump(
        count,
        async () => {
          const m = await alice1.send(bobId, TEXT)
          if (m.route !== 'direct') throw new Error(`a message went by ${m.route}`)
        },
        Promise.all([
          ...bobs.map((b) => counted(b, 'message', count)),
          ...alices
            .slice(1)
            .map((a) =>
              counted(a, 'delivery', count, (d) => d.state === 'sent' && d.contactId === bobId),
            ),
        ]),
      ),
  }
}

/** One sender and FAN single-device contacts, sessions set up both ways. */
async function separateAccounts(t, net) {
  const sender = await primary(t, net, 'sender')
  const receivers = []
  for (let i = 0; i < FAN; i++) receivers.push(await primary(t, net, `receiver${i + 1}`))
  const all = [sender, ...receivers]
  introduceAll(all)
  for (const r of receivers) {
    await sender.contacts.add(r.contactUri)
    await r.contacts.add(sender.contactUri)
    await r.send(sender.textId, 'hello')
    await sender.send(r.textId, 'hello')
  }
  await settled(all, 'the set-up traffic')
  return {
    all,
    /** `count` sets of FAN sends, one to each contact. */
    run: (count) =>
      pump(
        count,
        async () => {
          const sent = await Promise.all(receivers.map((r) => sender.send(r.textId, TEXT)))
          const off = sent.find((m) => m.route !== 'direct')
          if (off) throw new Error(`a message went by ${off.route}`)
        },
        Promise.all(receivers.map((r) => counted(r, 'message', count))),
      ),
  }
}

/** CPU microseconds and wall nanoseconds `fn` took. */
async function cost(fn) {
  const wall = process.hrtime.bigint()
  const cpu = process.cpuUsage()
  await fn()
  const used = process.cpuUsage(cpu)
  return { cpuUs: used.user + used.system, wallNs: Number(process.hrtime.bigint() - wall) }
}

/**
 * One round: both set-ups on fresh homes (one testnet), warmed up, then `count` sends of each
 * in CHUNKS chunks, alternating A B B A… so that load from elsewhere and drift hit both alike.
 */
async function round(count) {
  const t = teardowns()
  try {
    const net = await testnet(t, TESTNET_NODES)
    const sides = {
      separate: await separateAccounts(t, net),
      fanOut: await fanOutAccounts(t, net),
    }
    // Warm-up twice in turn: with one pass, the first timed chunk (right after the other
    // side's warm-up) ran up to 40 % slower than the rest.
    for (let pass = 0; pass < 2; pass++) {
      for (const [name, side] of Object.entries(sides)) {
        await side.run(WARMUP)
        await settled(side.all, `the ${name} warm-up`)
      }
    }
    const spent = {}
    for (const name of Object.keys(sides)) spent[name] = { cpuUs: 0, wallNs: 0, sends: 0 }
    const order = Object.keys(sides)
    for (let chunk = 0; chunk < CHUNKS; chunk++) {
      const n = Math.floor(count / CHUNKS) + (chunk < count % CHUNKS ? 1 : 0)
      for (const name of chunk % 2 ? [...order].reverse() : order) {
        const c = await cost(() => sides[name].run(n))
        spent[name].cpuUs += c.cpuUs
        spent[name].wallNs += c.wallNs
        spent[name].sends += n
      }
    }
    // Every entry acknowledged: nothing was left to a retry or a mailbox.
    for (const [name, side] of Object.entries(sides)) await settled(side.all, `the ${name} sends`)
    const rate = (s) => ({ cpu: s.sends / (s.cpuUs / 1e6), wall: s.sends / (s.wallNs / 1e9) })
    return { separate: rate(spent.separate), fanOut: rate(spent.fanOut) }
  } finally {
    await t.close()
  }
}

// For profiling: `node --cpu-prof -e "import('./bench/devices.js').then((m) => m.round(1000))"`.
export { round }

/** Prints the fan-out send against 5 separate 1:1 sends, per round and as medians. */
export async function benchDevices() {
  console.log(
    `\n# Devices: one send to a contact with 3 devices + 2 own devices (${FAN} direct deliveries) vs ${FAN} separate 1:1 sends; 200 B texts, SQLite homes, ${IN_FLIGHT} sends (sets) in flight, ${ROUNDS} rounds × ${SENDS}`,
  )
  const fanOut = []
  const separate = []
  const ratios = []
  const wallRatios = []
  for (let i = 0; i < ROUNDS; i++) {
    const { separate: ceiling, fanOut: value } = await round(SENDS)
    separate.push(ceiling)
    fanOut.push(value)
    ratios.push(value.cpu / ceiling.cpu)
    wallRatios.push(value.wall / ceiling.wall)
    console.log(
      `round ${i + 1}: fan-out ${value.cpu.toFixed(0)} sends/cpu-s (${value.wall.toFixed(0)}/s wall) vs ${FAN} separate ${ceiling.cpu.toFixed(0)} sets/cpu-s (${ceiling.wall.toFixed(0)}/s wall): ratio ${(value.cpu / ceiling.cpu).toFixed(3)}`,
    )
  }
  console.log('\n## devices summary (median of round ratios)')
  const ceiling = median(separate.map((r) => r.cpu))
  report(`${FAN} separate 1:1 sends, sets (ceiling)`, ceiling, ceiling, undefined, '/cpu-s')
  report(
    `send to 3 devices + 2 own (${FAN} deliveries)`,
    ceiling * median(ratios),
    ceiling,
    GOAL,
    '/cpu-s',
  )
  const wall = median(separate.map((r) => r.wall))
  report('  wall clock: send to 3 devices + 2 own', wall * median(wallRatios), wall)
  return { fanOut, separate, ratio: median(ratios) }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchDevices()
