import { connect, createServer, type Socket } from 'node:net'
import t from 'tap'
import {
  BadSignatureError,
  dialLink,
  encodeFrame,
  encodeLinkHello,
  encodeLinkProof,
  fromUtf8,
  HANDSHAKE_TIMEOUT_MS,
  type Identity,
  LinkClosedError,
  LinkListener,
  LinkProtocol,
  LinkRole,
  MalformedError,
  ManualClock,
  ManualTimers,
  MAX_FRAME_BYTES,
  MAX_LINK_PAYLOAD_BYTES,
  TimeoutError,
  TooLargeError,
  UnreachableError,
  utf8,
  WrongPeerError,
  type Bytes,
  type Link,
  type PassageError,
} from '@passage/sdk'
import { listenTcp, connectTcp } from '@passage/sdk/node'
import { within, listenLinks, identities } from '@passage/sdk/testing'

const { alice, bob, carol, mallory } = identities('alice', 'bob', 'carol', 'mallory')

type HasTeardown = Pick<typeof t, 'teardown'>

function nextLink(listener: LinkListener): Promise<Link> {
  return within(new Promise((resolve) => listener.on('link', resolve)), 'a link')
}

function nextRefusal(listener: LinkListener): Promise<PassageError> {
  return within(new Promise((resolve) => listener.on('refused', (e) => resolve(e))), 'a refusal')
}

function nextFrame(link: Link): Promise<Bytes> {
  return within(
    new Promise((resolve) => {
      const handler = (payload: Bytes) => {
        link.off('frame', handler)
        resolve(payload)
      }
      link.on('frame', handler)
    }),
    'a frame',
  )
}

function closed(link: Link): Promise<PassageError | undefined> {
  return within(new Promise((resolve) => link.on('close', resolve)), 'the link to close')
}

/** A raw TCP client with everything it received. */
async function raw(t: HasTeardown, port: number) {
  const socket = connect({ host: '127.0.0.1', port })
  t.teardown(() => socket.destroy())
  const received: Buffer[] = []
  socket.on('data', (chunk: Buffer) => received.push(chunk))
  socket.on('error', () => {})
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  await within(new Promise((resolve) => socket.once('connect', resolve)), 'connect')
  return { socket, received, ended: within(ended, 'the server to close the socket') }
}

/** A raw client that completes the handshake as `identity` using the pure protocol. */
async function rawAuthenticated(
  t: HasTeardown,
  port: number,
  identity: Identity,
  expectedId: Bytes,
) {
  const { socket, ended } = await raw(t, port)
  const protocol = new LinkProtocol({ identity, role: LinkRole.dialer, expectedId })
  socket.removeAllListeners('data')
  const open = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      try {
        const step = protocol.receive(chunk)
        for (const out of step.out) socket.write(out)
        if (step.authenticated) resolve()
      } catch (error) {
        reject(error as Error)
      }
    })
  })
  socket.write(protocol.start())
  await within(open, 'the raw handshake')
  return { socket, protocol, ended }
}

t.test('a dialed link authenticates both sides and carries frames both ways', async (t) => {
  const listener = await listenLinks(t, bob)
  const { port } = listener.address()
  const accepted = nextLink(listener)
  const link = await dialLink({
    connect: connectTcp,
    host: '127.0.0.1',
    port,
    expectedId: bob.id,
    identity: alice,
  })
  t.teardown(() => link.close())
  const far = await accepted
  t.same(link.peer.id, bob.id, 'the dialer knows it reached Bob')
  t.same(far.peer.id, alice.id, 'the listener knows Alice dialed')
  t.equal(far.peer.textId, alice.textId)
  t.ok(link.initiator)
  t.notOk(far.initiator)

  const atBob = nextFrame(far)
  await link.send(utf8('hello Bob'))
  t.equal(fromUtf8(await atBob), 'hello Bob')
  const atAlice = nextFrame(link)
  await far.send(utf8('hello Alice'))
  t.equal(fromUtf8(await atAlice), 'hello Alice')

  // Many frames, one large, in order both ways.
  const got: number[] = []
  const all = within(
    new Promise<void>((resolve) =>
      far.on('frame', (p) => {
        got.push(p.byteLength)
        if (got.length === 101) resolve()
      }),
    ),
    '101 frames',
  )
  for (let i = 1; i <= 100; i++) void link.send(new Uint8Array(i))
  await link.send(new Uint8Array(MAX_LINK_PAYLOAD_BYTES))
  await all
  t.same(got, [...Array.from({ length: 100 }, (_, i) => i + 1), MAX_LINK_PAYLOAD_BYTES])

  await t.rejects(link.send(new Uint8Array(MAX_LINK_PAYLOAD_BYTES + 1)), TooLargeError)
  t.notOk(link.closed, 'an oversize send fails without closing the link')

  const farClosed = closed(far)
  link.close()
  t.equal(await farClosed, undefined, 'an orderly close carries no error')
  await t.rejects(link.send(utf8('late')), LinkClosedError)
  t.equal(listener.stats.accepted, 1)
})

t.test('the other direction: Bob dials Alice', async (t) => {
  const listener = await listenLinks(t, alice)
  const accepted = nextLink(listener)
  const link = await dialLink({
    connect: connectTcp,
    ...listener.address(),
    expectedId: alice.id,
    identity: bob,
  })
  t.teardown(() => link.close())
  const far = await accepted
  const atAlice = nextFrame(far)
  await link.send(utf8('ping'))
  t.equal(fromUtf8(await atAlice), 'ping')
  const atBob = nextFrame(link)
  await far.send(utf8('pong'))
  t.equal(fromUtf8(await atBob), 'pong')
})

t.test('the dialer refuses a peer that is not the expected ID', async (t) => {
  const listener = await listenLinks(t, bob)
  const refused = nextRefusal(listener)
  await t.rejects(
    dialLink({ connect: connectTcp, ...listener.address(), expectedId: carol.id, identity: alice }),
    WrongPeerError,
  )
  t.type(await refused, LinkClosedError, 'the listener sees the dialer hang up mid-handshake')
  t.equal(listener.stats.accepted, 0)
})

t.test('a forged proof is refused on both sides', async (t) => {
  // Towards the listener: a client claims Alice's key but signs with Mallory's.
  const listener = await listenLinks(t, bob)
  const refused = nextRefusal(listener)
  const client = await raw(t, listener.address().port)
  client.socket.write(
    encodeFrame(
      encodeLinkHello({ version: 1, publicKey: alice.publicKey, nonce: new Uint8Array(32) }),
    ),
  )
  client.socket.write(encodeFrame(encodeLinkProof(mallory.sign(new Uint8Array(148)))))
  t.type(await refused, BadSignatureError)
  await client.ended
  t.equal(listener.stats.refusedByCode['PASSAGE_ERR_BAD_SIGNATURE'], 1)

  // Towards the dialer: a fake server presents Bob's key and cannot sign for it.
  const fake = createServer((socket) => {
    socket.on('error', () => {})
    socket.resume() // read and drop what the dialer sends, so its close is seen
    socket.write(
      encodeFrame(
        encodeLinkHello({ version: 1, publicKey: bob.publicKey, nonce: new Uint8Array(32) }),
      ),
    )
    socket.write(encodeFrame(encodeLinkProof(mallory.sign(new Uint8Array(148)))))
  })
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => fake.close(() => resolve())))
  const address = fake.address()
  if (!address || typeof address === 'string') throw new Error('unbound')
  await t.rejects(
    dialLink({
      connect: connectTcp,
      host: '127.0.0.1',
      port: address.port,
      expectedId: bob.id,
      identity: alice,
    }),
    BadSignatureError,
  )
})

t.test(
  'garbage, oversize and truncated input during the handshake: refused, no crash',
  async (t) => {
    const listener = await listenLinks(t, bob)
    const { port } = listener.address()

    let refused = nextRefusal(listener)
    let client = await raw(t, port)
    client.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    t.type(await refused, TooLargeError, 'ASCII read as a length is far too large')
    await client.ended

    refused = nextRefusal(listener)
    client = await raw(t, port)
    client.socket.write(Uint8Array.of(0, 0, 0, 3, 0xee, 0xee, 0xee))
    t.type(await refused, MalformedError, 'unknown frame type')
    await client.ended

    refused = nextRefusal(listener)
    client = await raw(t, port)
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, MAX_FRAME_BYTES + 1)
    client.socket.write(header)
    t.type(await refused, TooLargeError, 'oversize header')
    await client.ended

    refused = nextRefusal(listener)
    client = await raw(t, port)
    client.socket.end(
      encodeFrame(
        encodeLinkHello({ version: 1, publicKey: alice.publicKey, nonce: new Uint8Array(32) }),
      ).subarray(0, 30),
    )
    t.type(await refused, LinkClosedError, 'truncated hello then close')

    t.equal(listener.stats.refused, 4)
    t.equal(listener.stats.accepted, 0)
    // The listener still works.
    const accepted = nextLink(listener)
    const link = await dialLink({
      connect: connectTcp,
      host: '127.0.0.1',
      port,
      expectedId: bob.id,
      identity: alice,
    })
    t.teardown(() => link.close())
    t.same((await accepted).peer.id, alice.id)
  },
)

t.test('after the handshake: oversize, garbage and truncated frames close the link', async (t) => {
  const listener = await listenLinks(t, bob)
  const { port } = listener.address()
  const cases: [string, (s: Socket, p: LinkProtocol) => void, unknown][] = [
    [
      'oversize header',
      (s) => {
        const h = new Uint8Array(4)
        new DataView(h.buffer).setUint32(0, 0xffffffff)
        s.write(h)
      },
      TooLargeError,
    ],
    ['unknown frame type', (s) => s.write(encodeFrame(Uint8Array.of(0x42, 1))), MalformedError],
    [
      'a second hello',
      (s) =>
        s.write(
          encodeFrame(
            encodeLinkHello({ version: 1, publicKey: alice.publicKey, nonce: new Uint8Array(32) }),
          ),
        ),
      MalformedError,
    ],
    [
      'truncated frame then close',
      (s, p) => s.end(p.encodeData(utf8('cut short')).subarray(0, 8)),
      MalformedError,
    ],
  ]
  for (const [name, attack, errorClass] of cases) {
    const accepted = nextLink(listener)
    const client = await rawAuthenticated(t, port, alice, bob.id)
    const link = await accepted
    const frame = nextFrame(link)
    client.socket.write(client.protocol.encodeData(utf8('fine')))
    t.equal(fromUtf8(await frame), 'fine', `${name}: data flows first`)
    const done = closed(link)
    attack(client.socket, client.protocol)
    t.type(await done, errorClass as never, name)
    t.ok(link.closed)
    await client.ended
  }
})

t.test('a silent peer is dropped after the handshake timeout (manual timers)', async (t) => {
  const timers = new ManualTimers(new ManualClock())
  const listener = await listenLinks(t, bob, { timers })
  const refused = nextRefusal(listener)
  const client = await raw(t, listener.address().port)
  // Bob's hello arriving means the handshake (and its timer) started.
  await within(
    (async () => {
      while (client.received.length === 0) await new Promise((r) => setTimeout(r, 5))
    })(),
    "Bob's hello",
  )
  t.equal(timers.advance(HANDSHAKE_TIMEOUT_MS - 1), 0, 'not yet')
  t.equal(timers.advance(1), 1)
  t.type(await refused, TimeoutError)
  await client.ended
})

t.test('dialing nobody is UnreachableError; an aborted dial is LinkClosedError', async (t) => {
  const listener = await listenLinks(t, bob)
  const { port } = listener.address()
  await listener.close()
  await t.rejects(
    dialLink({ connect: connectTcp, host: '127.0.0.1', port, expectedId: bob.id, identity: alice }),
    UnreachableError,
  )
  const controller = new AbortController()
  controller.abort()
  await t.rejects(
    dialLink({
      connect: connectTcp,
      host: '127.0.0.1',
      port,
      expectedId: bob.id,
      identity: alice,
      signal: controller.signal,
    }),
    LinkClosedError,
  )
})

t.test('closing the listener closes its links', async (t) => {
  const listener = await LinkListener.listen({ listen: listenTcp, identity: bob })
  const accepted = nextLink(listener)
  const link = await dialLink({
    connect: connectTcp,
    ...listener.address(),
    expectedId: bob.id,
    identity: alice,
  })
  await accepted
  const done = closed(link)
  await listener.close()
  t.equal(await done, undefined)
  t.same(listener.openLinks(), [])
})

t.test('accepted links as an async iterator, ended by close', async (t) => {
  const listener = await LinkListener.listen({ listen: listenTcp, identity: bob })
  const seen: string[] = []
  const loop = (async () => {
    for await (const link of listener.accepted()) {
      seen.push(link.peer.textId)
      link.close()
    }
  })()
  for (const identity of [alice, carol]) {
    const link = await dialLink({
      connect: connectTcp,
      ...listener.address(),
      expectedId: bob.id,
      identity,
    })
    await closed(link)
  }
  await listener.close()
  await within(loop, 'the loop to end')
  t.same(seen, [alice.textId, carol.textId])
})

t.test('frames sent in one turn share one socket write, in order', async (t) => {
  const listener = await listenLinks(t, bob)
  const accepted = nextLink(listener)
  // A real TCP connection whose writes are counted.
  const writes: number[] = []
  const link = await dialLink({
    ...listener.address(),
    expectedId: bob.id,
    identity: alice,
    connect: async (host, port) => {
      const stream = await connectTcp(host, port)
      return {
        ...stream,
        remote: stream.remote,
        write: (bytes) => {
          writes.push(bytes.byteLength)
          return stream.write(bytes)
        },
      }
    },
  })
  t.teardown(() => link.close())
  const far = await accepted
  const got: string[] = []
  const all = within(
    new Promise<void>((resolve) =>
      far.on('frame', (p) => {
        got.push(fromUtf8(p))
        if (got.length === 50) resolve()
      }),
    ),
    '50 frames',
  )
  const before = writes.length
  const texts = Array.from({ length: 50 }, (_, i) => `frame ${i}`)
  const sent = texts.map((text) => link.send(utf8(text)))
  t.equal(writes.length, before, 'nothing written before the turn ends')
  await Promise.all(sent)
  t.equal(writes.length - before, 1, 'one write for the 50 frames')
  await all
  t.same(got, texts, 'all arrived, in order')

  // A batch that outgrows the write bound goes at once, and the rest follows in order.
  const big = Array.from({ length: 3 }, (_, i) => new Uint8Array(MAX_LINK_PAYLOAD_BYTES).fill(i))
  const bigGot: number[] = []
  const bigAll = within(
    new Promise<void>((resolve) =>
      far.on('frame', (p) => {
        if (p.byteLength !== MAX_LINK_PAYLOAD_BYTES) return
        bigGot.push(p[0]!)
        if (bigGot.length === 3) resolve()
      }),
    ),
    'the large frames',
  )
  await Promise.all(big.map((b) => link.send(b)))
  await bigAll
  t.same(bigGot, [0, 1, 2])

  // Frames still waiting when the link closes are written before the end.
  const last = nextFrame(far)
  void link.send(utf8('last words'))
  link.close()
  t.equal(fromUtf8(await last), 'last words')
})

for (const vectored of [true, false]) {
  t.test(
    `sendParts: head ‖ tail as one frame, the tail not copied, in order with send (${vectored ? 'writev' : 'two writes'})`,
    async (t) => {
      const listener = await listenLinks(t, bob)
      const accepted = nextLink(listener)
      const written: Uint8Array[] = []
      const link = await dialLink({
        ...listener.address(),
        expectedId: bob.id,
        identity: alice,
        connect: async (host, port) => {
          const stream = await connectTcp(host, port)
          const { writev, ...plain } = stream
          return {
            ...plain,
            remote: stream.remote,
            write: (bytes) => {
              written.push(bytes)
              return stream.write(bytes)
            },
            ...(vectored
              ? {
                  writev: (parts: Uint8Array[]) => {
                    written.push(...parts)
                    return writev!(parts)
                  },
                }
              : {}),
          }
        },
      })
      t.teardown(() => link.close())
      const far = await accepted
      const got: Bytes[] = []
      const three = within(
        new Promise<void>((resolve) =>
          far.on('frame', (p) => {
            got.push(Uint8Array.from(p) as Bytes)
            if (got.length === 3) resolve()
          }),
        ),
        'three frames',
      )
      const tail = new Uint8Array(65_536).map((_, i) => i & 0xff)
      const sent = [
        link.send(utf8('before')),
        link.sendParts(utf8('head:'), tail),
        link.send(utf8('after')),
      ]
      await Promise.all(sent)
      await three
      t.equal(fromUtf8(got[0]!), 'before')
      t.equal(fromUtf8(got[1]!.subarray(0, 5)), 'head:')
      t.same([...got[1]!.subarray(5)], [...tail], 'the tail, whole')
      t.equal(got[1]!.byteLength, 5 + tail.byteLength, 'one frame: head ‖ tail')
      t.equal(fromUtf8(got[2]!), 'after', 'in order')
      t.ok(
        written.some((w) => w === tail),
        'the tail went to the socket as it was given (no copy)',
      )
      await t.rejects(
        link.sendParts(utf8('x'), new Uint8Array(MAX_LINK_PAYLOAD_BYTES)),
        { name: 'TooLargeError' },
        'a payload over the bound is refused',
      )
    },
  )
}
