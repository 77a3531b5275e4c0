import t from 'tap'
import {
  decodeChatPayload,
  decodeDirectFrame,
  directMessageId,
  encodeChatPayload,
  encodeDirectFrame,
  MalformedError,
  MAX_TEXT_BYTES,
  paddedSize,
  toHex,
  utf8,
  type Bytes,
} from '@passage/sdk'
import { hexVector } from '../helpers/protocol-doc.js'

const id = Uint8Array.from({ length: 16 }, (_, i) => i) as Bytes
const other = new Uint8Array(16).fill(0x22) as Bytes

t.test('the vectors of docs/PROTOCOL.md', async (t) => {
  const text = encodeChatPayload({ kind: 'text', id, sentAt: 1764000000000, text: 'hi Bob' })
  t.equal(toHex(text), toHex(hexVector('chat.textPayload')))
  const receipt = encodeChatPayload({
    kind: 'receipt',
    id: new Uint8Array(16).fill(0x11) as Bytes,
    sentAt: 1764000001000,
    receipt: 'read',
    ids: [id, other],
  })
  t.equal(toHex(receipt), toHex(hexVector('chat.receiptPayload')))
  t.same(decodeChatPayload(hexVector('chat.textPayload')), {
    kind: 'text',
    id,
    sentAt: 1764000000000,
    text: 'hi Bob',
  })
  const decoded = decodeChatPayload(hexVector('chat.receiptPayload'))
  t.equal(decoded.kind, 'receipt')
  if (decoded.kind === 'receipt') {
    t.equal(decoded.receipt, 'read')
    t.same(decoded.ids.map(toHex), [toHex(id), toHex(other)])
  }
})

t.test('padding buckets hide the length', async (t) => {
  t.equal(paddedSize(1), 64)
  t.equal(paddedSize(65), 128)
  t.equal(paddedSize(4096), 4096)
  t.equal(paddedSize(4097), 8192)
  const short = encodeChatPayload({ kind: 'text', id, sentAt: 1, text: 'a' })
  const longer = encodeChatPayload({ kind: 'text', id, sentAt: 1, text: 'a'.repeat(30) })
  t.equal(short.byteLength, longer.byteLength, 'same bucket')
  const max = encodeChatPayload({ kind: 'text', id, sentAt: 1, text: 'é'.repeat(2000) })
  t.equal(max.byteLength, 4096)
  t.equal(decodeChatPayload(max).kind, 'text')
})

t.test('refusals', async (t) => {
  t.throws(() => encodeChatPayload({ kind: 'text', id, sentAt: 1, text: '' }), MalformedError)
  t.throws(
    () => encodeChatPayload({ kind: 'text', id, sentAt: 1, text: 'x'.repeat(MAX_TEXT_BYTES + 1) }),
    MalformedError,
  )
  t.throws(
    () => encodeChatPayload({ kind: 'receipt', id, sentAt: 1, receipt: 'read', ids: [] }),
    MalformedError,
  )
  const good = hexVector('chat.textPayload')
  const bad = (mutate: (b: Uint8Array) => Uint8Array) => () =>
    decodeChatPayload(mutate(Uint8Array.from(good)))
  t.throws(
    bad((b) => ((b[0] = 2), b)),
    MalformedError,
    'version',
  )
  t.throws(
    bad((b) => ((b[1] = 9), b)),
    MalformedError,
    'kind',
  )
  t.throws(
    bad((b) => ((b[63] = 1), b)),
    MalformedError,
    'non-zero padding',
  )
  t.throws(
    bad((b) => b.slice(0, 60)),
    MalformedError,
    'not a bucket size',
  )
  t.throws(
    bad((b) => ((b[26] = 0xff), b)),
    MalformedError,
    'length beyond the body',
  )
  t.throws(
    bad((b) => ((b[28] = 0xff), (b[29] = 0xfe), b)),
    MalformedError,
    'invalid UTF-8',
  )
})

t.test('direct frames round-trip and refuse garbage', async (t) => {
  const sealed = Uint8Array.of(1, 2, 3) as Bytes
  for (const frame of [
    { type: 'sealed', sealed } as const,
    { type: 'stored', envelopeId: id } as const,
    { type: 'bundle-request' } as const,
    { type: 'bundle', bundle: sealed } as const,
  ]) {
    t.same(decodeDirectFrame(encodeDirectFrame(frame)), frame)
  }
  t.same(
    decodeDirectFrame(
      encodeDirectFrame({ type: 'signal', deviceId: 1, messageType: 3, message: sealed }),
    ),
    { type: 'signal', deviceId: 1, messageType: 3, message: sealed },
  )
  t.throws(() => decodeDirectFrame(Uint8Array.of(5, 1, 2)), MalformedError, 'no message')
  t.throws(() => decodeDirectFrame(Uint8Array.of(5, 0, 2, 9)), MalformedError, 'device 0')
  t.throws(() => decodeDirectFrame(Uint8Array.of(5, 1, 4, 9)), MalformedError, 'type 4')
  t.throws(() => decodeDirectFrame(Uint8Array.of(2, 1, 2)), MalformedError)
  t.throws(() => decodeDirectFrame(Uint8Array.of(9)), MalformedError)
  t.throws(() => decodeDirectFrame(new Uint8Array(0)), MalformedError)
})

t.test('the unsealed direct frame and its "stored" answer match docs/PROTOCOL.md', async (t) => {
  const message = utf8('a Signal message')
  const frame = encodeDirectFrame({ type: 'signal', deviceId: 1, messageType: 2, message })
  t.equal(toHex(frame), toHex(hexVector('direct.signalFrame')))
  t.same(decodeDirectFrame(hexVector('direct.signalFrame')), {
    type: 'signal',
    deviceId: 1,
    messageType: 2,
    message,
  })
  const stored = encodeDirectFrame({ type: 'stored', envelopeId: directMessageId(message) })
  t.equal(toHex(stored), toHex(hexVector('direct.storedSignal')))
  // Type 7: a group message (sender key); other types are refused.
  const group = Uint8Array.from(hexVector('direct.signalFrame'))
  group[2] = 7
  t.match(decodeDirectFrame(group), { type: 'signal', messageType: 7 })
  group[2] = 4
  t.throws(() => decodeDirectFrame(group), MalformedError)
})
