import t from 'tap'
import {
  backoffDelay,
  compareBytes,
  dialLink,
  fromUtf8,
  LinkListener,
  LinkManager,
  ManualClock,
  ManualTimers,
  UnreachableError,
  utf8,
  type Bytes,
  type DialLinkOptions,
  type Link,
  type LinkAddress,
} from '@passage/sdk'
import { listenTcp, connectTcp } from '@passage/sdk/node'
import { within, until, listenLinks, identities } from '@passage/sdk/testing'

const { alice, bob } = identities('alice', 'bob')

async function deadPort(): Promise<number> {
  const listener = await LinkListener.listen({ listen: listenTcp, identity: bob })
  const { port } = listener.address()
  await listener.close()
  return port
}

t.test('backoff: doubles, caps, jitters down by at most the jitter share', async (t) => {
  const opts = { initialMs: 1_000, maxMs: 5_000, jitter: 0.5 }
  t.same(
    [1, 2, 3, 4, 5, 60].map((n) => backoffDelay(n, () => 1, opts)),
    [1_000, 2_000, 4_000, 5_000, 5_000, 5_000],
  )
  t.same(
    [1, 2, 3, 4].map((n) => backoffDelay(n, () => 0, opts)),
    [500, 1_000, 2_000, 2_500],
  )
  t.equal(
    backoffDelay(1_000, () => 0.5),
    45_000,
    'default cap 60 s, jittered',
  )
})

t.test('send dials on demand, reuses the link, and frames surface as events', async (t) => {
  const listener = await listenLinks(t, bob)
  const bobSide = new LinkManager({ connect: connectTcp, identity: bob, resolve: () => [] })
  t.teardown(() => bobSide.close())
  listener.on('link', (link) => bobSide.adopt(link))
  const got: string[] = []
  bobSide.on('frame', (payload, peer) => {
    t.same(peer.id, alice.id)
    got.push(fromUtf8(payload))
  })
  let dials = 0
  const aliceSide = new LinkManager({
    connect: connectTcp,
    identity: alice,
    resolve: () => [listener.address()],
    dial: (options: DialLinkOptions) => {
      dials++
      return dialLink(options)
    },
  })
  t.teardown(() => aliceSide.close())
  await Promise.all([aliceSide.send(bob.id, utf8('one')), aliceSide.send(bob.id, utf8('two'))])
  await aliceSide.send(bob.id, utf8('three'))
  await until(() => got.length === 3, 'three frames')
  t.same(got, ['one', 'two', 'three'])
  t.equal(dials, 1, 'concurrent sends share one dial; later sends reuse the link')
  t.equal(listener.stats.accepted, 1)

  // Bob answers over the same link, without dialing.
  const atAlice = within(
    new Promise<Bytes>((resolve) => aliceSide.on('frame', (payload) => resolve(payload))),
    'the answer',
  )
  await bobSide.send(alice.id, utf8('ack'))
  t.equal(fromUtf8(await atAlice), 'ack')
})

t.test('nothing is queued: no address or a dead address is UnreachableError at once', async (t) => {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const port = await deadPort()
  let addresses: LinkAddress[] = []
  let dials = 0
  const manager = new LinkManager({
    connect: connectTcp,
    identity: alice,
    clock,
    timers,
    random: () => 1,
    resolve: () => addresses,
    dial: (options) => {
      dials++
      return dialLink(options)
    },
  })
  t.teardown(() => manager.close())
  t.equal(manager.reachable(bob.id), true, 'never tried: worth a dial')
  await t.rejects(manager.send(bob.id, utf8('x')), UnreachableError, 'no address known')
  t.equal(dials, 0)
  clock.advance(1_000)
  addresses = [{ host: '127.0.0.1', port }]
  await t.rejects(manager.send(bob.id, utf8('x')), UnreachableError, 'refused')
  t.equal(dials, 1)
  t.same(manager.backoffOf(bob.id), { failures: 2, retryAt: clock.now() + 2_000 })
  t.equal(manager.reachable(bob.id), false, 'backing off: a sender skips the link at once')
  await t.rejects(manager.send(bob.id, utf8('x')), UnreachableError, 'backing off: fails fast')
  t.equal(dials, 1, 'no dial while backing off')
  t.equal(timers.size, 0, 'a peer nobody keeps gets no redial timer')
  clock.advance(1_999)
  t.equal(manager.reachable(bob.id), false, 'not before the backoff is over')
  clock.advance(1)
  t.equal(manager.reachable(bob.id), true, 'the backoff is over: worth a dial')
  await t.rejects(manager.send(bob.id, utf8('x')), UnreachableError)
  t.equal(dials, 2, 'the backoff is over: dial again')
})

t.test('kept peers redial with capped backoff on manual timers, then after a drop', async (t) => {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const port = await deadPort()
  const manager = new LinkManager({
    connect: connectTcp,
    identity: alice,
    clock,
    timers,
    random: () => 1,
    backoff: { initialMs: 1_000, maxMs: 4_000 },
    resolve: () => [{ host: '127.0.0.1', port }],
  })
  t.teardown(() => manager.close())
  const delays: number[] = []
  manager.on('unreachable', (_id, _error, retryInMs) => delays.push(retryInMs))
  const links: Link[] = []
  manager.on('link', (link) => links.push(link))

  manager.keep(bob.id)
  await until(() => delays.length === 1, 'the first failure')
  for (let attempt = 2; attempt <= 5; attempt++) {
    const wait = delays[delays.length - 1]!
    t.equal(timers.advance(wait - 1), 0, `attempt ${attempt} not before its delay`)
    t.equal(timers.advance(1), 1, `attempt ${attempt} at its delay`)
    await until(() => delays.length === attempt, `failure ${attempt}`)
  }
  t.same(delays, [1_000, 2_000, 4_000, 4_000, 4_000], 'doubling, capped at 4 s')

  // Bob comes up on that port: the next timer connects, and the backoff is forgotten.
  const listener = await listenLinks(t, bob, { port })
  timers.advance(delays[delays.length - 1]!)
  await until(() => links.length === 1, 'the link')
  t.same(links[0]!.peer.id, bob.id)
  t.equal(manager.backoffOf(bob.id), undefined)
  t.equal(timers.size, 0)

  // Bob drops the link: Alice redials after the first backoff step.
  const down = within(
    new Promise<void>((resolve) => manager.on('down', () => resolve())),
    'the drop',
  )
  for (const link of listener.openLinks()) link.close()
  await down
  t.equal(timers.size, 1)
  t.equal(timers.nextDue(), clock.now() + 1_000)
  timers.advance(1_000)
  await until(() => links.length === 2, 'the second link')
  t.ok(manager.link(bob.id))

  manager.release(bob.id)
  t.equal(timers.size, 0)
})

t.test('both sides dial at once: both keep the same single link', async (t) => {
  const aliceListener = await listenLinks(t, alice)
  const bobListener = await listenLinks(t, bob)
  const aliceSide = new LinkManager({
    connect: connectTcp,
    identity: alice,
    resolve: () => [bobListener.address()],
  })
  const bobSide = new LinkManager({
    connect: connectTcp,
    identity: bob,
    resolve: () => [aliceListener.address()],
  })
  t.teardown(() => aliceSide.close())
  t.teardown(() => bobSide.close())
  aliceListener.on('link', (link) => aliceSide.adopt(link))
  bobListener.on('link', (link) => bobSide.adopt(link))
  await Promise.all([aliceSide.connect(bob.id), bobSide.connect(alice.id)])
  await until(
    () =>
      aliceSide.openLinks().length === 1 &&
      bobSide.openLinks().length === 1 &&
      aliceListener.openLinks().length + bobListener.openLinks().length === 1,
    'one link left',
  )
  const aliceDials = compareBytes(alice.id, bob.id) < 0
  t.equal(aliceSide.link(bob.id)!.initiator, aliceDials, 'the smaller ID dialed the kept link')
  t.equal(bobSide.link(alice.id)!.initiator, !aliceDials)
  const atBob = within(
    new Promise<string>((resolve) => bobSide.on('frame', (p) => resolve(fromUtf8(p)))),
    'a frame',
  )
  await aliceSide.send(bob.id, utf8('still works'))
  t.equal(await atBob, 'still works')
})

t.test(
  'routes in order LAN, direct, relay; a direct address before a relay gets 3 s',
  async (t) => {
    const tried: Array<{ host: string; via?: string; timeoutMs?: number; relayed: boolean }> = []
    const addresses: LinkAddress[] = [
      { host: '192.168.1.7', port: 7000 },
      { host: '203.0.113.9', port: 7000 },
      { host: '198.51.100.1', port: 7402, via: 'relay' },
    ]
    const relayConnector = async () => {
      throw new Error('not used: dial is faked')
    }
    const manager = new LinkManager({
      identity: alice,
      resolve: () => addresses,
      connect: connectTcp,
      relayConnect: () => relayConnector,
      dial: async (options: DialLinkOptions) => {
        tried.push({
          host: options.host,
          relayed: options.connect === relayConnector,
          ...(options.route ? { via: options.route } : {}),
          ...(options.handshakeTimeoutMs !== undefined
            ? { timeoutMs: options.handshakeTimeoutMs }
            : {}),
        })
        throw new UnreachableError('no')
      },
    })
    t.teardown(() => manager.close())
    await t.rejects(manager.connect(bob.id), UnreachableError)
    t.same(tried, [
      { host: '192.168.1.7', relayed: false, via: 'direct', timeoutMs: 3_000 },
      { host: '203.0.113.9', relayed: false, via: 'direct', timeoutMs: 3_000 },
      { host: '198.51.100.1', relayed: true, via: 'relay' },
    ])

    // Without a relay connector, relay addresses are skipped; with no relay after, no cut.
    tried.length = 0
    const plain = new LinkManager({
      identity: alice,
      resolve: () => addresses,
      connect: connectTcp,
      dial: async (options: DialLinkOptions) => {
        tried.push({ host: options.host, relayed: false })
        throw new UnreachableError('no')
      },
    })
    t.teardown(() => plain.close())
    await t.rejects(plain.connect(bob.id), UnreachableError)
    t.same(
      tried.map((a) => a.host),
      ['192.168.1.7', '203.0.113.9'],
    )
  },
)
