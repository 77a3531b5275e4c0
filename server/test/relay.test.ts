// The relay of a super-node (issue 16) on real TCP sockets on 127.0.0.1: clients that cannot
// dial each other both keep a connection to it and get an end-to-end authenticated link
// through it; who registers is proven by the key; per-client limits cut only the offender.
import {
  FrameDecoder,
  Identity,
  LinkManager,
  ManualClock,
  ManualTimers,
  MAX_RELAY_FRAME_BYTES,
  RelayFrameType,
  RelayRegistration,
  decodeRelayFrame,
  encodeFrame,
  encodeRelayRequest,
  relayConnector,
  relayHandshake,
  relaySigningInput,
  utf8,
  type Link,
  type RelayFrame,
} from '@passage/sdk'
import { connectTcp, libsignalKeys } from '@passage/sdk/node'
import { connect } from 'node:net'
import { Registry } from 'prom-client'
import t from 'tap'
import { RelayMetrics, RelayServer, type RelayLimits } from '../src/index.js'

type Teardown = { teardown(fn: () => unknown): void }

interface Peer {
  identity: Identity
  links: LinkManager
  registration: RelayRegistration
  frames: string[]
}

async function startRelay(
  t: Teardown,
  limits: Partial<RelayLimits> = {},
  extra: { timers?: ManualTimers; clock?: ManualClock } = {},
) {
  const registry = new Registry()
  const relay = await RelayServer.start({
    identity: Identity.generate(libsignalKeys),
    host: '127.0.0.1',
    port: 0,
    limits,
    metrics: new RelayMetrics(registry),
    ...extra,
  })
  t.teardown(() => relay.close())
  const metric = async (name: string, label?: string) => {
    const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name)
    const values = (found?.values ?? []) as Array<{ value: number; labels: Record<string, string> }>
    return values
      .filter((v) => !label || Object.values(v.labels).includes(label))
      .reduce((sum, v) => sum + v.value, 0)
  }
  return { relay, metric }
}

/** A client that registers at the relay and dials peers only through it. */
function peer(t: Teardown, relay: RelayServer, relayId: Uint8Array): Peer {
  const identity = Identity.generate(libsignalKeys)
  const { host, port } = relay.address()
  const frames: string[] = []
  const links = new LinkManager({
    identity,
    resolve: () => [{ host, port, via: 'relay', relayId }],
    connect: connectTcp,
    relayConnect: (peerId, address) =>
      relayConnector(identity, peerId, {
        connect: connectTcp,
        ...(address.relayId ? { relayId: address.relayId } : {}),
      }),
    backoff: { initialMs: 1, maxMs: 1 },
  })
  links.on('frame', (payload) => frames.push(new TextDecoder().decode(payload)))
  const registration = new RelayRegistration({
    identity,
    connect: connectTcp,
    host,
    port,
    relayId,
    onLink: (link) => links.adopt(link),
    backoff: { initialMs: 10, maxMs: 50 },
  })
  registration.start()
  t.teardown(() => {
    registration.close()
    links.close()
  })
  return { identity, links, registration, frames }
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + 10_000
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const closed = (link: Link) => new Promise<void>((resolve) => link.on('close', () => resolve()))

/** Opens a raw connection and reads the relay's challenge. */
async function rawChallenge(relay: RelayServer) {
  const socket = connect(relay.address().port, '127.0.0.1')
  const decoder = new FrameDecoder(MAX_RELAY_FRAME_BYTES)
  const frames: RelayFrame[] = []
  socket.on('data', (chunk) => {
    for (const body of decoder.push(chunk)) frames.push(decodeRelayFrame(body))
  })
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  socket.on('error', () => {})
  await until('the challenge', () => frames.length > 0)
  const challenge = frames[0]!
  if (challenge.type !== RelayFrameType.challenge) throw new Error('no challenge')
  return { socket, frames, challenge, ended }
}

t.test('two clients that only reach the relay get an authenticated link through it', async (t) => {
  const { relay, metric } = await startRelay(t)
  const relayId = relay.id
  const alice = peer(t, relay, relayId)
  const bob = peer(t, relay, relayId)
  await until('both registered', () => alice.registration.registered && bob.registration.registered)
  t.equal(await metric('passage_relay_clients'), 2)
  const link = await alice.links.connect(bob.identity.id)
  t.equal(link.route, 'relay', 'the link says it is relayed')
  t.same(link.peer.id, bob.identity.id, "Alice's end proved Bob's key end to end")
  for (let i = 0; i < 100; i++) await alice.links.send(bob.identity.id, utf8(`a${i}`))
  await until('Bob has 100', () => bob.frames.length === 100)
  const back = bob.links.link(alice.identity.id)
  t.equal(back?.route, 'relay', "Bob's end is relayed too")
  t.same(back?.peer.id, alice.identity.id, "Bob's end proved Alice's key")
  for (let i = 0; i < 100; i++) await bob.links.send(alice.identity.id, utf8(`b${i}`))
  await until('Alice has 100', () => alice.frames.length === 100)
  t.same(
    bob.frames,
    Array.from({ length: 100 }, (_, i) => `a${i}`),
    'in order, each once',
  )
  t.same(
    alice.frames,
    Array.from({ length: 100 }, (_, i) => `b${i}`),
  )
  t.same(relay.stats(), { clients: 2, links: 1 })
  t.ok((await metric('passage_relay_bytes_total')) > 200 * 4, 'the bytes are counted')
  t.equal(await metric('passage_relay_requests_total', 'linked'), 1)
})

t.test(
  'both dial through the relay at once: both keep the link the smaller ID dialed, one only',
  async (t) => {
    const { relay } = await startRelay(t)
    const alice = peer(t, relay, relay.id)
    const bob = peer(t, relay, relay.id)
    await until(
      'both registered',
      () => alice.registration.registered && bob.registration.registered,
    )
    const [small, large] =
      Buffer.compare(Buffer.from(alice.identity.id), Buffer.from(bob.identity.id)) < 0
        ? [alice, bob]
        : [bob, alice]
    for (let round = 0; round < 20; round++) {
      // The same turn: neither has a link, both dial.
      await Promise.all([
        alice.links.connect(bob.identity.id),
        bob.links.connect(alice.identity.id),
      ])
      const settled = () => {
        const [a, b] = [small.links.link(large.identity.id), large.links.link(small.identity.id)]
        return a?.initiator === true && b?.initiator === false && relay.stats().links === 1
      }
      await until(`round ${round}: one link left`, settled)
      t.ok(settled(), `round ${round}: the smaller ID's dial stays on both ends, the other closed`)
      t.same(
        [alice.links.openLinks().length, bob.links.openLinks().length],
        [1, 1],
        `round ${round}: one open link each`,
      )
      const open = [...alice.links.openLinks(), ...bob.links.openLinks()]
      alice.links.closeLinks()
      await Promise.all(open.map(closed))
      await until(`round ${round}: closed`, () => relay.stats().links === 0)
    }
  },
)

t.test('a peer not registered is refused at once (the caller uses the mailbox)', async (t) => {
  const { relay, metric } = await startRelay(t)
  const relayId = relay.id
  const alice = peer(t, relay, relayId)
  const nobody = Identity.generate(libsignalKeys)
  await t.rejects(alice.links.connect(nobody.id), { code: 'PASSAGE_ERR_UNREACHABLE' })
  t.equal(await metric('passage_relay_requests_total', 'not_registered'), 1)
  await t.rejects(
    relayHandshake({
      connect: connectTcp,
      ...relay.address(),
      identity: alice.identity,
      ask: { type: 'register' },
      relayId: nobody.id,
    }),
    { code: 'PASSAGE_ERR_WRONG_PEER' },
    'a relay with another ID than its super-node is refused',
  )
})

t.test(
  "nobody takes another's relay slot: a forged or replayed registration is refused",
  async (t) => {
    const { relay, metric } = await startRelay(t)
    const relayId = relay.id
    const alice = peer(t, relay, relayId)
    const bob = peer(t, relay, relayId)
    await until(
      'both registered',
      () => alice.registration.registered && bob.registration.registered,
    )
    const mallory = Identity.generate(libsignalKeys)

    // Bob's key, Mallory's signature.
    const first = await rawChallenge(relay)
    const head = { type: RelayFrameType.register, publicKey: bob.identity.publicKey } as const
    const forged = mallory.sign(relaySigningInput(relayId, first.challenge.nonce, head))
    first.socket.write(encodeFrame(encodeRelayRequest({ ...head, signature: forged })))
    await first.ended
    t.match(
      first.frames[1],
      { type: RelayFrameType.refused, code: 2 },
      'a forged one: bad signature',
    )

    // Bob's genuine signature for one connection, replayed on another (a fresh nonce).
    const recorded = bob.identity.sign(relaySigningInput(relayId, first.challenge.nonce, head))
    const second = await rawChallenge(relay)
    second.socket.write(encodeFrame(encodeRelayRequest({ ...head, signature: recorded })))
    await second.ended
    t.match(second.frames[1], { type: RelayFrameType.refused, code: 2 }, 'a replayed one too')
    t.equal(await metric('passage_relay_requests_total', 'bad_signature'), 2)

    t.ok(bob.registration.registered, 'Bob is still registered')
    const link = await alice.links.connect(bob.identity.id)
    t.same(link.peer.id, bob.identity.id, 'and links to Bob still reach Bob')
  },
)

t.test('limits: a client over its bytes is cut, others unaffected', async (t) => {
  const { relay, metric } = await startRelay(t, { maxBytes: 64 * 1024 })
  const relayId = relay.id
  const [alice, bob, carol, dave] = [1, 2, 3, 4].map(() => peer(t, relay, relayId)) as Peer[]
  await until('all registered', () =>
    [alice, bob, carol, dave].every((p) => p!.registration.registered),
  )
  const heavy = await alice!.links.connect(bob!.identity.id)
  const light = await carol!.links.connect(dave!.identity.id)
  const heavyClosed = closed(heavy)
  const big = new Uint8Array(16 * 1024).fill(7)
  // Alice sends more than 64 KiB: her link is cut.
  for (let i = 0; i < 8 && !heavy.closed; i++) await heavy.send(big).catch(() => {})
  await heavyClosed
  t.equal(await metric('passage_relay_links_closed_total', 'bytes'), 1, 'cut for bytes')
  await light.send(utf8('still here'))
  await until('Dave has it', () => dave!.frames.includes('still here'))
  t.notOk(light.closed, "Carol and Dave's link is unaffected")
  await t.rejects(
    alice!.links.connect(bob!.identity.id),
    { code: 'PASSAGE_ERR_UNREACHABLE' },
    'Alice gets no new relayed link within the hour',
  )
  t.equal(await metric('passage_relay_requests_total', 'limit'), 1)
})

t.test('limits: links per client, and a link past its duration is cut', async (t) => {
  const clock = new ManualClock(1_000_000)
  const timers = new ManualTimers(clock)
  const { relay, metric } = await startRelay(
    t,
    { maxLinks: 1, maxDurationMs: 60_000 },
    { timers, clock },
  )
  const relayId = relay.id
  const [alice, bob, carol] = [1, 2, 3].map(() => peer(t, relay, relayId)) as Peer[]
  await until('all registered', () => [alice, bob, carol].every((p) => p!.registration.registered))
  const link = await alice!.links.connect(bob!.identity.id)
  await t.rejects(
    alice!.links.connect(carol!.identity.id),
    { code: 'PASSAGE_ERR_UNREACHABLE' },
    'a second link of Alice is refused',
  )
  t.equal(await metric('passage_relay_requests_total', 'limit'), 1)
  const ended = closed(link)
  timers.advance(60_000)
  await ended
  t.equal(await metric('passage_relay_links_closed_total', 'duration'), 1, 'cut at 60 s')
})
