// Group benchmark (50 members): one group text under the sender's sender-key chain, against raw
// libsignal's sender-key encrypt + 50 seals measured in the same run (goal: ratio >= 0.5), and
// against the SDK's pairwise path, the same text sent 1:1 to each member (goal: >= 2×).
//
// The group: the sender and MEMBERS (default 50) other accounts, one device each, all real SDK
// clients on SQLite homes in this process, made with `sender.groups.create(name, memberIds)`.
// That is a group of MEMBERS + 1 = 51 accounts, so that every text has exactly MEMBERS = 50
// recipient devices (the sending device gets no copy of its own text), as many as the ceiling
// seals and as the pairwise path sends. Each member starts once on a fresh home (publishing its
// pre-key bundle and device list to the testnet DHT, so the sender can find its devices),
// becomes the sender's contact and adds the sender, says hello (so the sender's messages to it
// are plain Signal messages on an established session, as between members who talked before,
// not pre-key messages each carrying a 1.5 KB Kyber ciphertext), and is closed again.
//
// Receivers are offline throughout: the group state and the sender key go to each member's DHT
// mailbox, sealed to its device key; every text goes once to the sender's chain's group mailbox
// (docs/PROTOCOL.md, "Group mailboxes"), which every member reads (state 'stored'). The
// ceiling is the issue's: what the same text costs with one sealed copy per member device (as
// the SDK did before group mailboxes, and still does for a member of an older version), so the
// SDK now beats it by not sealing 50 copies. For information, a second ceiling is what the SDK
// does now, raw: `groupEncrypt` plus one plain put of the envelope. Nothing receives while timed: 50 online members
// in this process would add 50 decryptions and 50 SQLite commits per text to the measured CPU
// time (and a 2-core machine cannot run 50 clients beside it), and direct links would replace
// the seals the goal is about. The DHT (TESTNET_NODES nodes, the test kit's `testnet`) runs in
// a child process (this file, `--testnet`): it stands for the other machines that store the
// envelopes, so their work stays out of this process's CPU time like the receivers'. The
// sender's own DHT client (a lookup of each mailbox's replicas, then the puts to them) runs
// here and counts: it is the SDK's work of sending to an offline member.
// BENCH_GROUP_DHT=inprocess runs the testnet in this process instead (its CPU then counts too).
// The testnet's mailbox quota is raised so that every copy of the run fits (10,000 envelopes
// per mailbox by default, and every put comes from 127.0.0.1), and its nodes keep each mailbox
// apart (see MailboxesApart) so that their answers do not slow down as the run fills them.
//
// Timed, interleaved in chunks (A B C D, D C B A, …) within each round, one sender throughout:
// - ceiling: libsignal's `groupEncrypt` of a 200-byte plaintext (BENCH_GROUP_TEXT_BYTES) under
//   a sender-key chain (live records in a Map, nothing serialized), then the SDK's
//   `sealMessage` (libsignal HPKE) of the ciphertext, type senderKey, to MEMBERS different
//   identity keys: a "set";
// - group: `sender.groups.send(groupId, text)` of a 200-byte text, resolved once every copy
//   was taken by a mailbox: the message and its MEMBERS outbox entries stored, encrypted once,
//   then per copy sealed, saved and put;
// - pairwise: `sender.send(memberId, text)` of the same text to every member at once (a "set"),
//   resolved once each was stored: MEMBERS Signal encryptions, each in its own transaction,
//   sealed, saved and put: what the group text would cost without sender keys;
// - for information (no goal), the DHT client's share alone: a client-mode DHT node here puts
//   one envelope of a sealed copy's size (fresh random bytes) into each of the MEMBERS
//   mailboxes: a "set" (what per-device copies put, as the pairwise path does);
// - for information, the raw group mailbox path: `groupEncrypt` as in the ceiling, then that
//   node puts the ciphertext (one envelope, the 30-day TTL) into a fresh mailbox: a "set".
// Up to IN_FLIGHT group sends (or sets) are outstanding, so as many copies are in flight on
// both SDK paths. Before timing, one group send gives every member device the sender's chain
// (the first send distributes the key pairwise), then WARMUP of each kind settle JIT, SQLite
// and the DHT client. After every chunk the sender's outbox must be empty (no copy left to a
// retry) and no `error` event may have come. At the end member 1 starts again and fetches its
// mailbox: it must show every group text and every pairwise text (BENCH_GROUP_VERIFY=0 skips).
//
// Rates are per second of this process's CPU time (process.cpuUsage; robust on a shared
// machine), and of wall time for information; ratios are taken per round, the summary is the
// median of the round ratios.
import { randomBytes, randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import {
  ProtocolAddress,
  SenderKeyDistributionMessage,
  SenderKeyStore,
  groupEncrypt,
} from '@signalapp/libsignal-client'
import {
  DhtNode,
  Identity,
  MAX_ENVELOPE_TTL_MS,
  MemoryMailboxStore,
  SignalMessageType,
  sealMessage,
  systemClock,
  toHex,
} from '@passage/sdk'
import { bindUdpSocket, libsignalKeys } from '@passage/sdk/node'
import { startClient, testnet, tmpHome, until, within } from '@passage/sdk/testing'
import { startChild } from './child.js'
import { fmt, median, report } from './lib.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const MEMBERS = Number(process.env.BENCH_GROUP_MEMBERS ?? 50) // recipients: the group has one more
const SENDS = Number(process.env.BENCH_GROUP_SENDS ?? 30) // group sends (pairwise sets) per round
const CEILING_SETS = Number(process.env.BENCH_GROUP_CEILING_SETS ?? 300) // ceiling sets per round
const IN_FLIGHT = Number(process.env.BENCH_GROUP_IN_FLIGHT ?? 2) // sends (sets) outstanding
const WARMUP = Number(process.env.BENCH_GROUP_WARMUP ?? 3) // of each kind, before timing
const CHUNKS = Number(process.env.BENCH_GROUP_CHUNKS ?? 6) // alternations within a round
const TESTNET_NODES = Number(process.env.BENCH_GROUP_TESTNET ?? 6)
const DHT = process.env.BENCH_GROUP_DHT ?? 'child' // 'child' or 'inprocess'
const VERIFY = process.env.BENCH_GROUP_VERIFY !== '0'
// A 200-byte text (ASCII) by default. Its payload pads to 512 bytes and its sealed copy is
// 708 bytes, too big to share a 1280-byte datagram with another copy in a mailbox-put-many; a
// text under ~190 bytes pads to 256 and its copies go two to a put-many (BENCH_GROUP_TEXT_BYTES).
const TEXT_BYTES = Number(process.env.BENCH_GROUP_TEXT_BYTES ?? 200)
const TEXT = 'a'.repeat(TEXT_BYTES)
const PLAINTEXT = new Uint8Array(TEXT_BYTES).fill(0x61)
const DONE_MS = 120_000 // a chunk that does not finish by then fails the suite
const GROUP_GOAL = 0.5
const PATH_GOAL = 2
const SELF = fileURLToPath(import.meta.url)
// Room for every copy of a run: per mailbox, and per source (every put comes from 127.0.0.1).
const QUOTA = { maxCount: 100_000, maxBytes: 2 ** 30, maxSourceBytes: 2 ** 34 }

const quiet = {
  servers: [],
  lan: false,
  background: false,
  listen: false,
  fetchIntervalMs: 3_600_000,
}

/** Cleanups for the test kit, run in reverse by `close`; the first failure rethrown after. */
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

// ------------------------------------------------------------------ the ceiling

/** libsignal's sender-key store at its cheapest: live records in a Map. */
class RawSenderKeyStore extends SenderKeyStore {
  records = new Map()
  async saveSenderKey(sender, distributionId, record) {
    this.records.set(`${sender.toString()}/${distributionId}`, record)
  }
  async getSenderKey(sender, distributionId) {
    return this.records.get(`${sender.toString()}/${distributionId}`) ?? null
  }
}

/** One set: `groupEncrypt` of PLAINTEXT, then MEMBERS seals of the ciphertext. */
async function rawGroup() {
  const me = Identity.generate(libsignalKeys)
  const address = ProtocolAddress.new(me.textId, 1)
  const store = new RawSenderKeyStore()
  const distributionId = randomUUID()
  await SenderKeyDistributionMessage.create(address, distributionId, store)
  const recipients = Array.from(
    { length: MEMBERS },
    () => Identity.generate(libsignalKeys).publicKey,
  )
  const set = async () => {
    const message = await groupEncrypt(address, distributionId, store, PLAINTEXT)
    const content = {
      senderPublicKey: me.publicKey,
      senderDeviceId: 1,
      type: SignalMessageType.senderKey,
      ciphertext: message.serialize(),
    }
    let last
    for (const key of recipients) last = sealMessage(key, content, libsignalKeys)
    return last
  }
  /** `groupEncrypt`, then `put` of the ciphertext: the group mailbox path, raw. */
  const encryptAndPut = async (put) => {
    const message = await groupEncrypt(address, distributionId, store, PLAINTEXT)
    await put(message.serialize())
  }
  return { set, encryptAndPut, recipients, sealedBytes: (await set()).byteLength }
}

/**
 * For information: the DHT client's share alone. A client-mode DHT node in this process (as
 * every client has) puts one envelope of a sealed copy's size into each of the MEMBERS
 * mailboxes (fresh random bytes each, the group copies' 30-day TTL); a "set" is done once all
 * MEMBERS were stored.
 */
async function rawPuts(t, net, recipients, size) {
  const node = await clientNode(t, net)
  const set = async () => {
    const results = await Promise.all(
      recipients.map((key) =>
        node.putEnvelope(key, randomBytes(size), { ttlMs: MAX_ENVELOPE_TTL_MS }),
      ),
    )
    if (results.some((r) => r.stored === 0)) throw new Error('a put was stored nowhere')
  }
  /** One envelope into a fresh mailbox (a group mailbox of another day, say). */
  const one = async (data) => {
    const r = await node.putEnvelope(Identity.generate(libsignalKeys).publicKey, data, {
      ttlMs: MAX_ENVELOPE_TTL_MS,
    })
    if (r.stored === 0) throw new Error('a put was stored nowhere')
  }
  return { set, one }
}

/** A client-mode DHT node in this process (as every client has), joined to the testnet. */
async function clientNode(t, net) {
  const node = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    clock: systemClock,
    client: true,
  })
  t.teardown(() => node.destroy())
  await node.bootstrap(net.bootstrap)
  return node
}

// ------------------------------------------------------------------ the SDK

/**
 * A testnet node's mailboxes: one MemoryMailboxStore per mailbox. The kit's store adds up the
 * bytes of a put's source over every envelope it holds, on every put; with the ~15,000
 * envelopes a run leaves on each node (every put comes from 127.0.0.1) the testnet then
 * answered so slowly that the sender's DHT requests timed out and were resent, which costs CPU
 * time here. Per mailbox, that sum covers one member's envelopes (the quota is out of reach).
 */
class MailboxesApart {
  boxes = new Map()
  box(key) {
    const hex = toHex(key)
    let box = this.boxes.get(hex)
    if (!box) this.boxes.set(hex, (box = new MemoryMailboxStore()))
    return box
  }
  put(envelope, quota, now) {
    return this.box(envelope.mailboxKey).put(envelope, quota, now)
  }
  has(key, id, now) {
    return this.box(key).has(key, id, now)
  }
  list(key, now, limit, after) {
    return this.box(key).list(key, now, limit, after)
  }
  get(key, id, now) {
    return this.box(key).get(key, id, now)
  }
  delete(key, ids, now) {
    return this.box(key).delete(key, ids, now)
  }
  async expire(now) {
    let n = 0
    for (const box of this.boxes.values()) n += await box.expire(now)
    return n
  }
  async mailboxes(now, limit) {
    const out = []
    for (const box of this.boxes.values()) {
      if (out.length >= limit) break
      out.push(...(await box.mailboxes(now, limit - out.length)))
    }
    return out
  }
  async stats(now) {
    const sum = { envelopes: 0, bytes: 0 }
    for (const box of this.boxes.values()) {
      const s = await box.stats(now)
      sum.envelopes += s.envelopes
      sum.bytes += s.bytes
    }
    return sum
  }
}

/** The testnet's options: mailboxes apart, a quota every copy of the run fits in. */
const testnetOptions = { quota: QUOTA, mailboxStore: () => new MailboxesApart() }

/** The DHT: a testnet in a child process (default) or in this one. */
async function network(t) {
  if (DHT === 'inprocess') return testnet(t, TESTNET_NODES, testnetOptions)
  const child = await startChild([SELF, '--testnet', String(TESTNET_NODES)])
  t.teardown(() => child.stop())
  return { bootstrap: child.info.bootstrap }
}

/**
 * The sender, MEMBERS offline members with published lists and a session with the sender,
 * and their group. Each member starts (publishing its bundle and device list), adds the
 * sender, says hello (to the sender's mailbox), and is closed; the sender takes the hellos, so
 * its messages to members are plain Signal messages on established sessions, as in a group
 * whose members have talked before (not pre-key messages carrying a Kyber ciphertext each,
 * which would make every pairwise copy three times as big).
 */
async function setUp(t, net) {
  const sender = await startClient(t, net, tmpHome(t, 'sender'), quiet)
  const errors = []
  sender.on('error', (error) => errors.push(error))
  const members = []
  for (let i = 0; i < MEMBERS; i++) {
    const home = tmpHome(t, `member${i + 1}`)
    const member = await startClient(t, net, home, quiet)
    await member.contacts.add(sender.contactUri)
    await sender.contacts.add(member.contactUri)
    const hello = await member.send(sender.textId, 'hello')
    if (hello.state !== 'stored') throw new Error(`a member's hello is ${hello.state}`)
    await member.close()
    members.push({ home, textId: member.textId })
  }
  let hellos = 0
  await until(
    async () => (hellos += (await sender.fetchInbox()).length) >= MEMBERS,
    `${MEMBERS} hellos`,
    { ms: 30_000, everyMs: 100 },
  )
  const group = await sender.groups.create(
    'bench',
    members.map((m) => m.textId),
  )
  if (group.members.length !== MEMBERS + 1) throw new Error(`a group of ${group.members.length}`)
  // The group state's copies, then the first text: its key to every member device.
  await sender.flushOutbox()
  const first = await sender.groups.send(group.id, TEXT)
  if (first.state !== 'stored') throw new Error(`the first group text is ${first.state}`)
  await settled(sender, 'the set-up traffic')
  return { sender, members, groupId: group.id, errors }
}

/** Resolves once the sender's outbox is empty (every copy taken). */
async function settled(sender, what) {
  await until(() => sender.status().outbox === 0, what, { ms: 30_000 })
}

/** Runs `step` IN_FLIGHT at a time until it ran `count` times. */
async function pump(count, step) {
  let next = 0
  const worker = async () => {
    while (next < count) {
      next++
      await step()
    }
  }
  await within(
    Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, worker)),
    `${count} sends`,
    DONE_MS,
  )
}

function sdkSides({ sender, members, groupId }) {
  const stored = (m) => {
    if (m.state !== 'stored') throw new Error(`a message is ${m.state}, not stored`)
  }
  return {
    group: (count) => pump(count, async () => stored(await sender.groups.send(groupId, TEXT))),
    pairwise: (count) =>
      pump(count, async () => {
        const sent = await Promise.all(members.map((m) => sender.send(m.textId, TEXT)))
        sent.forEach(stored)
      }),
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

/** One member back online: its mailbox must hold every text it was sent. */
async function verify(t, net, member, { sender, groupId }, groupTexts, pairTexts) {
  const back = await startClient(t, net, member.home, quiet)
  let fetched = 0
  await until(
    async () => {
      fetched += (await back.fetchInbox()).length
      return fetched >= groupTexts + pairTexts
    },
    `member 1's ${groupTexts + pairTexts} texts`,
    { ms: 120_000, everyMs: 100 },
  )
  const group = (await back.history(groupId, { limit: groupTexts + 10 })).length
  const pair = (await back.history(sender.textId, { limit: pairTexts + 10 })).filter(
    (m) => m.direction === 'in',
  ).length
  await back.close()
  if (group !== groupTexts || pair !== pairTexts) {
    throw new Error(
      `member 1 holds ${group} of ${groupTexts} group texts and ${pair} of ${pairTexts} pairwise`,
    )
  }
  return { group, pair, fetched }
}

// ------------------------------------------------------------------ the run

export async function benchGroup() {
  console.log(
    `\n# Group: one text to a group of ${MEMBERS + 1} (${MEMBERS} offline members, DHT mailboxes) vs libsignal groupEncrypt + ${MEMBERS} seals, and vs ${MEMBERS} pairwise sends; ${TEXT_BYTES} B texts, SQLite homes, DHT ${DHT === 'inprocess' ? 'in this process' : 'in a child process'} (${TESTNET_NODES} nodes), ${IN_FLIGHT} in flight, ${ROUNDS} rounds × ${SENDS} sends (${CEILING_SETS} ceiling sets)`,
  )
  const t = teardowns()
  const rounds = []
  try {
    const net = await network(t)
    const setupStart = Date.now()
    const state = await setUp(t, net)
    console.log(`set-up: ${MEMBERS + 1} accounts and the group in ${Date.now() - setupStart} ms`)
    const raw = await rawGroup()
    const sdk = sdkSides(state)
    const puts = await rawPuts(t, net, raw.recipients, raw.sealedBytes)
    const runs = {
      ceiling: async (n) => {
        for (let i = 0; i < n; i++) await raw.set()
      },
      group: sdk.group,
      pairwise: sdk.pairwise,
      puts: (n) => pump(n, puts.set),
      rawMailbox: (n) => pump(n, () => raw.encryptAndPut(puts.one)),
    }
    const sizes = {
      ceiling: CEILING_SETS,
      group: SENDS,
      pairwise: SENDS,
      puts: SENDS,
      rawMailbox: SENDS,
    }
    for (const name of ['group', 'pairwise', 'puts', 'rawMailbox']) await runs[name](WARMUP)
    await runs.ceiling(Math.ceil(CEILING_SETS / 10))
    await settled(state.sender, 'the warm-up')
    let sentGroup = 1 + WARMUP
    let sentPair = WARMUP
    const order = Object.keys(runs)
    for (let r = 0; r < ROUNDS; r++) {
      const spent = {}
      for (const name of order) spent[name] = { cpuUs: 0, wallNs: 0, done: 0 }
      for (let chunk = 0; chunk < CHUNKS; chunk++) {
        for (const name of chunk % 2 ? [...order].reverse() : order) {
          const total = sizes[name]
          const n = Math.floor(total / CHUNKS) + (chunk < total % CHUNKS ? 1 : 0)
          if (n === 0) continue
          const c = await cost(() => runs[name](n))
          spent[name].cpuUs += c.cpuUs
          spent[name].wallNs += c.wallNs
          spent[name].done += n
          if (name === 'group') sentGroup += n
          if (name === 'pairwise') sentPair += n
          if (name !== 'ceiling') await settled(state.sender, `the ${name} chunk`)
          if (state.errors.length > 0) throw state.errors[0]
        }
      }
      const rate = (s) => ({ cpu: s.done / (s.cpuUs / 1e6), wall: s.done / (s.wallNs / 1e9) })
      const result = Object.fromEntries(order.map((name) => [name, rate(spent[name])]))
      rounds.push(result)
      const { ceiling, group, pairwise, puts: alone, rawMailbox } = result
      console.log(
        `round ${r + 1}: ceiling ${ceiling.cpu.toFixed(1)} sets/cpu-s, group ${group.cpu.toFixed(2)} sends/cpu-s (${group.wall.toFixed(2)}/s wall), pairwise ${pairwise.cpu.toFixed(2)} sets/cpu-s (${pairwise.wall.toFixed(2)}/s wall), puts alone ${alone.cpu.toFixed(2)} sets/cpu-s, raw encrypt + one put ${rawMailbox.cpu.toFixed(1)}/cpu-s: group/ceiling ${(group.cpu / ceiling.cpu).toFixed(3)}, group/pairwise ${(group.cpu / pairwise.cpu).toFixed(2)}`,
      )
    }
    if (VERIFY) {
      const v = await verify(t, net, state.members[0], state, sentGroup, sentPair)
      console.log(
        `member 1 back online: ${v.fetched} texts fetched, all ${v.group} group texts and ${v.pair} pairwise ones`,
      )
    }
  } finally {
    await t.close()
  }
  console.log('\n## group summary (median of round ratios)')
  const ceiling = median(rounds.map((r) => r.ceiling.cpu))
  const toCeiling = median(rounds.map((r) => r.group.cpu / r.ceiling.cpu))
  const pairwise = median(rounds.map((r) => r.pairwise.cpu))
  const toPairwise = median(rounds.map((r) => r.group.cpu / r.pairwise.cpu))
  report(`groupEncrypt + ${MEMBERS} seals, raw (ceiling)`, ceiling, ceiling, undefined, '/cpu-s')
  report(
    `group send to ${MEMBERS} member devices`,
    ceiling * toCeiling,
    ceiling,
    GROUP_GOAL,
    '/cpu-s',
  )
  report(`${MEMBERS} pairwise sends, sets`, pairwise, ceiling, undefined, '/cpu-s')
  report(
    `group send vs ${MEMBERS} pairwise (sender keys)`,
    pairwise * toPairwise,
    pairwise,
    PATH_GOAL,
    '/cpu-s',
  )
  const puts = median(rounds.map((r) => r.puts.cpu))
  console.log(
    `  for information: ${MEMBERS} mailbox puts alone (DHT client), ${fmt(puts, 1)} sets/cpu-s: what per-device copies put (the pairwise path); a group send puts one envelope`,
  )
  const rawMailbox = median(rounds.map((r) => r.rawMailbox.cpu))
  const toRawMailbox = median(rounds.map((r) => r.group.cpu / r.rawMailbox.cpu))
  report(
    '  for information: group send vs raw groupEncrypt + one put',
    rawMailbox * toRawMailbox,
    rawMailbox,
    undefined,
    '/cpu-s',
  )
  const wallPairwise = median(rounds.map((r) => r.pairwise.wall))
  report(
    '  wall clock: group send vs pairwise sets',
    wallPairwise * median(rounds.map((r) => r.group.wall / r.pairwise.wall)),
    wallPairwise,
  )
  return { ceiling, toCeiling, toPairwise, puts, rawMailbox, toRawMailbox }
}

/**
 * `--testnet n`: a testnet of n nodes; prints its bootstrap address, then runs until SIGTERM
 * (or until its parent is gone).
 */
async function serveTestnet(n) {
  const t = teardowns()
  const net = await testnet(t, n, testnetOptions)
  console.log(JSON.stringify({ bootstrap: net.bootstrap }))
  const stop = () => void t.close().finally(() => process.exit(0))
  process.once('SIGTERM', stop)
  const parent = process.ppid
  setInterval(() => {
    try {
      process.kill(parent, 0)
    } catch {
      stop()
    }
  }, 1_000).unref()
}

if (process.argv[2] === '--testnet') await serveTestnet(Number(process.argv[3]))
else if (import.meta.url === `file://${process.argv[1]}`) await benchGroup()
