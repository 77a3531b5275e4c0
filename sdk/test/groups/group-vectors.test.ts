import t from 'tap'
import {
  BadChecksumError,
  BadSignatureError,
  Identity,
  KeyMismatchError,
  MalformedError,
  checkGroupGenesis,
  checkGroupTransition,
  decodeChatPayload,
  decodeGroupState,
  encodeChatPayload,
  encodeGroupId,
  encodeGroupStateBody,
  groupMailboxDay,
  groupMailboxDays,
  groupMailboxIdentity,
  groupMailboxKey,
  groupMailboxPrivateKey,
  groupStateHash,
  groupStateSigningInput,
  parseGroupId,
  signGroupState,
  toHex,
  utf8,
  type Bytes,
  type GroupStateBody,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { hexVector, textVector } from '../helpers/protocol-doc.js'

const key = (first: number, fill: number) =>
  Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? first : fill))
const alice = Identity.fromPrivateKey(libsignalKeys, hexVector('alice.privateKey'))
const server = Identity.fromPrivateKey(libsignalKeys, key(0xb0, 0x22))
const bob = Identity.fromPrivateKey(libsignalKeys, key(0xb8, 0x44))
const phone = Identity.fromPrivateKey(libsignalKeys, key(0xc8, 0x33))
const groupId = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i) as Bytes
const T = 1764300000000
const id = Uint8Array.from({ length: 16 }, (_, i) => i) as Bytes

t.test('the group mailbox of a seed and a day', async (t) => {
  const seed = Uint8Array.from({ length: 32 }, (_, i) => i)
  const day = groupMailboxDay(T)
  t.equal(day, 20420)
  t.equal(toHex(groupMailboxPrivateKey(seed, day)), toHex(hexVector('groups.mailboxPrivateKey')))
  const owner = groupMailboxIdentity(libsignalKeys, seed, day)
  t.equal(toHex(owner.publicKey), toHex(hexVector('groups.mailboxPublicKey')))
  t.equal(toHex(groupMailboxKey(libsignalKeys, seed, day)), toHex(hexVector('groups.mailboxKey')))
  t.not(
    toHex(groupMailboxKey(libsignalKeys, seed, day + 1)),
    toHex(hexVector('groups.mailboxKey')),
    'the next day has another mailbox',
  )
  const DAY = 86_400_000
  const midday = 20420 * DAY + DAY / 2
  t.same(groupMailboxDays(midday, midday), [20420], 'read at midday: that day only')
  t.same(groupMailboxDays(midday - 3 * DAY, midday), [20417, 20418, 20419, 20420])
  t.same(groupMailboxDays(20420 * DAY + 600_000, 20420 * DAY + 600_000), [20419, 20420])
  t.same(groupMailboxDays(midday, 20421 * DAY - 600_000), [20420, 20421], 'near midnight: tomorrow')
  t.equal(groupMailboxDays(midday - 60 * DAY, midday).length, 32, 'at most 32 days')
  t.throws(() => groupMailboxPrivateKey(seed.subarray(1), day))
})

t.test('the group ID as text', async (t) => {
  t.equal(encodeGroupId(groupId), textVector('groups.id'))
  t.equal(toHex(parseGroupId(textVector('groups.id').toUpperCase())), toHex(groupId))
  const typo = textVector('groups.id').replace(/.$/, (c) => (c === 'q' ? 'p' : 'q'))
  t.throws(() => parseGroupId(typo), BadChecksumError)
  t.throws(() => parseGroupId(textVector('alice.textId')), MalformedError, 'a person is no group')
})

t.test('the group states of the document: decode, verify, hash, follow', async (t) => {
  const s0 = decodeGroupState(hexVector('groups.state0'), libsignalKeys)
  t.equal(s0.name, 'Hikers 🥾')
  t.equal(s0.revision, 0)
  t.equal(s0.changedAt, T)
  t.same(
    s0.members.map((m) => [toHex(m.account), m.role]),
    [
      [toHex(bob.publicKey), 'member'],
      [toHex(alice.publicKey), 'owner'],
    ],
  )
  t.equal(toHex(s0.hash), toHex(hexVector('groups.state0Hash')))
  t.equal(toHex(groupStateHash(hexVector('groups.state0'))), toHex(s0.hash))
  t.same(checkGroupGenesis(s0), { ok: true })
  // Re-encoding the decoded body gives the document's bytes (all but the signature).
  t.equal(
    toHex(encodeGroupStateBody(s0, s0.signer)),
    toHex(hexVector('groups.state0')).slice(0, -128),
  )
  const s1 = decodeGroupState(hexVector('groups.state1'), libsignalKeys)
  t.equal(toHex(s1.prevHash), toHex(hexVector('groups.state0Hash')))
  t.equal(toHex(s1.hash), toHex(hexVector('groups.state1Hash')))
  t.equal(s1.signer.deviceId, 2)
  t.equal(toHex(s1.signer.deviceKey), toHex(phone.publicKey))
  t.same(checkGroupTransition(s0, s1), { ok: true }, "the owner's second device adds an admin")
  // Signing the same body again gives the same bytes but the randomized signature.
  const again = signGroupState(phone, s1, { account: alice.publicKey, deviceId: 2 })
  t.equal(toHex(again.bytes).slice(0, -128), toHex(s1.bytes).slice(0, -128))
})

t.test('a tampered or malformed state is refused', async (t) => {
  const bytes = hexVector('groups.state0')
  for (const at of [0, 1, 17, 60, 70, 90, bytes.byteLength - 1]) {
    const bad = Uint8Array.from(bytes)
    bad[at]! ^= 0x01
    t.throws(() => decodeGroupState(bad, libsignalKeys), 'byte ' + at)
  }
  const nameAt = 1 + 16 + 4 + 32 + 4 + 8 + 1
  const renamed = Uint8Array.from(bytes)
  renamed[nameAt] = 0x68 // "Hikers" → "hikers"
  t.throws(() => decodeGroupState(renamed, libsignalKeys), BadSignatureError)
  t.throws(
    () => decodeGroupState(Uint8Array.from([...bytes, 0]), libsignalKeys),
    MalformedError,
    'a trailing byte',
  )
  const body = (over: Partial<GroupStateBody>): GroupStateBody => ({
    groupId,
    revision: 0,
    prevHash: new Uint8Array(32) as Bytes,
    epoch: 0,
    changedAt: T,
    name: 'g',
    members: [{ account: alice.publicKey, role: 'owner' }],
    ...over,
  })
  const sign = (b: GroupStateBody, by = alice, deviceId = 1) =>
    signGroupState(by, b, { account: alice.publicKey, deviceId })
  const twoOwners = body({
    members: [
      { account: alice.publicKey, role: 'owner' },
      { account: bob.publicKey, role: 'owner' },
    ],
  })
  t.throws(() => sign(twoOwners), MalformedError, 'two owners')
  t.throws(() => sign(body({ members: [{ account: bob.publicKey, role: 'admin' }] })), 'no owner')
  t.throws(() => sign(body({ revision: 1 })), MalformedError, 'revision 1 with no prevHash')
  t.throws(() => sign(body({ epoch: 3 })), MalformedError, 'a first state at epoch 3')
  t.throws(() => sign(body({ name: '' })), MalformedError, 'no name')
  t.throws(() => sign(body({ name: '山'.repeat(22) })), MalformedError, 'a name over 64 bytes')
  t.throws(() => sign(body({}), phone, 1), KeyMismatchError, 'device 1 signs with A only')
  t.throws(() => sign(body({}), alice, 2), KeyMismatchError, 'device 2 is not A')
  // Members out of order (encoded by hand: signGroupState sorts them).
  const unsorted = body({
    members: [
      { account: server.publicKey, role: 'owner' },
      { account: alice.publicKey, role: 'member' },
    ],
  })
  const signer = { account: alice.publicKey, deviceId: 1, deviceKey: alice.publicKey }
  const raw = encodeGroupStateBody(unsorted, signer)
  const signed = new Uint8Array(raw.byteLength + 64)
  signed.set(raw)
  signed.set(alice.sign(groupStateSigningInput(raw)), raw.byteLength)
  t.throws(() => decodeGroupState(signed, libsignalKeys), MalformedError, 'members unsorted')
})

t.test('the group payloads of the document', async (t) => {
  const lists = { sender: 1764200000000, recipient: 1764100000000 }
  const text = encodeChatPayload({
    kind: 'group-text',
    id,
    sentAt: T + 120000,
    lists: { sender: lists.sender, recipient: 0 },
    group: groupId,
    revision: 1,
    text: 'hi all',
  })
  t.equal(toHex(text), toHex(hexVector('groups.textPayload')))
  const keyPayload = (seed?: Bytes) =>
    encodeChatPayload({
      kind: 'group-key',
      id,
      sentAt: T + 1000,
      lists,
      group: groupId,
      distribution: utf8('a sender key distribution'),
      ...(seed ? { seed } : {}),
    })
  const key = keyPayload()
  t.equal(toHex(key), toHex(hexVector('groups.keyPayload')))
  const seed = Uint8Array.from({ length: 32 }, (_, i) => i) as Bytes
  const seeded = keyPayload(seed)
  t.equal(toHex(seeded), toHex(hexVector('groups.keyPayloadSeed')))
  t.same(decodeChatPayload(seeded), { ...decodeChatPayload(key), seed }, 'the seed reads back')
  t.notOk('seed' in decodeChatPayload(key), 'a key without the flags byte has no seed')
  const flagsAt = 42 + 16 + 2 + 25 // the v2 head, the group ID, the length, the distribution
  t.equal(seeded[flagsAt], 1, 'the flags byte')
  for (const flags of [2, 0x80, 3]) {
    const bad = Uint8Array.from(seeded)
    bad[flagsAt] = flags
    t.throws(() => decodeChatPayload(bad), MalformedError, `group-key flags ${flags} refused`)
  }
  const request = encodeChatPayload({
    kind: 'group-sync-request',
    id,
    sentAt: T + 2000,
    lists,
    group: groupId,
    have: 0,
  })
  t.equal(toHex(request), toHex(hexVector('groups.syncRequestPayload')))
  t.match(decodeChatPayload(text), { kind: 'group-text', revision: 1, text: 'hi all' })
  t.match(decodeChatPayload(request), { kind: 'group-sync-request', have: 0 })
  const states = [hexVector('groups.state0'), hexVector('groups.state1')]
  const answer = decodeChatPayload(
    encodeChatPayload({ kind: 'group-states', id, sentAt: T, lists, group: groupId, states }),
  )
  t.same(
    answer.kind === 'group-states' ? answer.states.map(toHex) : [],
    states.map(toHex),
    'a catch-up answer carries the states as they are',
  )
  t.throws(
    () =>
      encodeChatPayload({ kind: 'group-states', id, sentAt: T, lists, group: groupId, states: [] }),
    MalformedError,
  )
  t.throws(
    () =>
      encodeChatPayload({
        kind: 'group-text',
        id,
        sentAt: T,
        group: groupId,
        revision: 1,
        text: 'x',
      }),
    MalformedError,
    'group kinds need version 2',
  )
})
