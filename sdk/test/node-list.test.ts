// Record type 5, the super-node list of GET /v1/nodes: the vectors of docs/PROTOCOL.md
// ("Super-node list"), round trips, and what a client refuses.
import t from 'tap'
import {
  BadSignatureError,
  createNodeList,
  decodeNodeListPayload,
  decodeSignedRecord,
  encodeNodeListPayload,
  encodeRecordBody,
  encodeSignedRecord,
  Identity,
  KeyMismatchError,
  MalformedError,
  MAX_NODE_LIST_NODES,
  nodeListToJson,
  nodeListToRecord,
  RecordType,
  recordSigningInput,
  toBase64Url,
  toHex,
  verifyNodeListRecord,
  type NodeList,
  type NodeListEntry,
  type NodeListJson,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { hexVector, jsonVector } from './helpers/protocol-doc.js'

const alice = Identity.fromPrivateKey(libsignalKeys, hexVector('alice.privateKey'))
const server = Identity.fromPrivateKey(
  libsignalKeys,
  hexVector('alice.privateKey').map((_, i) => (i === 0 ? 0xb0 : 0x22)),
)
const T = 1764140000000
const nodes: NodeListEntry[] = [
  {
    url: 'https://a.example.org',
    id: alice.id,
    dht: { host: '203.0.113.7', port: 7401 },
    lastChecked: T - 10_000,
  },
]

t.test('vectors: payload, body, signature, JSON', async (t) => {
  t.equal(RecordType.nodeList, 5)
  t.equal(toHex(encodeNodeListPayload(nodes)), toHex(hexVector('nodeList.payload')))
  t.same(decodeNodeListPayload(hexVector('nodeList.payload')), nodes)
  const list = createNodeList(server, { seq: T, timestamp: T, nodes })
  const record = nodeListToRecord(list)
  t.equal(toHex(encodeRecordBody(record)), toHex(hexVector('nodeList.body')))
  t.ok(libsignalKeys.verify(server.publicKey, recordSigningInput(record), list.signature))

  const documented: NodeList = { ...list, signature: hexVector('nodeList.signature') }
  t.ok(
    libsignalKeys.verify(server.publicKey, recordSigningInput(record), documented.signature),
    'the documented signature verifies',
  )
  const json = jsonVector<NodeListJson>('nodeList.json')
  t.same(nodeListToJson(documented), json)
  t.same(verifyNodeListRecord(json.record, server.publicKey, libsignalKeys), documented)
  t.same(
    decodeSignedRecord(encodeSignedRecord(nodeListToRecord(documented))).type,
    RecordType.nodeList,
  )
})

t.test('a node without a DHT endpoint, and an empty list', async (t) => {
  const plain: NodeListEntry = {
    url: 'http://127.0.0.1:8081',
    id: alice.id,
    dht: null,
    lastChecked: T,
  }
  t.same(decodeNodeListPayload(encodeNodeListPayload([plain])), [plain])
  t.equal(toHex(encodeNodeListPayload([])), '00')
  const list = createNodeList(server, { seq: 1, timestamp: T, nodes: [] })
  t.same(
    verifyNodeListRecord(nodeListToJson(list).record, server.publicKey, libsignalKeys).nodes,
    [],
  )
})

t.test('a client refuses forged, foreign and malformed lists', async (t) => {
  const list = createNodeList(server, { seq: 2, timestamp: T, nodes })
  const wire = encodeSignedRecord(nodeListToRecord(list))
  t.throws(
    () => verifyNodeListRecord(wire, alice.publicKey, libsignalKeys),
    KeyMismatchError,
    'another key',
  )
  const forged = wire.slice()
  forged[60] = forged[60]! ^ 1
  t.throws(
    () => verifyNodeListRecord(forged, server.publicKey, libsignalKeys),
    BadSignatureError,
    'forged',
  )
  const byAlice = createNodeList(alice, { seq: 2, timestamp: T, nodes })
  t.throws(
    () =>
      verifyNodeListRecord(
        toBase64Url(encodeSignedRecord(nodeListToRecord(byAlice))),
        server.publicKey,
        libsignalKeys,
      ),
    KeyMismatchError,
  )
  const announceType = encodeSignedRecord({ ...nodeListToRecord(list), type: RecordType.announce })
  t.throws(
    () => verifyNodeListRecord(announceType, server.publicKey, libsignalKeys),
    MalformedError,
    'other type',
  )

  const tooMany = Array.from({ length: MAX_NODE_LIST_NODES + 1 }, () => nodes[0]!)
  t.throws(() => encodeNodeListPayload(tooMany), MalformedError)
  t.throws(
    () => encodeNodeListPayload([{ ...nodes[0]!, url: 'ftp://a.example.org' }]),
    MalformedError,
  )
  t.throws(
    () => encodeNodeListPayload([{ ...nodes[0]!, url: 'https://' + 'a'.repeat(200) }]),
    MalformedError,
  )
  t.throws(
    () => encodeNodeListPayload([{ ...nodes[0]!, dht: { host: '', port: 7401 } }]),
    MalformedError,
  )
  // A host without a port (or the reverse) is not a valid encoding.
  const payload = hexVector('nodeList.payload').slice()
  payload[payload.length - 10] = 0
  payload[payload.length - 9] = 0
  t.throws(() => decodeNodeListPayload(payload), MalformedError)
  t.throws(
    () => decodeNodeListPayload(new Uint8Array([...hexVector('nodeList.payload'), 0])),
    MalformedError,
    'trailing',
  )
  // 12 nodes with long URLs do not fit in one record.
  const long = Array.from({ length: 12 }, (_, i) => ({
    ...nodes[0]!,
    url: `https://${'n'.repeat(60)}${i}.example.org`,
  }))
  t.throws(() => createNodeList(server, { seq: 3, timestamp: T, nodes: long }), MalformedError)
})
