// A node in client mode (docs/PROTOCOL.md, "Client mode") answers ping and find-node only:
// puts, gets and deletes sent to it are refused with error 13 and nothing is stored, since it
// is never a replica. A client's DHT socket takes every interface, so strangers can reach it.
// Real UDP on 127.0.0.1: a full node sends each request to a client node.
import t, { type Test } from 'tap'
import {
  DhtNode,
  Identity,
  RecordType,
  UnavailableError,
  encodeSignedRecord,
  envelopeIdOf,
  mailboxAuthInput,
  mailboxKeyFor,
  recordKeyFor,
  signRecord,
  type MessageBody,
} from '@passage/sdk'
import { bindUdpSocket, libsignalKeys } from '@passage/sdk/node'

async function startNode(t: Test, client: boolean): Promise<DhtNode> {
  const node = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket('127.0.0.1', 0),
    client,
  })
  t.teardown(() => node.destroy())
  return node
}

t.test('a client node answers ping and find-node, and stores or serves nothing', async (t) => {
  const full = await startNode(t, false)
  const client = await startNode(t, true)
  const to = client.address()
  const owner = Identity.generate(libsignalKeys)
  const mailboxKey = mailboxKeyFor(owner.publicKey)

  const pong = await full.request(to, { type: 'ping' })
  if (pong.type !== 'pong') throw new Error(`expected a pong, got ${pong.type}`)
  t.equal(pong.client, true, 'a ping is answered, by a client')
  const token = pong.token
  const nodes = await full.request(to, { type: 'find-node', target: mailboxKey })
  t.equal(nodes.type, 'nodes', 'a find-node is answered')

  /** An owner's mailbox request, signed for the client node. */
  const signed = (body: MessageBody & { type: 'mailbox-get' | 'mailbox-delete' }) => {
    const nonce = crypto.getRandomValues(new Uint8Array(16))
    const timestamp = Date.now()
    const auth = { ownerKey: owner.publicKey, timestamp, nonce, signature: new Uint8Array(64) }
    auth.signature = owner.sign(mailboxAuthInput(client.id, timestamp, nonce, body as never))
    return { ...body, auth } as MessageBody
  }
  const zeroId = new Uint8Array(16)
  const data = Uint8Array.of(1, 2, 3)
  const envelopeId = envelopeIdOf(mailboxKey, data)
  const record = signRecord(owner, {
    type: RecordType.address,
    seq: 1,
    timestamp: Date.now(),
    payload: new Uint8Array(8),
  })
  const requests: [string, MessageBody][] = [
    [
      'mailbox-put',
      {
        type: 'mailbox-put',
        token,
        mailboxKey,
        envelopeId,
        ttlSeconds: 60,
        totalSize: data.byteLength,
        index: 0,
        count: 1,
        data,
      } as MessageBody,
    ],
    [
      'mailbox-put-many',
      {
        type: 'mailbox-put-many',
        token,
        envelopes: [{ mailboxKey, envelopeId, ttlSeconds: 60, data }],
      },
    ],
    ['record-put', { type: 'record-put', token, record: encodeSignedRecord(record) }],
    ['record-get', { type: 'record-get', key: recordKeyFor(owner.publicKey, record.type) }],
    [
      'mailbox-get',
      signed({ type: 'mailbox-get', kind: 'list', envelopeId: zeroId, index: 0 } as never),
    ],
    ['mailbox-delete', signed({ type: 'mailbox-delete', ids: [zeroId] } as never)],
  ]
  for (const [name, body] of requests) {
    await t.rejects(full.request(to, body), UnavailableError, `${name}: refused, error 13`)
  }
  const now = Date.now()
  t.same(await client.mailboxStore.list(mailboxKey, now, 10), [], 'no envelope stored')
  t.equal(
    await client.recordStore.get(recordKeyFor(owner.publicKey, record.type)),
    undefined,
    'no record stored',
  )
})
