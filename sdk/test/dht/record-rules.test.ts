// What the DHT stores and serves (docs/PROTOCOL.md, "Record rules"): a record of a type the
// DHT does not hold, a payload that does not parse for its type, or a record signed too long
// ago is refused on put over real UDP, never served, and not taken from a lying node.
import t from 'tap'
import {
  ClockSkewError,
  DHT_RECORD_RULES,
  Identity,
  KyberKeyPartRecordType,
  MalformedError,
  ManualClock,
  RecordType,
  encodeSignedRecord,
  recordKeyFor,
  signRecord,
  type Bytes,
  type SignedRecord,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { createTestnet } from '@passage/sdk/testing'
import { bundlePayload } from '../helpers/bundle-payload.js'

const DAY = 86_400_000
const clock = new ManualClock(1_800_000_000_000)
const net = await createTestnet(8, { clock })
t.teardown(() => net.destroy())

/** Sends `record` as a raw record-put to every node that a lookup finds for its key. */
async function rawPut(record: SignedRecord) {
  const asker = net.nodes[0]!
  const { closest } = await asker.lookup(recordKeyFor(record.publicKey, record.type))
  const outcomes = await Promise.all(
    closest.map((node) =>
      asker
        .request(node, {
          type: 'record-put',
          token: node.token,
          record: encodeSignedRecord(record),
        })
        .then(
          () => 'stored',
          (error: unknown) => error,
        ),
    ),
  )
  return outcomes
}

t.test('refused on put: unknown type, garbled payload, stale or future signing time', async (t) => {
  const alice = Identity.generate(libsignalKeys)
  const now = clock.now()
  const cases: { what: string; record: SignedRecord; error: new () => Error }[] = [
    {
      what: 'record type 99',
      record: signRecord(alice, { type: 99, seq: 1, timestamp: now, payload: bundlePayload() }),
      error: MalformedError,
    },
    {
      what: 'a pre-key bundle with a garbage payload',
      record: signRecord(alice, {
        type: RecordType.preKeyBundle,
        seq: 1,
        timestamp: now,
        payload: crypto.getRandomValues(new Uint8Array(300)) as Bytes,
      }),
      error: MalformedError,
    },
    {
      what: 'a pre-key bundle signed 400 days ago',
      record: signRecord(alice, {
        type: RecordType.preKeyBundle,
        seq: 1,
        timestamp: now - 400 * DAY,
        payload: bundlePayload(),
      }),
      error: ClockSkewError,
    },
    {
      what: 'a pre-key bundle signed an hour ahead',
      record: signRecord(alice, {
        type: RecordType.preKeyBundle,
        seq: 2,
        timestamp: now + 3_600_000,
        payload: bundlePayload(),
      }),
      error: ClockSkewError,
    },
    {
      what: 'a Kyber key part of the wrong length',
      record: signRecord(alice, {
        type: KyberKeyPartRecordType.first,
        seq: 1,
        timestamp: now,
        payload: new Uint8Array(100) as Bytes,
      }),
      error: MalformedError,
    },
    {
      what: 'an announce (served over HTTP, not the DHT)',
      record: signRecord(alice, {
        type: RecordType.announce,
        seq: 1,
        timestamp: now,
        payload: new Uint8Array(8) as Bytes,
      }),
      error: MalformedError,
    },
  ]
  for (const { what, record, error } of cases) {
    const outcomes = await rawPut(record)
    t.ok(outcomes.length > 0, `${what}: sent to ${outcomes.length} nodes`)
    t.ok(
      outcomes.every((o) => o instanceof error),
      `${what}: refused by every node (${[...new Set(outcomes.map((o) => (o as Error).constructor?.name ?? o))].join(', ')})`,
    )
    t.equal(
      await net.nodes[5]!.getRecord(alice.publicKey, record.type),
      undefined,
      `${what}: not served`,
    )
    await t.rejects(net.nodes[3]!.putRecord(record), error, `${what}: the SDK will not send it`)
  }
})

t.test('a stored record stops being served when it grows stale for its type', async (t) => {
  const bob = Identity.generate(libsignalKeys)
  const bundle = signRecord(bob, {
    type: RecordType.preKeyBundle,
    seq: 1,
    timestamp: clock.now(),
    payload: bundlePayload(),
  })
  const { stored } = await net.nodes[2]!.putRecord(bundle)
  t.ok(stored > 0, `a fresh bundle is stored (${stored} nodes)`)
  t.equal((await net.nodes[6]!.getRecord(bob.publicKey, RecordType.preKeyBundle))?.seq, 1)
  const maxAge = DHT_RECORD_RULES.get(RecordType.preKeyBundle)!.maxAgeMs
  t.equal(maxAge, 30 * DAY, 'a bundle is served for 30 days')
  clock.advance(maxAge + 1)
  t.equal(
    await net.nodes[6]!.getRecord(bob.publicKey, RecordType.preKeyBundle),
    undefined,
    'no node serves it after 30 days',
  )
  const key = recordKeyFor(bob.publicKey, RecordType.preKeyBundle)
  const holder = net.nodes.find((n) => n.recordStore !== undefined)!
  const reply = await net.nodes[1]!.request(holder.address(), { type: 'record-get', key })
  t.ok(reply.type === 'record-result' && reply.record === undefined, 'record-get answers none')
})

t.test('a lying node serving a garbled record: the reader does not take it', async (t) => {
  const carol = Identity.generate(libsignalKeys)
  const good = signRecord(carol, {
    type: RecordType.preKeyBundle,
    seq: 1,
    timestamp: clock.now(),
    payload: bundlePayload(),
  })
  t.ok((await net.nodes[4]!.putRecord(good)).stored > 0)
  // Every holder is made to hold a garbled record with a higher seq (written past the checks).
  const bad = signRecord(carol, {
    type: RecordType.preKeyBundle,
    seq: 9,
    timestamp: clock.now(),
    payload: new Uint8Array(40) as Bytes,
  })
  const key = recordKeyFor(carol.publicKey, RecordType.preKeyBundle)
  let liars = 0
  for (const node of net.nodes) {
    if (await node.recordStore.get(key)) {
      await node.recordStore.put(key, bad)
      liars++
    }
  }
  t.ok(liars > 0, `${liars} holders now lie`)
  const got = await net.nodes[7]!.getRecord(carol.publicKey, RecordType.preKeyBundle)
  t.not(got?.seq, 9, 'the garbled record is not taken, whatever its seq')
})
