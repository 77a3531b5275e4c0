import t from 'tap'
import {
  BEACON_BYTES,
  BadSignatureError,
  decodeBeacon,
  encodeBeacon,
  type Identity,
  LAN_PEER_TTL_MS,
  LanDiscovery,
  MalformedError,
  ManualClock,
  ManualTimers,
  signBeacon,
  verifyBeacon,
  type DatagramSocket,
  type DiscoveredPeer,
} from '@passage/sdk'
import { libsignalKeys, bindMulticastSocket, bindUdpSocket } from '@passage/sdk/node'
import { within, until, freeUdpPort, identities } from '@passage/sdk/testing'

const { alice, bob, carol, mallory } = identities('alice', 'bob', 'carol', 'mallory')
const GROUP = '239.255.77.77'
const INTERVAL_MS = 5_000

function nextPeer(lan: LanDiscovery): Promise<DiscoveredPeer> {
  return within(new Promise((resolve) => lan.on('peer', resolve)), 'a peer')
}

t.test('beacon codec: round trip, fixed size, refusals', async (t) => {
  const beacon = signBeacon(alice, { tcpPort: 7400, timestamp: 1_764_000_000_000, seq: 42 })
  const bytes = encodeBeacon(beacon)
  t.equal(bytes.byteLength, BEACON_BYTES)
  t.same(decodeBeacon(bytes), beacon)
  verifyBeacon(decodeBeacon(bytes), libsignalKeys)
  t.throws(() => decodeBeacon(bytes.subarray(1)), MalformedError, 'short')
  t.throws(() => decodeBeacon(bytes.map((b, i) => (i === 0 ? 0 : b))), MalformedError, 'magic')
  t.throws(() => decodeBeacon(bytes.map((b, i) => (i === 2 ? 9 : b))), MalformedError, 'version')
  const tampered = bytes.map((b, i) => (i === 37 ? b ^ 1 : b)) // the TCP port
  t.throws(() => verifyBeacon(decodeBeacon(tampered), libsignalKeys), BadSignatureError)
  t.throws(() => signBeacon(alice, { tcpPort: 0, timestamp: 1, seq: 1 }), MalformedError)
})

t.test('two nodes find each other over multicast on loopback', async (t) => {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const port = await freeUdpPort()
  const make = (identity: Identity, tcpPort: number) => {
    const lan = new LanDiscovery({
      bind: bindMulticastSocket,
      identity,
      tcpPort,
      clock,
      timers,
      group: GROUP,
      port,
      interface: '127.0.0.1',
      intervalMs: INTERVAL_MS,
    })
    t.teardown(() => lan.stop())
    return lan
  }
  const a = make(alice, 7001)
  const b = make(bob, 7002)
  const aSeesB = nextPeer(a)
  const bSeesA = nextPeer(b)
  await a.start()
  await b.start() // its first beacon reaches A
  const atA = await aSeesB
  t.same(atA.id, bob.id)
  t.equal(atA.textId, bob.textId)
  t.equal(atA.host, '127.0.0.1')
  t.equal(atA.tcpPort, 7002)
  t.equal(atA.lastSeen, clock.now())
  timers.advance(INTERVAL_MS) // the next round reaches B too
  const atB = await bSeesA
  t.same(atB.id, alice.id)
  t.equal(atB.tcpPort, 7001)
  await until(() => a.stats.dropped.own >= 1 && b.stats.dropped.own >= 1, 'own beacons')
  t.same(
    a.peers().map((p) => p.textId),
    [bob.textId],
  )
  t.same(b.peer(alice.id)?.tcpPort, 7001)

  // Bob leaves: after the TTL without beacons, Alice forgets him and says so.
  await b.stop()
  const lost = within(new Promise<DiscoveredPeer>((resolve) => a.on('lost', resolve)), 'lost')
  const before = a.stats.accepted
  for (let waited = 0; waited <= LAN_PEER_TTL_MS; waited += INTERVAL_MS) timers.advance(INTERVAL_MS)
  t.same((await lost).id, bob.id)
  t.same(a.peers(), [])
  t.equal(a.stats.accepted, before)
})

t.test('forged, stale, replayed, garbage and own beacons are dropped and counted', async (t) => {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const port = await freeUdpPort()
  const lan = new LanDiscovery({
    bind: bindMulticastSocket,
    identity: alice,
    tcpPort: 7001,
    clock,
    timers,
    group: GROUP,
    port,
    interface: '127.0.0.1',
  })
  t.teardown(() => lan.stop())
  await lan.start()
  const sender: DatagramSocket = await bindMulticastSocket({
    group: GROUP,
    port,
    interface: '127.0.0.1',
  })
  t.teardown(() => sender.close())
  const send = (bytes: Uint8Array) => sender.send(bytes, port, GROUP)
  const now = clock.now()
  const valid = encodeBeacon(signBeacon(carol, { tcpPort: 7003, timestamp: now, seq: now }))
  const forged = encodeBeacon({
    ...signBeacon(carol, { tcpPort: 7003, timestamp: now, seq: now + 10 }),
    signature: mallory.sign(new Uint8Array(10)),
  })
  const stalePast = encodeBeacon(
    signBeacon(bob, { tcpPort: 7002, timestamp: now - 60_001, seq: now - 60_001 }),
  )
  const staleFuture = encodeBeacon(
    signBeacon(bob, { tcpPort: 7002, timestamp: now + 60_001, seq: now + 60_001 }),
  )
  const older = encodeBeacon(signBeacon(carol, { tcpPort: 7003, timestamp: now, seq: now - 1 }))
  const own = encodeBeacon(signBeacon(alice, { tcpPort: 7001, timestamp: now, seq: now + 99 }))

  const peers: DiscoveredPeer[] = []
  lan.on('peer', (p) => peers.push(p))
  const received = lan.stats.received
  for (const bytes of [
    forged,
    valid,
    valid,
    older,
    stalePast,
    staleFuture,
    own,
    Uint8Array.of(1, 2, 3),
  ]) {
    await send(bytes)
  }
  await until(() => lan.stats.received >= received + 8, 'eight datagrams')
  t.same(lan.stats.dropped, { malformed: 1, badSignature: 1, stale: 2, replay: 2, own: 2 })
  t.same(
    peers.map((p) => p.textId),
    [carol.textId],
    'only the valid beacon made a peer, once',
  )
  t.equal(lan.peer(carol.id)?.tcpPort, 7003)
  t.notOk(lan.peer(bob.id), 'stale beacons made no peer')

  // A forged beacon with a huge seq must not lock the real sender out.
  const next = encodeBeacon(signBeacon(carol, { tcpPort: 7004, timestamp: now, seq: now + 1 }))
  t.equal(lan.receive(next, { host: '127.0.0.1', port })?.tcpPort, 7004)
  t.equal(BEACON_BYTES, 118)
})

t.test('unicast mode: beacons to an explicit address list', async (t) => {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const aSocket = await bindUdpSocket('127.0.0.1', 0)
  const bSocket = await bindUdpSocket('127.0.0.1', 0)
  const a = new LanDiscovery({
    identity: alice,
    tcpPort: 7001,
    clock,
    timers,
    bind: async () => aSocket,
    targets: [bSocket.address()],
  })
  const b = new LanDiscovery({
    identity: bob,
    tcpPort: 7002,
    clock,
    timers,
    bind: async () => bSocket,
    targets: [aSocket.address()],
  })
  t.teardown(() => a.stop())
  t.teardown(() => b.stop())
  const aSeesB = nextPeer(a)
  const bSeesA = nextPeer(b)
  await b.start()
  await a.start()
  t.equal((await bSeesA).tcpPort, 7001)
  timers.advance(INTERVAL_MS)
  t.equal((await aSeesB).tcpPort, 7002)
})
