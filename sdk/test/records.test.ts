import t from 'tap'
import fc from 'fast-check'
import {
  BadSignatureError,
  ClockSkewError,
  KeyMismatchError,
  MalformedError,
  WrongAudienceError,
  announceFromJson,
  announceToJson,
  createAnnounce,
  decodeSignedRecord,
  encodeSignedRecord,
  signRecord,
  verifyAnnounce,
  verifyRecord,
  type Bytes,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { identities } from '@passage/sdk/testing'

const { alice, bob, server } = identities('alice', 'bob', 'server')
const NOW = 1_764_140_000_000

t.test('signed records round-trip and verify; any flipped bit breaks them', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      fc.uint8Array({ maxLength: 1024 }),
      (type, seq, timestamp, payload) => {
        const record = signRecord(alice, { type, seq, timestamp, payload: payload as Bytes })
        const decoded = decodeSignedRecord(encodeSignedRecord(record))
        verifyRecord(decoded, libsignalKeys)
        return decoded.seq === seq && decoded.timestamp === timestamp && decoded.type === type
      },
    ),
    { numRuns: 50 },
  )
  const record = signRecord(alice, { type: 1, seq: 1, timestamp: NOW, payload: new Uint8Array(8) })
  const wire = encodeSignedRecord(record)
  for (const index of [0, 1, 5, 40, 50, 53, wire.length - 1]) {
    const tampered = wire.slice()
    tampered[index]! ^= 0x01
    t.throws(
      () => verifyRecord(decodeSignedRecord(tampered), libsignalKeys),
      index === 0 || index === 2 ? MalformedError : BadSignatureError,
      `byte ${index}`,
    )
  }
})

t.test('malformed records are refused with MalformedError', async (t) => {
  const wire = encodeSignedRecord(
    signRecord(alice, { type: 1, seq: 1, timestamp: NOW, payload: new Uint8Array(4) }),
  )
  t.throws(() => decodeSignedRecord(wire.subarray(0, wire.length - 1)), MalformedError)
  t.throws(() => decodeSignedRecord(new Uint8Array([...wire, 0])), MalformedError)
  const badVersion = wire.slice()
  badVersion[0] = 2
  t.throws(() => decodeSignedRecord(badVersion), /unknown record version/)
  t.throws(() => decodeSignedRecord(new Uint8Array(0)), MalformedError)
  t.throws(
    () => signRecord(alice, { type: 1, seq: 1, timestamp: NOW, payload: new Uint8Array(1025) }),
    MalformedError,
  )
})

t.test('announces: every refusal has its own error', async (t) => {
  const fields = {
    audience: server.id,
    seq: 1,
    timestamp: NOW,
    addresses: [{ transport: 'tcp' as const, host: '127.0.0.1', port: 7400 }],
  }
  const announce = createAnnounce(alice, fields)
  verifyAnnounce(announce, libsignalKeys, { audience: server.id, now: NOW })
  verifyAnnounce(announce, libsignalKeys, { audience: server.id, now: NOW + 60_000 })

  t.throws(() => verifyAnnounce({ ...announce, id: bob.id }, libsignalKeys), KeyMismatchError)
  t.throws(() => verifyAnnounce({ ...announce, seq: 2 }, libsignalKeys), BadSignatureError)
  t.throws(
    () =>
      verifyAnnounce(
        { ...announce, signature: createAnnounce(bob, fields).signature },
        libsignalKeys,
      ),
    BadSignatureError,
  )
  t.throws(() => verifyAnnounce(announce, libsignalKeys, { audience: bob.id }), WrongAudienceError)
  t.throws(() => verifyAnnounce(announce, libsignalKeys, { now: NOW + 60_001 }), ClockSkewError)
  t.throws(() => verifyAnnounce(announce, libsignalKeys, { now: NOW - 60_001 }), ClockSkewError)

  const json = announceToJson(announce)
  t.same(announceFromJson(json), announce)
  const bad = (patch: object) => () => announceFromJson({ ...json, ...patch })
  t.throws(bad({ publicKey: 'AAAA' }), MalformedError)
  t.throws(bad({ signature: '!!' }), MalformedError)
  t.throws(bad({ seq: -1 }), MalformedError)
  t.throws(bad({ timestamp: 1.5 }), MalformedError)
  t.throws(bad({ addresses: [] }), MalformedError)
  t.throws(bad({ addresses: [{ transport: 'tcp', host: 'a b', port: 1 }] }), MalformedError)
  t.throws(bad({ addresses: [{ transport: 'tcp', host: 'x.org', port: 70000 }] }), MalformedError)
  t.throws(bad({ addresses: [{ transport: 'sctp', host: 'x.org', port: 1 }] }), MalformedError)
  t.ok(announceFromJson({ ...json, addresses: [{ transport: 'udp', host: '::1', port: 9 }] }))
})
