import t from 'tap'
import {
  BadSignatureError,
  encodeFrame,
  FrameDecoder,
  LinkProtocol,
  LinkRole,
  MalformedError,
  MAX_FRAME_BYTES,
  PassageError,
  TooLargeError,
  WrongPeerError,
  encodeLinkHello,
  encodeLinkProof,
  type Bytes,
} from '@passage/sdk'
import { identities } from '@passage/sdk/testing'

const { alice, bob, mallory } = identities('alice', 'bob', 'mallory')

/** Runs both machines against each other in memory; returns what each side received. */
function pump(a: LinkProtocol, b: LinkProtocol) {
  let toB: Bytes[] = [a.start()]
  let toA: Bytes[] = [b.start()]
  const got = { a: [] as Bytes[], b: [] as Bytes[] }
  for (let round = 0; round < 5 && (toA.length > 0 || toB.length > 0); round++) {
    const nextToA: Bytes[] = []
    const nextToB: Bytes[] = []
    for (const bytes of toB) {
      const step = b.receive(bytes)
      nextToA.push(...step.out)
      got.b.push(...step.payloads)
    }
    for (const bytes of toA) {
      const step = a.receive(bytes)
      nextToB.push(...step.out)
      got.a.push(...step.payloads)
    }
    toA = nextToA
    toB = nextToB
  }
  return got
}

t.test('frames: round trip, split at every byte, several per chunk', async (t) => {
  const bodies = [Uint8Array.of(1), new Uint8Array(1000).fill(7), Uint8Array.of(3, 4, 5)]
  const stream = Uint8Array.from(bodies.flatMap((b) => [...encodeFrame(b)]))
  for (const step of [1, 2, 3, 5, 1000, stream.byteLength]) {
    const decoder = new FrameDecoder()
    const out: Bytes[] = []
    for (let i = 0; i < stream.byteLength; i += step)
      out.push(...decoder.push(stream.subarray(i, i + step)))
    t.same(out, bodies, `chunks of ${step}`)
    t.equal(decoder.pendingBytes, 0)
  }
})

t.test('frames: oversize is refused from the header alone, zero length is malformed', async (t) => {
  const header = new Uint8Array(4)
  new DataView(header.buffer).setUint32(0, MAX_FRAME_BYTES + 1)
  t.throws(() => new FrameDecoder().push(header), TooLargeError)
  t.throws(() => encodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1)), TooLargeError)
  t.throws(() => new FrameDecoder().push(new Uint8Array(4)), MalformedError)
  t.equal(encodeFrame(new Uint8Array(MAX_FRAME_BYTES)).byteLength, MAX_FRAME_BYTES + 4)
  const decoder = new FrameDecoder()
  t.throws(() => decoder.push(header), TooLargeError)
  t.throws(() => decoder.push(Uint8Array.of(0, 0, 0, 1, 3)), MalformedError, 'dead after a failure')
})

t.test('handshake: both sides authenticate each other, then data flows both ways', async (t) => {
  const dialer = new LinkProtocol({ identity: alice, role: LinkRole.dialer, expectedId: bob.id })
  const listener = new LinkProtocol({ identity: bob, role: LinkRole.listener })
  pump(dialer, listener)
  t.ok(dialer.isOpen)
  t.ok(listener.isOpen)
  t.same(dialer.peer?.id, bob.id)
  t.same(listener.peer?.id, alice.id)
  t.equal(listener.peer?.textId, alice.textId)
  const toBob = listener.receive(dialer.encodeData(Uint8Array.of(1, 2, 3)))
  const toAlice = dialer.receive(listener.encodeData(Uint8Array.of(9)))
  t.same(toBob.payloads, [Uint8Array.of(1, 2, 3)])
  t.same(toAlice.payloads, [Uint8Array.of(9)])
})

t.test('handshake: the dialer refuses an identity it did not dial', async (t) => {
  const dialer = new LinkProtocol({ identity: alice, role: LinkRole.dialer, expectedId: bob.id })
  const listener = new LinkProtocol({ identity: mallory, role: LinkRole.listener })
  dialer.start()
  t.throws(() => dialer.receive(listener.start()), WrongPeerError)
  t.throws(() => dialer.receive(new Uint8Array(1)), MalformedError, 'no input after failure')
})

t.test('handshake: a hello claiming a key without its proof is refused', async (t) => {
  // Mallory claims to be Bob: Bob's key in the hello, but she can only sign with her own key.
  const dialer = new LinkProtocol({ identity: alice, role: LinkRole.dialer, expectedId: bob.id })
  dialer.start()
  const hello = encodeFrame(
    encodeLinkHello({ version: 1, publicKey: bob.publicKey, nonce: new Uint8Array(32) }),
  )
  const step = dialer.receive(hello)
  t.equal(step.out.length, 1, 'the dialer sent its proof')
  const forged = encodeFrame(encodeLinkProof(mallory.sign(new Uint8Array(148))))
  t.throws(() => dialer.receive(forged), BadSignatureError)
  t.notOk(dialer.isOpen)
})

t.test('handshake: a peer presenting our own key is refused (no reflected proofs)', async (t) => {
  const listener = new LinkProtocol({ identity: bob, role: LinkRole.listener })
  listener.start()
  // A peer presenting Bob's own key is refused before any proof.
  const hello = encodeFrame(
    encodeLinkHello({ version: 1, publicKey: bob.publicKey, nonce: new Uint8Array(32) }),
  )
  t.throws(() => listener.receive(hello), WrongPeerError)
})

t.test('handshake: data before authentication, wrong order, garbage', async (t) => {
  const cases: [string, Uint8Array][] = [
    ['data first', encodeFrame(Uint8Array.of(3, 1, 2))],
    ['proof first', encodeFrame(encodeLinkProof(new Uint8Array(64)))],
    ['unknown type', encodeFrame(Uint8Array.of(99))],
    ['short hello', encodeFrame(Uint8Array.of(1, 1, 5))],
    [
      'bad version',
      encodeFrame(
        encodeLinkHello({ version: 1, publicKey: alice.publicKey, nonce: new Uint8Array(32) }).map(
          (b, i) => (i === 1 ? 9 : b),
        ),
      ),
    ],
  ]
  for (const [name, bytes] of cases) {
    const listener = new LinkProtocol({ identity: bob, role: LinkRole.listener })
    listener.start()
    t.throws(() => listener.receive(bytes), MalformedError, name)
  }
  const dialer = new LinkProtocol({ identity: alice, role: LinkRole.dialer, expectedId: bob.id })
  const listener = new LinkProtocol({ identity: bob, role: LinkRole.listener })
  pump(dialer, listener)
  t.throws(
    () => listener.receive(encodeFrame(encodeLinkProof(new Uint8Array(64)))),
    MalformedError,
    'a second proof',
  )
})

t.test('fuzz: any bytes, in any chunks, either parse or throw a PassageError', async (t) => {
  const fc = (await import('fast-check')).default
  let refused = 0
  let opened = 0
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 200 }), { maxLength: 6 }),
      fc.boolean(),
      (chunks, validPrefix) => {
        const listener = new LinkProtocol({ identity: bob, role: LinkRole.listener })
        listener.start()
        const dialer = new LinkProtocol({ identity: alice, role: LinkRole.dialer })
        const stream = validPrefix ? [dialer.start(), ...chunks] : chunks
        try {
          for (const chunk of stream) listener.receive(chunk)
        } catch (error) {
          if (!(error instanceof PassageError)) throw error
          refused++
        }
        if (listener.isOpen) opened++
      },
    ),
    { numRuns: 300, seed: 4 },
  )
  t.equal(opened, 0, 'random bytes never open a link')
  t.ok(refused > 0)
})
