import t from 'tap'
import {
  decodeLinkFrame,
  encodeFrame,
  encodeLinkData,
  encodeLinkHello,
  FrameDecoder,
  Identity,
  LinkFrameType,
  LinkProtocol,
  LinkRole,
  linkSigningInput,
  toHex,
  utf8,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { hexVector } from '../helpers/protocol-doc.js'

// The identities of docs/PROTOCOL.md, section 1.
const alice = Identity.fromPrivateKey(libsignalKeys, hexVector('alice.privateKey'))
const server = Identity.fromPrivateKey(
  libsignalKeys,
  hexVector('alice.privateKey').map((_, i) => (i === 0 ? 0xb0 : 0x22)),
)
const dialerNonce = Uint8Array.from({ length: 32 }, (_, i) => i + 0x01)
const listenerNonce = Uint8Array.from({ length: 32 }, (_, i) => i + 0x21)
const transcript = {
  dialerNonce,
  listenerNonce,
  dialerPublicKey: alice.publicKey,
  listenerPublicKey: server.publicKey,
}

t.test('hello frames match the document', async (t) => {
  const hello = encodeFrame(
    encodeLinkHello({ version: 1, publicKey: alice.publicKey, nonce: dialerNonce }),
  )
  t.equal(toHex(hello), toHex(hexVector('link.hello.alice')))
  t.equal(
    toHex(
      encodeFrame(
        encodeLinkHello({ version: 1, publicKey: server.publicKey, nonce: listenerNonce }),
      ),
    ),
    toHex(hexVector('link.hello.server')),
  )
  const [body] = new FrameDecoder().push(hexVector('link.hello.alice'))
  t.same(decodeLinkFrame(body!), {
    type: LinkFrameType.hello,
    hello: { version: 1, publicKey: alice.publicKey, nonce: dialerNonce },
  })
})

t.test('signing inputs and the documented proof', async (t) => {
  t.equal(
    toHex(linkSigningInput(LinkRole.dialer, transcript)),
    toHex(hexVector('link.signingInput.dialer')),
  )
  t.equal(
    toHex(linkSigningInput(LinkRole.listener, transcript)),
    toHex(hexVector('link.signingInput.listener')),
  )
  t.equal(hexVector('link.signingInput.dialer').byteLength, 147)
  const [body] = new FrameDecoder().push(hexVector('link.proof.alice'))
  const proof = decodeLinkFrame(body!)
  if (proof.type !== LinkFrameType.proof) throw new Error('not a proof')
  t.ok(
    libsignalKeys.verify(alice.publicKey, hexVector('link.signingInput.dialer'), proof.signature),
  )
  t.notOk(
    libsignalKeys.verify(alice.publicKey, hexVector('link.signingInput.listener'), proof.signature),
    'the role byte matters',
  )
})

t.test('the documented handshake opens a link as the listener', async (t) => {
  // Server, as listener with the documented nonce, accepts Alice's documented hello and proof.
  const listener = new LinkProtocol({
    identity: server,
    role: LinkRole.listener,
    nonce: listenerNonce,
  })
  t.equal(toHex(listener.start()), toHex(hexVector('link.hello.server')))
  const step = listener.receive(hexVector('link.hello.alice'))
  t.equal(step.out.length, 1, 'Server answers with its proof')
  const [serverProof] = new FrameDecoder().push(step.out[0]!)
  const decoded = decodeLinkFrame(serverProof!)
  if (decoded.type !== LinkFrameType.proof) throw new Error('not a proof')
  t.ok(
    libsignalKeys.verify(
      server.publicKey,
      hexVector('link.signingInput.listener'),
      decoded.signature,
    ),
  )
  const opened = listener.receive(hexVector('link.proof.alice'))
  t.same(opened.authenticated?.id, alice.id)
  t.same(listener.receive(hexVector('link.data.hello')).payloads, [utf8('hello')])
})

t.test('data frame matches the document', async (t) => {
  t.equal(toHex(encodeFrame(encodeLinkData(utf8('hello')))), toHex(hexVector('link.data.hello')))
})
