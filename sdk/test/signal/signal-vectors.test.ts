// The pre-key bundle and sealed-message vectors of docs/PROTOCOL.md, read from the document.
import {
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
} from 'node:crypto'
import { PrivateKey } from '@signalapp/libsignal-client'
import { sha256 } from '@noble/hashes/sha2.js'
import t from 'tap'
import {
  BadSignatureError,
  Identity,
  KeyMismatchError,
  MalformedError,
  MemorySignalStorage,
  PRE_KEY_BUNDLE_FIXED_BYTES,
  RecordType,
  SEALED_INFO,
  TamperedError,
  concatBytes,
  decodePreKeyBundle,
  decodePreKeyBundlePayload,
  decodeSealedContent,
  decodeSignedRecord,
  encodePreKeyBundle,
  encodePreKeyBundlePayload,
  encodeSealedContent,
  encodeSignedRecord,
  fromHex,
  openSealedMessage,
  sealMessage,
  signRecord,
  signalAddress,
  toBytes,
  utf8,
  verifyPreKeyBundle,
  type Bytes,
} from '@passage/sdk'
import { libsignalKeys, LibsignalSession } from '@passage/sdk/node'
import { hexVector, textVector } from '../helpers/protocol-doc.js'

const alice = Identity.fromPrivateKey(libsignalKeys, fromHex('a8' + '11'.repeat(31)))
const bobPrivate = fromHex('b8' + '44'.repeat(31))
const bob = Identity.fromPrivateKey(libsignalKeys, bobPrivate)
function flip(bytes: Uint8Array, index: number): Bytes {
  const out = toBytes(bytes)
  out[index] = out[index]! ^ 1
  return out
}
const publicOf = (hex: string) =>
  toBytes(PrivateKey.deserialize(fromHex(hex)).getPublicKey().serialize())

t.test('Bob, the second test identity', async (t) => {
  t.same(bob.publicKey, hexVector('bob.publicKey'))
  t.equal(bob.textId, textVector('bob.textId'))
})

t.test('pre-key bundle payload: layout', async (t) => {
  const bytes = hexVector('preKeyBundle.payload')
  const payload = decodePreKeyBundlePayload(bytes)
  t.equal(payload.deviceId, 1)
  t.equal(payload.registrationId, 4242)
  t.equal(payload.signedPreKeyId, 1)
  t.same(payload.signedPreKey, publicOf('c8' + '33'.repeat(31)))
  t.equal(payload.kyberPreKeyId, 1)
  t.same(payload.kyberPreKeyHash, sha256(hexVector('preKeyBundle.kyberPublicKey')))
  t.same(
    payload.oneTimePreKeys.map((k) => k.id),
    [100, 101],
  )
  t.same(payload.oneTimePreKeys[0]!.publicKey, publicOf('d0' + '55'.repeat(31)))
  t.same(payload.oneTimePreKeys[1]!.publicKey, publicOf('d8' + '66'.repeat(31)))
  t.equal(bytes.byteLength, PRE_KEY_BUNDLE_FIXED_BYTES + 2 * 37)
  t.same(encodePreKeyBundlePayload(payload), bytes, 'canonical: re-encoding gives the same bytes')

  t.throws(
    () => decodePreKeyBundlePayload(concatBytes(bytes, Uint8Array.of(0))),
    MalformedError,
    'trailing byte',
  )
  t.throws(
    () => decodePreKeyBundlePayload(bytes.subarray(0, bytes.length - 1)),
    MalformedError,
    'truncated',
  )
  const device0 = Uint8Array.from(bytes)
  device0[0] = 0
  t.throws(() => decodePreKeyBundlePayload(device0), MalformedError, 'device 0')
  const tooMany = {
    ...payload,
    oneTimePreKeys: Array.from({ length: 17 }, () => payload.oneTimePreKeys[0]!),
  }
  t.throws(() => encodePreKeyBundlePayload(tooMany), MalformedError, 'at most 16 one-time pre-keys')
})

t.test('pre-key bundle record: verifies, and libsignal accepts it', async (t) => {
  const recordBytes = hexVector('preKeyBundle.record')
  const record = decodeSignedRecord(recordBytes)
  t.equal(record.type, RecordType.preKeyBundle)
  t.same(record.publicKey, alice.publicKey)
  t.equal(record.seq, 5)
  t.equal(record.timestamp, 1764140000000)
  t.same(record.payload, hexVector('preKeyBundle.payload'))
  t.same(encodeSignedRecord(record), recordBytes)

  const bundle = { record, kyberPublicKey: hexVector('preKeyBundle.kyberPublicKey') }
  const aliceAddress = signalAddress(alice.textId)
  t.same(
    verifyPreKeyBundle(bundle, libsignalKeys, aliceAddress),
    decodePreKeyBundlePayload(record.payload),
  )
  t.same(decodePreKeyBundle(encodePreKeyBundle(bundle)), bundle, 'wire round trip')

  // libsignal itself checks both pre-key signatures when it builds a session from it.
  const carol = await LibsignalSession.open({
    identity: Identity.generate(libsignalKeys),
    storage: new MemorySignalStorage(),
  })
  await carol.processPreKeyBundle(aliceAddress, bundle)
  t.ok(await carol.hasSession(aliceAddress))

  t.throws(
    () => verifyPreKeyBundle(bundle, libsignalKeys, signalAddress(bob.textId)),
    KeyMismatchError,
    'not Bob’s bundle',
  )
  t.throws(
    () => verifyPreKeyBundle(bundle, libsignalKeys, signalAddress(alice.textId, 2)),
    MalformedError,
    'not device 2',
  )
  const otherKyber = flip(bundle.kyberPublicKey, 100)
  t.throws(
    () => verifyPreKeyBundle({ ...bundle, kyberPublicKey: otherKyber }, libsignalKeys),
    BadSignatureError,
    'another Kyber key',
  )
  t.throws(
    () =>
      verifyPreKeyBundle(
        { ...bundle, kyberPublicKey: bundle.kyberPublicKey.subarray(1) },
        libsignalKeys,
      ),
    MalformedError,
    'a short Kyber key',
  )
  const badSig = { ...record, signature: flip(record.signature, 3) }
  t.throws(
    () => verifyPreKeyBundle({ ...bundle, record: badSig }, libsignalKeys),
    BadSignatureError,
    'record signature',
  )

  // A bundle whose record is validly signed but whose signed pre-key signature is not.
  const payload = decodePreKeyBundlePayload(record.payload)
  const forgedSpk = { ...payload, signedPreKeySignature: bob.sign(payload.signedPreKey) }
  const resigned = signRecord(alice, { ...record, payload: encodePreKeyBundlePayload(forgedSpk) })
  t.throws(
    () => verifyPreKeyBundle({ ...bundle, record: resigned }, libsignalKeys),
    BadSignatureError,
    'signed pre-key signature',
  )
  const forgedKyber = { ...payload, kyberPreKeySignature: bob.sign(bundle.kyberPublicKey) }
  const resigned2 = signRecord(alice, {
    ...record,
    payload: encodePreKeyBundlePayload(forgedKyber),
  })
  t.throws(
    () => verifyPreKeyBundle({ ...bundle, record: resigned2 }, libsignalKeys),
    BadSignatureError,
    'Kyber signature',
  )
  const announceType = signRecord(alice, { ...record, type: RecordType.announce })
  t.throws(
    () => verifyPreKeyBundle({ ...bundle, record: announceType }, libsignalKeys),
    MalformedError,
    'wrong record type',
  )
})

t.test('a bundle made by, round-trips and verifies', async (t) => {
  const dave = await LibsignalSession.open({
    identity: Identity.generate(libsignalKeys),
    storage: new MemorySignalStorage(),
  })
  await dave.generatePreKeys({ oneTimeCount: 40 })
  const bundle = await dave.createPreKeyBundle({ seq: 9 })
  const payload = verifyPreKeyBundle(
    decodePreKeyBundle(encodePreKeyBundle(bundle)),
    libsignalKeys,
    dave.address,
  )
  t.equal(payload.oneTimePreKeys.length, 16, 'at most 16 one-time pre-keys per bundle')
  t.equal(payload.registrationId, dave.registrationId)
  t.ok(encodeSignedRecord(bundle.record).byteLength <= 53 + 1024 + 64, 'fits a DHT record')
  t.equal(bundle.record.seq, 9)
})

t.test('sealed content: layout', async (t) => {
  const inner = hexVector('sealed.inner')
  const content = decodeSealedContent(inner)
  t.same(content.senderPublicKey, alice.publicKey)
  t.equal(content.senderDeviceId, 1)
  t.equal(content.type, 2)
  t.same(content.ciphertext, utf8('a Signal message'))
  t.same(encodeSealedContent(content), inner)
  const badType = Uint8Array.from(inner)
  badType[35] = 4
  t.throws(() => decodeSealedContent(badType), MalformedError, 'unknown message type')
  badType[35] = 7
  t.equal(decodeSealedContent(badType).type, 7, 'a group message (sender key)')
  const badVersion = Uint8Array.from(inner)
  badVersion[0] = 2
  t.throws(() => decodeSealedContent(badVersion), MalformedError, 'unknown version')
  t.throws(() => decodeSealedContent(inner.subarray(0, 36)), MalformedError, 'no ciphertext')
})

t.test('sealed message: the vector opens for Bob only', async (t) => {
  const sealed = hexVector('sealed.message')
  t.same(openSealedMessage(bob, sealed), decodeSealedContent(hexVector('sealed.inner')))
  t.throws(
    () => openSealedMessage(alice, sealed),
    TamperedError,
    'Alice cannot open what was sealed to Bob',
  )
  t.equal(sealed.byteLength, 1 + 1 + 32 + hexVector('sealed.inner').byteLength + 16)

  const again = sealMessage(
    bob.publicKey,
    decodeSealedContent(hexVector('sealed.inner')),
    libsignalKeys,
  )
  t.not(
    Buffer.from(again).toString('hex'),
    Buffer.from(sealed).toString('hex'),
    'HPKE is randomized',
  )
  t.same(openSealedMessage(bob, again), decodeSealedContent(hexVector('sealed.inner')))
  const v2 = Uint8Array.from(sealed)
  v2[0] = 2
  t.throws(() => openSealedMessage(bob, v2), MalformedError, 'unknown version')
  t.throws(() => openSealedMessage(bob, sealed.subarray(0, 60)), MalformedError, 'too short')
})

// RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, written against
// node:crypto from the RFC: an independent implementation opens the vector, so the document
// says enough to interoperate.
function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Bytes {
  return toBytes(createHmac('sha256', salt).update(ikm).digest())
}
function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Bytes {
  const out: Uint8Array[] = []
  let previous: Uint8Array = new Uint8Array(0)
  for (let i = 1; out.length * 32 < length; i++) {
    previous = createHmac('sha256', prk)
      .update(concatBytes(previous, info, Uint8Array.of(i)))
      .digest()
    out.push(previous)
  }
  return concatBytes(...out).slice(0, length) as Bytes
}
const V1 = utf8('HPKE-v1')
const i2osp = (value: number) => Uint8Array.of(value >> 8, value & 0xff)
const labeledExtract = (suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array) =>
  hkdfExtract(salt, concatBytes(V1, suite, utf8(label), ikm))
const labeledExpand = (
  suite: Uint8Array,
  prk: Uint8Array,
  label: string,
  info: Uint8Array,
  length: number,
) => hkdfExpand(prk, concatBytes(i2osp(length), V1, suite, utf8(label), info), length)

function rfc9180Open(
  skR: Uint8Array,
  pkR: Uint8Array,
  enc: Uint8Array,
  ct: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
) {
  const privateKey = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), skR]),
    format: 'der',
    type: 'pkcs8',
  })
  const publicKey = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), enc]),
    format: 'der',
    type: 'spki',
  })
  const dh = diffieHellman({ privateKey, publicKey })
  const kemSuite = concatBytes(utf8('KEM'), i2osp(0x20))
  const eaePrk = labeledExtract(kemSuite, new Uint8Array(0), 'eae_prk', dh)
  const sharedSecret = labeledExpand(kemSuite, eaePrk, 'shared_secret', concatBytes(enc, pkR), 32)
  const suite = concatBytes(utf8('HPKE'), i2osp(0x20), i2osp(0x01), i2osp(0x02))
  const none = new Uint8Array(0)
  const context = concatBytes(
    Uint8Array.of(0),
    labeledExtract(suite, none, 'psk_id_hash', none),
    labeledExtract(suite, none, 'info_hash', info),
  )
  const secret = labeledExtract(suite, sharedSecret, 'secret', none)
  const key = labeledExpand(suite, secret, 'key', context, 32)
  const nonce = labeledExpand(suite, secret, 'base_nonce', context, 12)
  const decipher = createDecipheriv('aes-256-gcm', key, nonce)
  decipher.setAAD(aad)
  decipher.setAuthTag(ct.subarray(ct.length - 16))
  return toBytes(Buffer.concat([decipher.update(ct.subarray(0, ct.length - 16)), decipher.final()]))
}

t.test('an independent RFC 9180 implementation opens the sealed vector', async (t) => {
  const sealed = hexVector('sealed.message')
  t.equal(sealed[0], 1, 'Passage version')
  t.equal(sealed[1], 1, 'libsignal HPKE suite byte')
  const inner = rfc9180Open(
    bobPrivate,
    bob.publicKey.subarray(1),
    sealed.subarray(2, 34),
    sealed.subarray(34),
    SEALED_INFO,
    concatBytes(Uint8Array.of(1), bob.publicKey),
  )
  t.same(inner, hexVector('sealed.inner'))
  t.equal(Buffer.from(SEALED_INFO).toString('latin1'), 'passage/sealed/v1')
})
