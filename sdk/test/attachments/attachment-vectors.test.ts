// The byte vectors of docs/PROTOCOL.md "Attachments": encryption, chunk IDs, the pointer, its
// payloads and the link frames that pull chunks.
import t from 'tap'
import {
  Identity,
  MalformedError,
  TamperedError,
  TooLargeError,
  attachmentCiphertextSize,
  chunkIdOf,
  decodeAttachmentPointer,
  decodeChatPayload,
  decodeDirectFrame,
  decryptAttachment,
  encodeAttachmentPointer,
  encodeChatPayload,
  encodeDirectFrame,
  encryptAttachment,
  mailboxKeyFor,
  paddedAttachmentSize,
  toHex,
  utf8,
  type AttachmentPointer,
  type Bytes,
} from '@passage/sdk'
import { libsignalKeys, nodeMediaCrypto } from '@passage/sdk/node'
import { hexVector } from '../helpers/protocol-doc.js'

const seq = (from: number, n: number) => Uint8Array.from({ length: n }, (_, i) => from + i) as Bytes
const keys = seq(0x00, 64)
const iv = seq(0x40, 16)
const plaintext = utf8('GIF89a')
const capability = Identity.fromPrivateKey(
  libsignalKeys,
  Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 0xd0 : 0x55)),
)
const id = seq(0x00, 16)
const T = 1764000000000
const lists = { sender: 1764200000000, recipient: 1764100000000 }
const PRINT = process.env.PRINT_VECTORS === '1'
const show = (name: string, bytes: Uint8Array) => PRINT && console.log(name, toHex(bytes))

async function encrypted() {
  return encryptAttachment(nodeMediaCrypto, plaintext, keys, iv)
}

async function pointer(): Promise<AttachmentPointer> {
  const { ciphertext, digest } = await encrypted()
  const box = mailboxKeyFor(capability.publicKey)
  return {
    inDht: true,
    size: plaintext.byteLength,
    contentType: 'image/gif',
    fileName: 'hi.gif',
    keys,
    digest,
    capability: capability.secretKey.exportPrivateKey(),
    expiresAt: T + 7 * 86_400_000,
    width: 2,
    height: 1,
    frames: 1,
    chunkIds: [await chunkIdOf(nodeMediaCrypto, box, ciphertext)],
    caption: 'hi 🎉',
  }
}

t.test('encryption: padding, MAC and digest', async (t) => {
  const { ciphertext, digest } = await encrypted()
  t.equal(paddedAttachmentSize(6), 541)
  t.equal(ciphertext.byteLength, 592)
  t.equal(attachmentCiphertextSize(6), 592)
  show('attachments.mac', ciphertext.subarray(560))
  show('attachments.digest', digest)
  t.equal(toHex(ciphertext.subarray(0, 16)), toHex(iv), 'the IV comes first')
  t.equal(toHex(ciphertext.subarray(560)), toHex(hexVector('attachments.mac')))
  t.equal(toHex(digest), toHex(hexVector('attachments.digest')))
  const back = await decryptAttachment(nodeMediaCrypto, ciphertext, keys, digest, 6)
  t.equal(toHex(back), toHex(plaintext))
  // Any flipped byte: refused, nothing returned.
  for (const at of [0, 20, 300, 591]) {
    const bad = Uint8Array.from(ciphertext)
    bad[at]! ^= 1
    await t.rejects(decryptAttachment(nodeMediaCrypto, bad, keys, digest, 6), TamperedError)
  }
  // The right digest but the wrong MAC key: refused by the MAC.
  const otherKeys = Uint8Array.from(keys)
  otherKeys[40]! ^= 1
  await t.rejects(
    decryptAttachment(nodeMediaCrypto, ciphertext, otherKeys, digest, 6),
    TamperedError,
  )
  await t.rejects(
    encryptAttachment(nodeMediaCrypto, new Uint8Array(8 * 1024 * 1024 + 1), keys, iv),
    TooLargeError,
  )
})

t.test('padding buckets grow by 5 %, never below the size', async (t) => {
  for (const size of [1, 541, 542, 1000, 65_536, 2 * 1024 * 1024, 8 * 1024 * 1024]) {
    const padded = paddedAttachmentSize(size)
    t.ok(
      padded >= size && padded >= 541 && padded <= Math.max(541, Math.ceil(size * 1.05)),
      `${size}`,
    )
  }
})

t.test('chunk IDs are envelope IDs in the capability mailbox', async (t) => {
  const { ciphertext } = await encrypted()
  const box = mailboxKeyFor(capability.publicKey)
  show('attachments.capabilityMailbox', box)
  t.equal(toHex(box), toHex(hexVector('attachments.capabilityMailbox')))
  const chunkId = await chunkIdOf(nodeMediaCrypto, box, ciphertext)
  show('attachments.chunkId', chunkId)
  t.equal(toHex(chunkId), toHex(hexVector('attachments.chunkId')))
})

t.test('the pointer', async (t) => {
  const p = await pointer()
  const bytes = encodeAttachmentPointer(p)
  show('attachments.pointer', bytes)
  t.equal(toHex(bytes), toHex(hexVector('attachments.pointer')))
  const back = decodeAttachmentPointer(bytes)
  t.equal(back.caption, 'hi 🎉')
  t.equal(back.fileName, 'hi.gif')
  t.equal(back.expiresAt, p.expiresAt)
  t.same([back.width, back.height, back.frames, back.durationMs], [2, 1, 1, undefined])
  t.equal(toHex(encodeAttachmentPointer(back)), toHex(bytes), 'round trip')
  // Refusals: wrong chunk count, unknown flags, trailing bytes, a content type with a space.
  t.throws(() => encodeAttachmentPointer({ ...p, chunkIds: [] }), MalformedError)
  t.throws(() => encodeAttachmentPointer({ ...p, contentType: 'image gif' }), MalformedError)
  t.throws(() => encodeAttachmentPointer({ ...p, caption: 'x'.repeat(4001) }), MalformedError)
  t.throws(() => encodeAttachmentPointer({ ...p, size: 8 * 1024 * 1024 + 1 }), TooLargeError)
  const flags = Uint8Array.from(bytes)
  flags[1] = 0x03
  t.throws(() => decodeAttachmentPointer(flags), MalformedError)
  t.throws(() => decodeAttachmentPointer(Uint8Array.of(...bytes, 0)), MalformedError)
  const noExpiry = encodeAttachmentPointer({ ...p, inDht: false })
  t.equal(decodeAttachmentPointer(noExpiry).expiresAt, 0, 'not in the DHT: expiresAt 0')
  const truncated = bytes.subarray(0, bytes.byteLength - 3)
  t.throws(() => decodeAttachmentPointer(truncated), MalformedError)
})

t.test('payloads: attachment, request, renewed', async (t) => {
  const p = encodeAttachmentPointer(await pointer())
  const payload = encodeChatPayload({ kind: 'attachment', id, sentAt: T, lists, pointer: p })
  show('attachments.payload', payload)
  t.equal(toHex(payload), toHex(hexVector('attachments.payload')))
  const decoded = decodeChatPayload(payload)
  t.equal(decoded.kind, 'attachment')
  const request = encodeChatPayload({
    kind: 'attachment-request',
    id: seq(0x10, 16),
    sentAt: T + 1000,
    lists,
    message: id,
  })
  show('attachments.requestPayload', request)
  t.equal(toHex(request), toHex(hexVector('attachments.requestPayload')))
  const renewed = encodeChatPayload({
    kind: 'attachment-renewed',
    id: seq(0x20, 16),
    sentAt: T + 2000,
    lists,
    message: id,
    expiresAt: T + 14 * 86_400_000,
  })
  show('attachments.renewedPayload', renewed)
  t.equal(toHex(renewed), toHex(hexVector('attachments.renewedPayload')))
  t.same(decodeChatPayload(renewed), {
    kind: 'attachment-renewed',
    id: seq(0x20, 16),
    sentAt: T + 2000,
    lists,
    message: id,
    expiresAt: T + 14 * 86_400_000,
  })
  const group = encodeChatPayload({
    kind: 'group-attachment',
    id,
    sentAt: T,
    lists: { sender: lists.sender, recipient: 0 },
    group: seq(0xa0, 16),
    revision: 1,
    pointer: p,
  })
  const g = decodeChatPayload(group)
  t.equal(g.kind === 'group-attachment' && toHex(g.pointer), toHex(p))
  t.throws(
    () => encodeChatPayload({ kind: 'attachment', id, sentAt: T, pointer: p }),
    MalformedError,
    'version 2 only',
  )
})

t.test('link frames that pull chunks', async (t) => {
  const request = encodeDirectFrame({ type: 'chunk-request', message: id, index: 258 })
  const chunk = encodeDirectFrame({ type: 'chunk', message: id, index: 0, chunk: utf8('hello') })
  const missing = encodeDirectFrame({ type: 'chunk-missing', message: id, index: 3 })
  show('attachments.chunkRequestFrame', request)
  show('attachments.chunkFrame', chunk)
  show('attachments.chunkMissingFrame', missing)
  t.equal(toHex(request), toHex(hexVector('attachments.chunkRequestFrame')))
  t.equal(toHex(chunk), toHex(hexVector('attachments.chunkFrame')))
  t.equal(toHex(missing), toHex(hexVector('attachments.chunkMissingFrame')))
  t.same(decodeDirectFrame(request), { type: 'chunk-request', message: id, index: 258 })
  const c = decodeDirectFrame(chunk)
  t.equal(c.type === 'chunk' && toHex(c.chunk), toHex(utf8('hello')))
  t.throws(() => decodeDirectFrame(request.subarray(0, 18)), MalformedError)
  t.throws(() => decodeDirectFrame(chunk.subarray(0, 19)), MalformedError, 'an empty chunk')
  t.throws(
    () =>
      encodeDirectFrame({ type: 'chunk', message: id, index: 0, chunk: new Uint8Array(65_537) }),
    MalformedError,
  )
})
