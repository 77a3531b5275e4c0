// The relay frames of docs/PROTOCOL.md ("Relay through a super-node (TCP)"), byte for byte,
// and the documented signatures verify against the documented signing input.
import {
  FrameDecoder,
  RelayFrameType,
  RelayRefusal,
  decodeRelayFrame,
  encodeFrame,
  encodeRelayChallenge,
  encodeRelayIncoming,
  encodeRelayOk,
  encodeRelayRefused,
  encodeRelayRequest,
  fromHex,
  relaySigningInput,
  toHex,
  type RelayRequest,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import t from 'tap'
import { hexVector } from '../helpers/protocol-doc.js'
import { alice, server } from '../dht/samples.js'

const nonce = Uint8Array.from({ length: 32 }, (_, i) => i + 1)
const token = fromHex('c0'.repeat(16))

const body = (name: string) => {
  const [frame, ...more] = new FrameDecoder().push(hexVector(name))
  if (!frame || more.length > 0) throw new Error(`${name} is not one frame`)
  return frame
}

t.test('challenge, ok, incoming and refused match the document', async (t) => {
  t.equal(
    toHex(encodeFrame(encodeRelayChallenge(server.id, nonce))),
    toHex(hexVector('relay.challenge')),
  )
  t.same(decodeRelayFrame(body('relay.challenge')), {
    type: RelayFrameType.challenge,
    version: 1,
    relayId: server.id,
    nonce,
  })
  t.equal(toHex(encodeFrame(encodeRelayOk())), toHex(hexVector('relay.ok')))
  t.equal(
    toHex(encodeFrame(encodeRelayIncoming(token, alice.id))),
    toHex(hexVector('relay.incoming')),
  )
  t.same(decodeRelayFrame(body('relay.incoming')), {
    type: RelayFrameType.incoming,
    token,
    from: alice.id,
  })
  t.equal(
    toHex(encodeFrame(encodeRelayRefused(RelayRefusal.notRegistered, 'not here'))),
    toHex(hexVector('relay.refused')),
  )
  t.same(decodeRelayFrame(body('relay.refused')), {
    type: RelayFrameType.refused,
    code: 3,
    reason: 'not here',
  })
})

t.test('requests: the documented signing input and signatures', async (t) => {
  const register = { type: RelayFrameType.register, publicKey: alice.publicKey } as const
  t.equal(
    toHex(relaySigningInput(server.id, nonce, register)),
    toHex(hexVector('relay.signingInput.register')),
  )
  t.equal(hexVector('relay.signingInput.register').byteLength, 103)
  const heads = {
    'relay.register.alice': register,
    'relay.connect.alice': {
      type: RelayFrameType.connect,
      publicKey: alice.publicKey,
      target: server.id,
    },
    'relay.accept.alice': { type: RelayFrameType.accept, publicKey: alice.publicKey, token },
  } as const
  for (const [name, head] of Object.entries(heads)) {
    const decoded = decodeRelayFrame(body(name)) as RelayRequest
    const { signature, ...rest } = decoded
    t.same(rest, head, `${name} decodes`)
    t.equal(
      toHex(encodeFrame(encodeRelayRequest({ ...head, signature } as RelayRequest))),
      toHex(hexVector(name)),
      `${name} encodes`,
    )
    const input = relaySigningInput(server.id, nonce, head)
    t.ok(libsignalKeys.verify(alice.publicKey, input, signature), `${name} verifies`)
    t.notOk(
      libsignalKeys.verify(alice.publicKey, relaySigningInput(alice.id, nonce, head), signature),
      `${name} is bound to the relay's ID`,
    )
  }
})

t.test('malformed relay frames are refused', async (t) => {
  t.throws(() => decodeRelayFrame(Uint8Array.of(9)), { code: 'PASSAGE_ERR_MALFORMED' })
  t.throws(() => decodeRelayFrame(Uint8Array.of(5, 0)), { code: 'PASSAGE_ERR_MALFORMED' })
  const wrongVersion = body('relay.challenge').slice()
  wrongVersion[1] = 2
  t.throws(() => decodeRelayFrame(wrongVersion), { code: 'PASSAGE_ERR_MALFORMED' })
})
