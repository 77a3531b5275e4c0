import t from 'tap'
import {
  BadChecksumError,
  Identity,
  KeyMismatchError,
  MalformedError,
  encodeContactUri,
  encodeTextId,
  nodeIdFromPublicKey,
  parseContactUri,
  parseTextId,
  TEXT_ID_LENGTH,
  utf8,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'

t.test('an identity signs and its ID is the hash of its key', async (t) => {
  const me = Identity.generate(libsignalKeys)
  t.equal(me.publicKey.byteLength, 33)
  t.same(me.id, nodeIdFromPublicKey(me.publicKey))
  const msg = utf8('hello')
  t.ok(libsignalKeys.verify(me.publicKey, msg, me.sign(msg)))
  t.notOk(libsignalKeys.verify(me.publicKey, utf8('hellp'), me.sign(msg)))
  const again = Identity.deserialize(libsignalKeys, me.serialize())
  t.equal(again.textId, me.textId)
  t.throws(() => Identity.deserialize(libsignalKeys, new Uint8Array(3)), MalformedError)
})

t.test('text IDs are short, case-insensitive and catch typos', async (t) => {
  const me = Identity.generate(libsignalKeys)
  t.equal(me.textId.length, TEXT_ID_LENGTH)
  t.ok(TEXT_ID_LENGTH <= 40)
  t.same(parseTextId(me.textId.toUpperCase()), me.id)
  const chars = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'
  let caught = 0
  for (let i = 2; i < me.textId.length; i++) {
    const c = me.textId[i]!
    const other = chars[(chars.indexOf(c) + 1) % chars.length]!
    const typo = me.textId.slice(0, i) + other + me.textId.slice(i + 1)
    t.throws(() => parseTextId(typo), BadChecksumError)
    caught++
  }
  t.equal(caught, TEXT_ID_LENGTH - 2)
  t.throws(() => parseTextId('p1short'), MalformedError)
  t.throws(() => parseTextId(me.textId.slice(0, 10) + 'b' + me.textId.slice(11)), MalformedError)
})

t.test('a passage: URI carries the key and is self-certifying', async (t) => {
  const me = Identity.generate(libsignalKeys)
  const uri = encodeContactUri({ publicKey: me.publicKey, name: 'Ada L' })
  const card = parseContactUri(uri)
  t.equal(card.textId, me.textId)
  t.same(card.publicKey, me.publicKey)
  t.equal(card.name, 'Ada L')
  const other = Identity.generate(libsignalKeys)
  const forged = `passage:${me.textId}?key=${encodeURIComponent(encodeContactUri({ publicKey: other.publicKey }).split('key=')[1]!)}`
  t.throws(() => parseContactUri(forged), KeyMismatchError)
  t.equal(encodeTextId(card.id), me.textId)
})
