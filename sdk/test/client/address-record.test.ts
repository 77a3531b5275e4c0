// Address records (record type 4, issue 16): the documented payload, the DHT's 15-minute
// rule, and a contact found by its record alone (no super-node, no LAN).
import t from 'tap'
import {
  ADDRESS_RECORD_MAX_AGE_MS,
  Identity,
  RecordType,
  checkDhtRecord,
  createAddressRecord,
  decodeAddressPayload,
  encodeAddressPayload,
  isFreshRecord,
  parseContactUri,
  readAddressRecord,
  toHex,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { startClient, testnet, tmpHome, whenClient } from '@passage/sdk/testing'
import { hexVector } from '../helpers/protocol-doc.js'

const sample = [
  { transport: 'tcp', host: '203.0.113.7', port: 7400 },
  { transport: 'relay', host: '198.51.100.1', port: 7402 },
] as const

t.test('the payload matches the document', async (t) => {
  t.equal(toHex(encodeAddressPayload([...sample])), toHex(hexVector('address.payload')))
  t.same(decodeAddressPayload(hexVector('address.payload')), sample)
  for (const bad of [[], Array(9).fill(sample[0]), [{ ...sample[0], host: '' }]]) {
    t.throws(() => encodeAddressPayload(bad), { code: 'PASSAGE_ERR_MALFORMED' })
  }
  t.throws(() => decodeAddressPayload(Uint8Array.of(1, 2, 1, 0x61, 0, 1)), {
    code: 'PASSAGE_ERR_MALFORMED',
  })
})

t.test('signed by its owner, stored for 15 minutes, then stale', async (t) => {
  const bob = Identity.generate(libsignalKeys)
  const now = 1_764_140_000_000
  const record = createAddressRecord(bob, { addresses: [...sample], seq: now, timestamp: now })
  t.equal(record.type, RecordType.address)
  t.doesNotThrow(() => checkDhtRecord(record, now), 'the DHT stores it')
  t.ok(isFreshRecord(record, now + ADDRESS_RECORD_MAX_AGE_MS), 'served for 15 minutes')
  t.notOk(isFreshRecord(record, now + ADDRESS_RECORD_MAX_AGE_MS + 1), 'not a moment more')
  t.throws(() => checkDhtRecord(record, now + 16 * 60_000), { code: 'PASSAGE_ERR_CLOCK_SKEW' })
  t.same(readAddressRecord(record, bob.publicKey, libsignalKeys), sample)
  const mallory = Identity.generate(libsignalKeys)
  t.throws(
    () => readAddressRecord(record, mallory.publicKey, libsignalKeys),
    { code: 'PASSAGE_ERR_MALFORMED' },
    "a record is read only as its signer's",
  )
  const forged = { ...record, payload: encodeAddressPayload([sample[1]]) }
  t.throws(() => readAddressRecord(forged, bob.publicKey, libsignalKeys), {
    code: 'PASSAGE_ERR_BAD_SIGNATURE',
  })
})

t.test('a contact found by its address record alone: no super-node, no LAN', async (t) => {
  const net = await testnet(t)
  const bob = await startClient(t, net, tmpHome(t, 'bob'), { background: true })
  const alice = await startClient(t, net, tmpHome(t, 'alice'))
  await alice.contacts.add(bob.contactUri, { name: 'Bob' })
  const bobKey = parseContactUri(bob.contactUri).publicKey
  t.ok(
    await whenClient(bob, async () => {
      for (const node of net.nodes) {
        if (await node.getRecord(bobKey, RecordType.address).catch(() => undefined)) return true
      }
      return false
    }),
    'Bob publishes his address record',
  )
  const sent = await alice.send(bob.textId, 'found you')
  t.equal(sent.route, 'direct', 'Alice dialed the address in the record')
  t.equal(sent.state, 'delivered')
})
