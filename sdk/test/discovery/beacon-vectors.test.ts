import t from 'tap'
import {
  beaconSigningInput,
  decodeBeacon,
  encodeBeacon,
  encodeBeaconBody,
  Identity,
  LanDiscovery,
  ManualClock,
  toHex,
  verifyBeacon,
} from '@passage/sdk'
import { libsignalKeys, bindMulticastSocket } from '@passage/sdk/node'
import { hexVector } from '../helpers/protocol-doc.js'

const alice = Identity.fromPrivateKey(libsignalKeys, hexVector('alice.privateKey'))
const fields = {
  publicKey: alice.publicKey,
  tcpPort: 7400,
  timestamp: 1_764_140_000_000,
  seq: 1_764_140_000_000,
}

t.test('beacon body and signing input match the document', async (t) => {
  t.equal(toHex(encodeBeaconBody(fields)), toHex(hexVector('beacon.body')))
  t.equal(toHex(beaconSigningInput(fields)), toHex(hexVector('beacon.signingInput')))
})

t.test('the documented datagram decodes, verifies and is accepted once', async (t) => {
  const datagram = hexVector('beacon.datagram')
  const beacon = decodeBeacon(datagram)
  t.same({ ...beacon, signature: undefined }, { ...fields, signature: undefined })
  verifyBeacon(beacon, libsignalKeys)
  t.ok(libsignalKeys.verify(alice.publicKey, hexVector('beacon.signingInput'), beacon.signature))
  t.equal(toHex(encodeBeacon(beacon)), toHex(datagram))

  const bob = Identity.generate(libsignalKeys)
  const lan = new LanDiscovery({
    bind: bindMulticastSocket,
    identity: bob,
    tcpPort: 7401,
    clock: new ManualClock(fields.timestamp + 30_000),
  })
  const peer = lan.receive(datagram, { host: '192.0.2.1', port: 7477 })
  t.same(peer?.id, alice.id)
  t.equal(peer?.tcpPort, 7400)
  t.equal(lan.receive(datagram, { host: '192.0.2.1', port: 7477 }), undefined)
  t.equal(lan.stats.dropped.replay, 1)
})
