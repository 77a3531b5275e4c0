import t from 'tap'
import {
  Identity,
  ManualClock,
  ManualTimers,
  RecordType,
  ReplayError,
  DhtNode,
  signRecord,
  systemTimers,
  utf8,
  type DropReason,
  type Timers,
} from '@passage/sdk'
import { libsignalKeys, bindUdpSocket } from '@passage/sdk/node'
import { createTestnet, until } from '@passage/sdk/testing'
import { bundlePayload } from '../helpers/bundle-payload.js'

t.test('signed records: put on the k closest, newest seq wins, stale seq refused', async (t) => {
  const bundleV1 = bundlePayload(1)
  const clock = new ManualClock()
  const net = await createTestnet(30, { clock })
  t.teardown(() => net.destroy())
  const alice = Identity.generate(libsignalKeys)
  const v1 = signRecord(alice, {
    type: RecordType.preKeyBundle,
    seq: 1,
    timestamp: clock.now(),
    payload: bundleV1,
  })
  const put1 = await net.nodes[2]!.putRecord(v1)
  t.equal(put1.stored, 20)
  const got1 = await net.nodes[17]!.getRecord(alice.publicKey, RecordType.preKeyBundle)
  t.equal(got1?.seq, 1)
  t.same(got1?.payload, bundleV1)
  t.equal(await net.nodes[17]!.getRecord(alice.publicKey, RecordType.deviceList), undefined)
  const v2 = signRecord(alice, {
    type: RecordType.preKeyBundle,
    seq: 2,
    timestamp: clock.now(),
    payload: bundlePayload(2),
  })
  t.equal((await net.nodes[5]!.putRecord(v2)).stored, 20)
  t.equal((await net.nodes[9]!.getRecord(alice.publicKey, RecordType.preKeyBundle))?.seq, 2)
  const stale = await net.nodes[6]!.putRecord(v1)
  t.equal(stale.stored, 0, 'a lower seq is refused everywhere')
  t.ok(stale.errors.length === 20 && stale.errors.every((e) => e instanceof ReplayError))
  // A forged record (signature by someone else) is refused before it is sent.
  const mallory = Identity.generate(libsignalKeys)
  const forged = { ...v2, seq: 3, signature: mallory.sign(utf8('x')) }
  await t.rejects(net.nodes[6]!.putRecord(forged))
})

t.test('metrics hooks see drops, requests and lookups; contacts can be saved', async (t) => {
  const drops: DropReason[] = []
  const handled: string[] = []
  let lookups = 0
  const net = await createTestnet(6, {
    node: {
      metrics: {
        onDrop: (r) => drops.push(r),
        onRequestHandled: (kind, result) => handled.push(`${kind}:${result}`),
        onLookup: () => lookups++,
      },
    },
  })
  t.teardown(() => net.destroy())
  const a = net.nodes[0]!
  const { host, port } = a.address()
  const b = net.nodes[1]!
  await b.lookup(a.id)
  t.ok(lookups > 0)
  t.ok(handled.includes('find-node:ok'))
  // Garbage at node a, sent through node b's socket-level sibling: a raw socket.
  const raw = await bindUdpSocket()
  t.teardown(() => raw.close())
  const before = a.stats.dropped.malformed
  await raw.send(utf8('not a datagram'), port, host)
  for (let i = 0; i < 200 && a.stats.dropped.malformed === before; i++) {
    await new Promise((r) => setTimeout(r, 5))
  }
  t.equal(a.stats.dropped.malformed, before + 1)
  t.ok(drops.includes('malformed'))
  const contacts = a.contacts()
  t.ok(contacts.length >= 4, `${contacts.length} contacts to save`)
  // A restarted node bootstraps from its saved contacts alone (they prove their keys again).
  const fresh = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket(),
  })
  t.teardown(() => fresh.destroy())
  t.equal(await fresh.bootstrap(contacts), 6, 'every live node is found')
})

/** How long loopback datagrams may take to arrive on a loaded machine. */
const ARRIVAL_MS = 20_000

t.test('per-IP rate limit drops floods with a reason', async (t) => {
  const clock = new ManualClock()
  // Two nodes of their own, not a testnet: a testnet's joins from 127.0.0.1 would spend the
  // limited node's tokens, and their resends (on the host's timers) land amid the flood.
  const a = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    clock,
    rateLimit: { perSecond: 10, burst: 5 },
  })
  // The flood's requests time out on manual timers, when the test says: an answer late on a
  // loaded machine still counts, and only the requests dropped at `a` time out.
  const timers = new ManualTimers(clock)
  const b = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    clock,
    timers,
    client: true, // `a` answers without pinging back: only the flood takes its tokens
  })
  t.teardown(async () => {
    await Promise.all([a.destroy(), b.destroy()])
  })
  const settled = (requests: number) =>
    b.stats.responses + a.stats.dropped['rate-limited'] >= requests
  const flood = Array.from({ length: 8 }, () =>
    b.request(a.address(), { type: 'ping' }, { retries: 0, timeoutMs: 300 }),
  )
  // Every request answered by `a` or dropped there; then the dropped ones time out.
  await until(() => settled(8), 'the flood answered or dropped', { ms: ARRIVAL_MS })
  timers.advance(300)
  const results = await Promise.allSettled(flood)
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 5, 'the burst passes')
  t.equal(a.stats.dropped['rate-limited'], 3, 'the rest is dropped as rate-limited')
  clock.advance(1000)
  const refilled = b.request(a.address(), { type: 'ping' }, { retries: 0, timeoutMs: 300 })
  await until(() => settled(9), 'the ping after the refill answered', { ms: ARRIVAL_MS })
  timers.advance(300)
  await t.resolves(refilled, 'tokens refill with the clock')
})

t.test('requests: resent, then timed out, by one ticker that stops when idle', async (t) => {
  // The host's timers, counted: the nodes' intervals are unref'd, so the process's active
  // resources do not show them.
  let intervals = 0
  const counted: Timers = {
    ...systemTimers,
    setInterval: (callback, ms) => {
      intervals++
      return systemTimers.setInterval(callback, ms)
    },
    clearInterval: (handle) => {
      intervals--
      systemTimers.clearInterval(handle)
    },
  }
  const timers = () => intervals
  const silent = await bindUdpSocket('127.0.0.1', 0) // never answers
  const alive = await bindUdpSocket('127.0.0.1', 0)
  const a = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: alive,
    requestTimeoutMs: 40,
    timers: counted,
  })
  const b = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    requestTimeoutMs: 40,
    timers: counted,
    client: true, // \`a\` answers without pinging back: nothing of its own in flight
  })
  t.teardown(async () => {
    await Promise.all([a.destroy(), b.destroy(), silent.close()])
  })
  const before = timers()
  let slow = 0
  const lost = Promise.all(
    Array.from({ length: 10 }, () =>
      b.request(silent.address(), { type: 'ping' }, { retries: 2, onSlow: () => slow++ }),
    ).map((p) =>
      p.then(
        () => 'answered',
        (e: Error) => e.name,
      ),
    ),
  )
  t.equal(timers(), before + 1, 'ten requests in flight: one timer')
  t.same(await lost, Array<string>(10).fill('TimeoutError'))
  t.equal(b.stats.sent, 10)
  t.equal(b.stats.resent, 20, 'two resends each')
  t.equal(b.stats.timeouts, 10)
  t.equal(slow, 10, 'onSlow once per request, at its first timeout')
  const pong = await b.request(a.address(), { type: 'ping' })
  t.equal(pong.type, 'pong')
  t.equal(timers(), before, 'no request in flight: no timer')
})

t.test('destroy() fails requests in flight and those queued for a slot', async (t) => {
  const silent = await bindUdpSocket('127.0.0.1', 0)
  const node = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    maxInFlight: 2,
  })
  t.teardown(() => silent.close())
  const outcomes = Array.from({ length: 5 }, () =>
    node.request(silent.address(), { type: 'ping' }).then(
      () => 'answered',
      (e: Error) => e.message,
    ),
  )
  t.equal(node.stats.sent, 2, 'two in flight, three queued')
  await node.destroy()
  t.same(await Promise.all(outcomes), Array<string>(5).fill('the node is destroyed'))
  await t.rejects(node.request(silent.address(), { type: 'ping' }), /destroyed/)
})
