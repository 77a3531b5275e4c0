import t from 'tap'
import {
  Identity,
  announceFromJson,
  announceToJson,
  announceToRecord,
  createAnnounce,
  decodeAnnouncePayload,
  decodeSignedRecord,
  encodeAnnouncePayload,
  encodeContactUri,
  encodeRecordBody,
  encodeSignedRecord,
  parseContactUri,
  parseTextId,
  recordSigningInput,
  toHex,
  verifyAnnounce,
  type AnnounceJson,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { hexVector, jsonVector, readProtocolDoc, textVector } from './helpers/protocol-doc.js'

const alice = Identity.fromPrivateKey(libsignalKeys, hexVector('alice.privateKey'))
const server = Identity.fromPrivateKey(
  libsignalKeys,
  hexVector('alice.privateKey').map((_, i) => (i === 0 ? 0xb0 : 0x22)),
)

t.test('the document has vectors to check', async (t) => {
  t.ok(readProtocolDoc().size >= 12)
})

t.test('identity vectors: public key, ID, text ID, URI', async (t) => {
  t.equal(toHex(alice.publicKey), toHex(hexVector('alice.publicKey')))
  t.equal(toHex(alice.id), toHex(hexVector('alice.id')))
  t.equal(toHex(server.publicKey), toHex(hexVector('server.publicKey')))
  t.equal(toHex(server.id), toHex(hexVector('server.id')))
  t.equal(alice.textId, textVector('alice.textId'))
  t.equal(server.textId, textVector('server.textId'))
  t.same(parseTextId(textVector('alice.textId')), hexVector('alice.id'))
  t.equal(encodeContactUri({ publicKey: alice.publicKey, name: 'Alice' }), textVector('alice.uri'))
  t.same(parseContactUri(textVector('alice.uri')).publicKey, alice.publicKey)
})

t.test(
  'URI values are percent-encoded, a space as %20; a + written earlier still reads',
  async (t) => {
    const name = 'Alice Liddell & Co. 🐇'
    const uri = textVector('alice.uriEncodedName')
    t.equal(encodeContactUri({ publicKey: alice.publicKey, name }), uri)
    t.equal(parseContactUri(uri).name, name)
    const query = uri.slice(uri.indexOf('?') + 1)
    t.equal(new URLSearchParams(query).get('name'), name, 'a form decoder reads it')
    t.equal(decodeURIComponent(query.split('&name=')[1]!), name, 'a URI decoder reads it')
    t.equal(parseContactUri(uri.replace(/%20/g, '+')).name, name, 'as earlier versions wrote it')
  },
)

t.test('announce vectors: payload, body, signing input, signature, JSON', async (t) => {
  const addresses = [
    { transport: 'tcp' as const, host: '203.0.113.7', port: 7400 },
    { transport: 'udp' as const, host: '', port: 7401 },
  ]
  const fields = { audience: server.id, seq: 7, timestamp: 1764140000000, addresses }
  t.equal(toHex(encodeAnnouncePayload(server.id, addresses)), toHex(hexVector('announce.payload')))
  t.same(decodeAnnouncePayload(hexVector('announce.payload')), { audience: server.id, addresses })

  const announce = createAnnounce(alice, fields)
  const record = announceToRecord(announce)
  t.equal(toHex(encodeRecordBody(record)), toHex(hexVector('announce.body')))
  t.equal(toHex(recordSigningInput(record)), toHex(hexVector('announce.signingInput')))
  t.ok(
    libsignalKeys.verify(alice.publicKey, hexVector('announce.signingInput'), announce.signature),
  )

  const documented = { ...announce, signature: hexVector('announce.signature') }
  t.ok(
    libsignalKeys.verify(alice.publicKey, hexVector('announce.signingInput'), documented.signature),
  )
  verifyAnnounce(documented, libsignalKeys, { audience: server.id, now: 1764140000000 })

  const wire = encodeSignedRecord({ ...record, signature: documented.signature })
  t.equal(toHex(wire), toHex(hexVector('announce.body')) + toHex(hexVector('announce.signature')))
  t.same(decodeSignedRecord(wire), { ...record, signature: documented.signature })

  const json = jsonVector<AnnounceJson>('announce.json')
  t.same(announceToJson(documented), json)
  t.same(announceFromJson(json), documented)
})
