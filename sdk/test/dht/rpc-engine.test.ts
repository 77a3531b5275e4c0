// The request engine alone, on a fake socket and manual timers: no UDP, no sleeps.
import t from 'tap'
import {
  decodeMessage,
  MailboxFullError,
  ManualClock,
  ManualTimers,
  proofKeyFromShared,
  proofMac,
  RemoteError,
  TimeoutError,
  type DhtMessage,
  type MessageBody,
  type MessageKind,
  type NodeAddress,
} from '@passage/sdk'
import { FakeDatagramSocket, mulberry32 } from '@passage/sdk/testing'
import { ProofCache } from '../../src/core/dht/rpc/proof-cache.js'
import { RpcEngine, type RpcEngineOptions } from '../../src/core/dht/rpc/rpc-engine.js'
import { alice, server } from './samples.js'

const PEER: NodeAddress = { host: '203.0.113.7', port: 7401 }
const TIMEOUT_MS = 100
/** tickMsFor(100): deadlines are noticed up to one tick late. */
const TICK_MS = 12

function setup(options: Partial<RpcEngineOptions> = {}) {
  const clock = new ManualClock(0)
  const timers = new ManualTimers(clock)
  const socket = new FakeDatagramSocket()
  const stats = { responses: 0, sent: 0, resent: 0, timeouts: 0 }
  const finished: Array<{ kind: MessageKind; result: string; ms: number }> = []
  const answered: Uint8Array[] = []
  const failed: Uint8Array[] = []
  const next = mulberry32(7)
  const rpc = new RpcEngine({
    socket,
    senderKey: alice.publicKey,
    client: false,
    timers,
    random: (n) => Uint8Array.from({ length: n }, () => Math.floor(next() * 256)),
    proofs: new ProofCache(alice),
    stats,
    metrics: { onRequestSent: (kind, result, ms) => finished.push({ kind, result, ms }) },
    timeoutMs: TIMEOUT_MS,
    retries: 2,
    maxInFlight: 4,
    onAnswer: (id) => answered.push(id),
    onFailure: (id) => failed.push(id),
    ...options,
  })
  /** Every request sent so far, decoded, oldest first. */
  const requests = () => socket.sent.map((d) => ({ ...d, msg: decodeMessage(d.bytes) }))
  /** `body` as the server's answer to `request`. */
  const answer = (request: DhtMessage, body: MessageBody, proof?: Uint8Array): DhtMessage =>
    ({
      ...body,
      txid: request.txid,
      senderKey: server.publicKey,
      client: false,
      wantProof: false,
      proof,
      ...(proof ? { mac: true } : {}),
    }) as DhtMessage
  return { clock, timers, socket, stats, finished, answered, failed, rpc, requests, answer }
}

/** Where a promise stands once pending microtasks ran. */
async function state(promise: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let out: 'pending' | 'resolved' | 'rejected' = 'pending'
  promise.then(
    () => (out = 'resolved'),
    () => (out = 'rejected'),
  )
  for (let i = 0; i < 5; i++) await Promise.resolve()
  return out
}

const PONG: MessageBody = {
  type: 'pong',
  observed: { host: '192.0.2.1', port: 7400 },
  token: new Uint8Array(16),
}

t.test('resends after each timeout, waiting twice as long each time, then times out', async (t) => {
  const { clock, timers, socket, stats, finished, failed, rpc } = setup()
  const reply = rpc.request(PEER, { type: 'ping' }, { expectId: server.id })
  const sendTimes: number[] = []
  let settledAt: number | undefined
  reply.catch(() => (settledAt ??= clock.now()))
  let seen = 0
  for (let ms = 0; ms <= 1_000; ms++) {
    for (; seen < socket.sent.length; seen++) sendTimes.push(clock.now())
    if (settledAt !== undefined) break
    timers.advance(1)
    await Promise.resolve()
  }
  t.equal(sendTimes.length, 3, 'the first attempt and 2 resends')
  const waits = [
    sendTimes[1]! - sendTimes[0]!,
    sendTimes[2]! - sendTimes[1]!,
    settledAt! - sendTimes[2]!,
  ]
  waits.forEach((wait, i) => {
    const due = TIMEOUT_MS * 2 ** i
    t.ok(
      wait >= due && wait < due + TICK_MS,
      `wait ${i + 1} is ${due} ms (up to a tick late): ${wait}`,
    )
  })
  t.same(new Set(socket.sent.map((d) => d.bytes.join())).size, 1, 'resends are the same datagram')
  t.ok(socket.sent.every((d) => d.host === PEER.host && d.port === PEER.port))
  await t.rejects(reply, TimeoutError)
  t.same(stats, { responses: 0, sent: 1, resent: 2, timeouts: 1 })
  t.same(
    finished.map((f) => [f.kind, f.result, f.ms]),
    [['ping', 'timeout', settledAt!]],
  )
  t.same(failed, [server.id], 'a full-effort request that timed out reports its node')
  t.equal(timers.size, 0, 'the ticker stops with nothing pending')
})

t.test('a quicker request (fewer retries) times out without reporting its node', async (t) => {
  const { timers, socket, failed, rpc } = setup()
  const reply = rpc.request(PEER, { type: 'ping' }, { expectId: server.id, retries: 0 })
  timers.advance(TIMEOUT_MS + TICK_MS)
  await t.rejects(reply, TimeoutError)
  t.equal(socket.sent.length, 1, 'no resend')
  t.same(failed, [])
})

t.test('responses match by endpoint and the full txid; others are unsolicited', async (t) => {
  const { stats, answered, rpc, requests, answer } = setup()
  const reply = rpc.request(PEER, { type: 'ping' }, { expectId: server.id })
  const ping = requests()[0]!.msg
  const pong = answer(ping, PONG)
  t.equal(rpc.receive(pong, { host: PEER.host, port: PEER.port + 1 }), 'unsolicited', 'wrong port')
  t.equal(rpc.receive(pong, { host: '203.0.113.8', port: PEER.port }), 'unsolicited', 'wrong host')
  const lastByte = Uint8Array.from(ping.txid)
  lastByte[7]! ^= 1 // same map key (first 6 bytes), different txid
  t.equal(rpc.receive({ ...pong, txid: lastByte }, PEER), 'unsolicited', 'txid differs at the end')
  const firstByte = Uint8Array.from(ping.txid)
  firstByte[0]! ^= 1
  t.equal(rpc.receive({ ...pong, txid: firstByte }, PEER), 'unsolicited', 'unknown txid')
  t.equal(await state(reply), 'pending', 'dropped answers settle nothing')
  t.equal(rpc.receive(pong, PEER), undefined, 'the real answer')
  t.equal((await reply).type, 'pong')
  t.equal(rpc.receive(pong, PEER), 'unsolicited', 'an answer to a settled request')
  t.equal(stats.responses, 1)
  t.same(answered, [server.id], 'an answer reports its node alive')
})

t.test('the responder must be the node expected and prove its key when asked', async (t) => {
  const { rpc, requests, answer } = setup()
  const wrongNode = rpc.request(PEER, { type: 'ping' }, { expectId: alice.id })
  const first = requests()[0]!.msg
  t.equal(rpc.receive(answer(first, PONG), PEER), 'bad-proof', 'its key hashes to another ID')
  t.equal(await state(wrongNode), 'pending')

  const proven = rpc.request(PEER, { type: 'ping' }, { wantProof: true })
  const second = requests()[1]!.msg
  t.ok(second.wantProof && second.mac, 'asks for a MAC proof')
  t.equal(rpc.receive(answer(second, PONG), PEER), 'bad-proof', 'no proof')
  t.equal(rpc.receive(answer(second, PONG, new Uint8Array(32)), PEER), 'bad-proof', 'a wrong MAC')
  const key = proofKeyFromShared(server.agree(alice.publicKey))!
  const mac = proofMac(key, second.txid, alice.id)
  t.equal(rpc.receive(answer(second, PONG, mac), PEER), undefined, 'the server’s MAC')
  t.equal((await proven).type, 'pong')
  rpc.destroy()
  await t.rejects(wrongNode, RemoteError)
})

t.test('at most maxInFlight requests are out; the next waits for a free slot', async (t) => {
  const { timers, socket, rpc, requests, answer } = setup({ maxInFlight: 2 })
  const once = { retries: 0 }
  const first = rpc.request(PEER, { type: 'ping' }, once)
  const second = rpc.request(PEER, { type: 'ping' }, once)
  const third = rpc.request(PEER, { type: 'find-node', target: server.id }, once)
  const fourth = rpc.request(PEER, { type: 'record-get', key: server.id }, once)
  t.equal(socket.sent.length, 2, 'two out, two waiting')
  t.equal(timers.size, 1, 'one ticker for every request')
  timers.advance(50)
  t.equal(rpc.receive(answer(requests()[0]!.msg, PONG), PEER), undefined)
  t.equal(socket.sent.length, 3, 'an answer frees a slot: the next goes out at once')
  t.equal(requests()[2]!.msg.type, 'find-node', 'in the order asked')
  await first
  timers.advance(60) // the second times out (sent at 0), the third not yet (sent at 50)
  await t.rejects(second, TimeoutError)
  t.equal(socket.sent.length, 4, 'a timeout frees a slot too')
  t.equal(requests()[3]!.msg.type, 'record-get')
  t.equal(await state(third), 'pending')
  const get = requests()[3]!.msg
  rpc.receive(answer(get, { type: 'record-result', record: undefined }), PEER)
  t.equal((await fourth).type, 'record-result')
  timers.advance(TIMEOUT_MS)
  await t.rejects(third, TimeoutError)
  t.equal(timers.size, 0)
})

t.test('onSlow is called once, when the first attempt times out', async (t) => {
  const { timers, rpc, requests, answer } = setup({ retries: 3 })
  let slow = 0
  const reply = rpc.request(PEER, { type: 'ping' }, { onSlow: () => slow++ })
  timers.advance(TIMEOUT_MS - 1)
  t.equal(slow, 0, 'not before the timeout')
  timers.advance(TICK_MS + 1)
  t.equal(slow, 1, 'at the first timeout')
  timers.advance(5 * TIMEOUT_MS)
  t.equal(slow, 1, 'not again on later timeouts')
  t.equal(rpc.receive(answer(requests()[0]!.msg, PONG), PEER), undefined)
  await reply
  let quick = 0
  const fast = rpc.request(PEER, { type: 'ping' }, { onSlow: () => quick++ })
  rpc.receive(answer(requests().at(-1)!.msg, PONG), PEER)
  await fast
  timers.advance(10 * TIMEOUT_MS)
  t.equal(quick, 0, 'never for a request answered in time')
})

t.test('destroy rejects pending and queued requests, and every later one', async (t) => {
  const { timers, socket, finished, rpc } = setup({ maxInFlight: 1 })
  const pending = rpc.request(PEER, { type: 'ping' })
  const queued = rpc.request(PEER, { type: 'find-node', target: server.id })
  t.equal(socket.sent.length, 1)
  rpc.destroy()
  await t.rejects(pending, RemoteError)
  await t.rejects(queued, RemoteError)
  await t.rejects(rpc.request(PEER, { type: 'ping' }), RemoteError)
  t.equal(timers.size, 0, 'the ticker stopped')
  timers.advance(10 * TIMEOUT_MS)
  t.equal(socket.sent.length, 1, 'nothing more is sent')
  t.same(finished, [], 'no round trip to report')
})

t.test('metrics see ok, error and timeout with their round-trip times', async (t) => {
  const { timers, finished, rpc, requests, answer } = setup({ retries: 0 })
  const ok = rpc.request(PEER, { type: 'ping' })
  const refused = rpc.request(PEER, { type: 'record-get', key: server.id })
  const lost = rpc.request(PEER, { type: 'find-node', target: server.id })
  const [ping, get] = requests().map((r) => r.msg) as [DhtMessage, DhtMessage]
  timers.advance(5)
  rpc.receive(answer(ping, PONG), PEER)
  timers.advance(3)
  rpc.receive(answer(get, { type: 'error', code: 10, message: 'mailbox full' }), PEER)
  timers.advance(TIMEOUT_MS + TICK_MS)
  await ok
  await t.rejects(refused, MailboxFullError, 'an error answer rejects with the SDK error')
  await t.rejects(lost, TimeoutError)
  t.same(
    finished.map((f) => [f.kind, f.result]),
    [
      ['ping', 'ok'],
      ['record-get', 'error'],
      ['find-node', 'timeout'],
    ],
  )
  t.same(
    finished.slice(0, 2).map((f) => f.ms),
    [5, 8],
  )
  t.ok(finished[2]!.ms >= TIMEOUT_MS && finished[2]!.ms < TIMEOUT_MS + TICK_MS)
})
