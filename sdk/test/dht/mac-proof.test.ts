import t from 'tap'
import {
  decodeMessage,
  encodeMessage,
  fromHex,
  proofInput,
  proofKeyFromShared,
  proofMac,
  toHex,
  tryDecodeMessage,
  UNPROVEN_PAD_BYTES,
  type DhtMessage,
} from '@passage/sdk'
import { libsignalKeys, bindUdpSocket } from '@passage/sdk/node'
import { createTestnet } from '@passage/sdk/testing'
import { hexVector } from '../helpers/protocol-doc.js'
import { alice, server, TOKEN, TXID } from './samples.js'

const agree = (own: typeof alice, peer: Uint8Array) => own.agree(peer)

t.test('MAC proof key, MAC and datagrams match the document', async (t) => {
  const key = proofKeyFromShared(agree(server, alice.publicKey))!
  t.equal(toHex(key), toHex(proofKeyFromShared(agree(alice, server.publicKey))!), 'symmetric')
  t.equal(toHex(key), toHex(hexVector('dht.proofKey.serverAlice')))
  const mac = proofMac(key, TXID, alice.id)
  t.equal(toHex(mac), toHex(hexVector('dht.proofMac')))
  const ping: DhtMessage = {
    type: 'ping',
    txid: TXID,
    senderKey: alice.publicKey,
    client: false,
    wantProof: true,
    proof: undefined,
    mac: true,
  }
  const pong: DhtMessage = {
    type: 'pong',
    observed: { host: '127.0.0.1', port: 49737 },
    token: TOKEN,
    txid: TXID,
    senderKey: server.publicKey,
    client: false,
    wantProof: false,
    proof: mac,
    mac: true,
  }
  for (const [name, msg] of [
    ['dht.pingMac', ping],
    ['dht.pongMac', pong],
  ] as const) {
    t.equal(toHex(encodeMessage(msg)), toHex(hexVector(name)), `${name} encodes`)
    t.same(decodeMessage(hexVector(name)), msg, `${name} decodes`)
  }
  t.equal(proofKeyFromShared(new Uint8Array(32)), undefined, 'an all-zero X25519 result is refused')
  // The mac flag alone (no want-proof, no proof) is malformed.
  const bare = Uint8Array.from(hexVector('dht.pingMac'))
  bare[3] = 0x08
  t.equal(tryDecodeMessage(bare).ok, false)
})

t.test('a node proves its key by MAC when asked, by signature otherwise', async (t) => {
  const net = await createTestnet(2)
  t.teardown(() => net.destroy())
  const node = net.nodes[1]!
  const raw = await bindUdpSocket('127.0.0.1', 0)
  t.teardown(() => raw.close())
  const replies: DhtMessage[] = []
  raw.onMessage((bytes) => replies.push(decodeMessage(bytes)))
  const { host, port } = node.address()
  const ask = async (txid: Uint8Array, mac: boolean) => {
    const before = replies.length
    await raw.send(
      encodeMessage(
        {
          type: 'ping',
          txid: Uint8Array.from(txid),
          senderKey: alice.publicKey,
          client: true,
          wantProof: true,
          proof: undefined,
          ...(mac ? { mac: true } : {}),
        } as DhtMessage,
        undefined,
        // A first contact: padded to the pong's size (docs/PROTOCOL.md, "DHT amplification guard").
        UNPROVEN_PAD_BYTES.ping,
      ),
      port,
      host,
    )
    for (let i = 0; i < 200 && replies.length === before; i++) {
      await new Promise((r) => setTimeout(r, 5))
    }
    return replies[before]!
  }
  const byMac = await ask(fromHex('1111111111111111'), true)
  t.equal(byMac.mac, true)
  const key = proofKeyFromShared(agree(alice, node.identity.publicKey))!
  t.equal(toHex(byMac.proof!), toHex(proofMac(key, byMac.txid, alice.id)), 'the MAC verifies')
  const bySignature = await ask(fromHex('2222222222222222'), false)
  t.notOk(bySignature.mac)
  t.ok(
    libsignalKeys.verify(
      node.identity.publicKey,
      proofInput(bySignature.txid, alice.id),
      bySignature.proof!,
    ),
    'the signature verifies',
  )
  // Nodes verify each other by MAC: a ping between two nodes succeeds.
  const pong = await net.nodes[0]!.ping(node.address())
  t.same(pong.id, node.id)
})
