import t from 'tap'
import {
  BadSignatureError,
  BadChecksumError,
  Identity,
  KeyMismatchError,
  MalformedError,
  TamperedError,
  changeDeviceList,
  decodeBeacon,
  decodeChatPayload,
  decodeDeviceListPayload,
  decodeLinkFrame,
  decodeProvisioning,
  decodeSealedContent,
  decodeSignedRecord,
  deviceStatus,
  encodeBeacon,
  encodeBeaconBody,
  encodeChatPayload,
  encodeDeviceListPayload,
  encodeFrame,
  encodeLinkHello,
  encodeLinkUri,
  encodeProvisioning,
  encodeRecoveryCode,
  encodeSealedContent,
  encodeSignedRecord,
  firstDeviceList,
  linkCode,
  linkSigningInput,
  openProvisioning,
  parseLinkUri,
  parseRecoveryCode,
  sealProvisioning,
  signBeacon,
  signDeviceList,
  toHex,
  utf8,
  verifyBeacon,
  verifyDeviceList,
  type Bytes,
  type DeviceList,
} from '@passage/sdk'
import { libsignalKeys } from '@passage/sdk/node'
import { hexVector, textVector } from '../helpers/protocol-doc.js'

const key = (first: number, fill: number) =>
  Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? first : fill))
const alice = Identity.fromPrivateKey(libsignalKeys, hexVector('alice.privateKey'))
const server = Identity.fromPrivateKey(libsignalKeys, key(0xb0, 0x22))
const phone = Identity.fromPrivateKey(libsignalKeys, key(0xc8, 0x33))
const eph = Identity.fromPrivateKey(libsignalKeys, key(0xd0, 0x44))
const T = 1764200000000
const list: Omit<DeviceList, 'account'> = {
  seq: T,
  timestamp: T,
  features: 1,
  lastDeviceId: 2,
  devices: [
    { deviceId: 1, state: 'active', publicKey: alice.publicKey, changedAt: 0, name: 'laptop' },
    { deviceId: 2, state: 'active', publicKey: phone.publicKey, changedAt: T, name: 'phone' },
  ],
}

t.test('the device list: payload, record, signature, rules', async (t) => {
  t.equal(toHex(phone.publicKey), toHex(hexVector('phone.publicKey')))
  t.equal(toHex(encodeDeviceListPayload(list)), toHex(hexVector('devices.listPayload')))
  t.same(
    decodeDeviceListPayload(hexVector('devices.listPayload')).devices.map((d) => d.name),
    ['laptop', 'phone'],
  )
  const record = decodeSignedRecord(hexVector('devices.listRecord'))
  const verified = verifyDeviceList(record, libsignalKeys, alice.publicKey)
  t.equal(verified.seq, T)
  t.equal(toHex(verified.devices[1]!.publicKey), toHex(phone.publicKey))
  const mine = signDeviceList(alice, list)
  t.equal(
    toHex(encodeSignedRecord(mine)).slice(0, -128),
    toHex(hexVector('devices.listRecord')).slice(0, -128),
    'the same body; XEdDSA signatures are randomized',
  )
  // Not the account's, not signed by it, or tampered: refused.
  t.throws(() => verifyDeviceList(record, libsignalKeys, phone.publicKey), KeyMismatchError)
  const forged = { ...record, payload: Uint8Array.from(record.payload) as Bytes }
  const nameOfDevice2 = 4 + 50 + 1 + 1 + 33 + 8 + 1
  forged.payload[nameOfDevice2] = 0x71 // "phone" → "qhone"
  t.throws(() => verifyDeviceList(forged, libsignalKeys), BadSignatureError)
  const byPhone = signDeviceList(phone, {
    ...list,
    devices: [{ ...list.devices[0]!, publicKey: phone.publicKey }],
  })
  t.throws(() => verifyDeviceList(byPhone, libsignalKeys, alice.publicKey), KeyMismatchError)
  // The rules.
  const bad =
    (devices: DeviceList['devices'], lastDeviceId = 9) =>
    () =>
      signDeviceList(alice, { ...list, lastDeviceId, devices })
  const d1 = list.devices[0]!
  const other = (id: number, k: Bytes) => ({
    deviceId: id,
    state: 'active' as const,
    publicKey: k,
    changedAt: T,
  })
  t.throws(bad([other(2, phone.publicKey)]), MalformedError, 'device 1 missing')
  t.throws(
    bad([{ ...d1, publicKey: phone.publicKey }]),
    KeyMismatchError,
    'device 1 not the account key',
  )
  t.throws(bad([d1, other(2, phone.publicKey), other(2, eph.publicKey)]), MalformedError, 'twice')
  t.throws(bad([d1, other(3, phone.publicKey)], 2), MalformedError, 'above lastDeviceId')
  t.throws(bad([d1, other(2, alice.publicKey)]), MalformedError, 'a key twice')
  const many = Array.from({ length: 8 }, (_, i) =>
    other(i + 2, Identity.generate(libsignalKeys).publicKey),
  )
  t.throws(bad([d1, ...many]), MalformedError, 'nine active devices')
  t.throws(
    bad([d1, { ...other(2, phone.publicKey), name: '電話'.repeat(6) }]),
    MalformedError,
    'a name over 32 bytes',
  )
})

t.test('list changes: add, revoke, rename, recover; statuses; rollback by seq', async (t) => {
  const first = firstDeviceList(alice.publicKey, 1000, 'laptop')
  const added = changeDeviceList(
    first,
    { kind: 'add', publicKey: phone.publicKey, name: 'phone' },
    2000,
  )
  t.equal(added.seq, 2000)
  t.equal(added.devices[1]!.deviceId, 2)
  t.equal(added.devices[1]!.changedAt, 2000)
  t.equal(deviceStatus(added, 2, phone.publicKey), 'active')
  t.equal(deviceStatus(added, 2, eph.publicKey), 'mismatch')
  t.equal(deviceStatus(added, 3, eph.publicKey), 'unknown')
  const revoked = changeDeviceList(added, { kind: 'revoke', deviceId: 2 }, 1500)
  t.equal(revoked.seq, 2001, 'seq grows even when the clock is behind')
  t.equal(deviceStatus(revoked, 2, phone.publicKey), 'revoked')
  t.throws(() => changeDeviceList(revoked, { kind: 'revoke', deviceId: 1 }, 3000), MalformedError)
  const again = changeDeviceList(revoked, { kind: 'add', publicKey: eph.publicKey }, 3000)
  t.equal(again.devices[2]!.deviceId, 3, 'IDs are never reused')
  const renamed = changeDeviceList(again, { kind: 'rename', deviceId: 3, name: 'タブレット' }, 4000)
  t.equal(renamed.devices[2]!.name, 'タブレット')
  t.equal(renamed.devices[2]!.changedAt, 3000, 'a rename changes no key or state')
  const recovered = changeDeviceList(renamed, { kind: 'recover' }, 5000)
  t.equal(recovered.devices[0]!.changedAt, 5000)
  // Twelve entries at most: the oldest revoked ones go, their IDs stay used.
  let l: DeviceList = first
  for (let i = 0; i < 14; i++) {
    l = changeDeviceList(
      l,
      { kind: 'add', publicKey: Identity.generate(libsignalKeys).publicKey },
      10_000 + i * 2,
    )
    l = changeDeviceList(l, { kind: 'revoke', deviceId: l.lastDeviceId }, 10_001 + i * 2)
  }
  t.ok(l.devices.length <= 12)
  t.equal(l.lastDeviceId, 15)
  t.equal(deviceStatus(l, 2, phone.publicKey), 'revoked', 'a dropped ID counts as revoked')
})

t.test('sealed content v2, hello v2, signing input v2, beacon v2', async (t) => {
  const inner = encodeSealedContent({
    senderPublicKey: phone.publicKey,
    senderDeviceId: 2,
    senderAccountKey: alice.publicKey,
    type: 2,
    ciphertext: utf8('a Signal message'),
  })
  t.equal(toHex(inner), toHex(hexVector('devices.sealedInner')))
  const decoded = decodeSealedContent(inner)
  t.equal(toHex(decoded.senderAccountKey!), toHex(alice.publicKey))
  t.equal(decoded.senderDeviceId, 2)
  t.equal(
    decodeSealedContent(hexVector('sealed.inner')).senderAccountKey,
    undefined,
    'v1 unchanged',
  )
  const device1v2 = Uint8Array.from(inner)
  device1v2[34] = 1
  t.throws(() => decodeSealedContent(device1v2), MalformedError, 'v2 with device 1')

  const nA = Uint8Array.from({ length: 32 }, (_, i) => i + 1) as Bytes
  const nS = Uint8Array.from({ length: 32 }, (_, i) => i + 0x21) as Bytes
  const account = { publicKey: alice.publicKey, deviceId: 2 }
  const hello = encodeFrame(
    encodeLinkHello({ version: 2, publicKey: phone.publicKey, nonce: nA, account }),
  )
  t.equal(toHex(hello), toHex(hexVector('devices.helloPhone')))
  const frame = decodeLinkFrame(hello.subarray(4))
  t.same(frame.type === 1 && frame.hello.account?.deviceId, 2)
  t.throws(() => decodeLinkFrame(hello.subarray(4, -1)), MalformedError, 'truncated v2 hello')
  const input = linkSigningInput(1, {
    dialerNonce: nA,
    listenerNonce: nS,
    dialerPublicKey: phone.publicKey,
    listenerPublicKey: server.publicKey,
    accounts: { dialer: account, listener: { publicKey: server.publicKey, deviceId: 1 } },
  })
  t.equal(toHex(input), toHex(hexVector('devices.signingInput.dialer')))
  t.equal(input.byteLength, 215)

  const fields = { tcpPort: 7400, timestamp: 1764140000000, seq: 1764140000000, account }
  t.equal(
    toHex(encodeBeaconBody({ ...fields, publicKey: phone.publicKey })),
    toHex(hexVector('devices.beaconDatagram').subarray(0, 88)),
  )
  const beacon = decodeBeacon(hexVector('devices.beaconDatagram'))
  t.equal(beacon.account?.deviceId, 2)
  verifyBeacon(beacon, libsignalKeys)
  t.equal(encodeBeacon(signBeacon(phone, fields)).byteLength, 152)
  const wrong = Uint8Array.from(hexVector('devices.beaconDatagram'))
  wrong[2] = 1
  t.throws(() => decodeBeacon(wrong), MalformedError, 'a 152-byte beacon of version 1')
})

t.test('payload v2 and its kinds', async (t) => {
  const id = Uint8Array.from({ length: 16 }, (_, i) => i) as Bytes
  const text = encodeChatPayload({
    kind: 'text',
    id,
    sentAt: 1764000000000,
    text: 'hi Bob',
    lists: { sender: T, recipient: 1764100000000 },
  })
  t.equal(toHex(text), toHex(hexVector('devices.textPayload')))
  t.same(decodeChatPayload(text), {
    id,
    sentAt: 1764000000000,
    lists: { sender: T, recipient: 1764100000000 },
    kind: 'text',
    text: 'hi Bob',
  })
  const lists = { sender: T, recipient: T }
  const sent = encodeChatPayload({
    kind: 'sync-sent',
    id,
    sentAt: 1764000000000,
    to: server.id,
    text: 'hi Bob',
    lists,
  })
  t.equal(toHex(sent), toHex(hexVector('devices.syncSentPayload')))
  const roundTrips = [
    { kind: 'device-list' as const, id, sentAt: 1, lists, record: hexVector('devices.listRecord') },
    { kind: 'sync-read' as const, id, sentAt: 1, lists, peer: server.id, ids: [id] },
    {
      kind: 'sync-contacts' as const,
      id,
      sentAt: 1,
      lists,
      contacts: [
        { publicKey: server.publicKey, name: '服务器 🚀' },
        { publicKey: phone.publicKey, removed: true },
      ],
    },
    {
      kind: 'sync-in' as const,
      id,
      sentAt: 1,
      lists,
      from: server.id,
      device: 3,
      text: 'こんにちは 👋',
    },
  ]
  for (const p of roundTrips) t.same(decodeChatPayload(encodeChatPayload(p)), p, p.kind)
  const { lists: _, ...v1 } = roundTrips[1]!
  t.throws(() => encodeChatPayload(v1), MalformedError, 'kinds beyond receipts need version 2')
  const forged = Uint8Array.from(sent)
  forged[0] = 1
  t.throws(() => decodeChatPayload(forged), MalformedError, 'a sync kind in version 1')
})

t.test('link request, confirmation code, recovery code', async (t) => {
  const uri = encodeLinkUri({
    deviceKey: phone.publicKey,
    ephemeralKey: eph.publicKey,
    addresses: [
      { host: '192.168.1.20', port: 7400 },
      { host: 'fe80::1', port: 7400 },
    ],
    name: 'phone',
  })
  t.equal(uri, textVector('devices.linkUri'))
  const card = parseLinkUri(uri)
  t.same(card.addresses, [
    { host: '192.168.1.20', port: 7400 },
    { host: 'fe80::1', port: 7400 },
  ])
  t.equal(card.name, 'phone')
  t.equal(linkCode(card.deviceKey, card.ephemeralKey), textVector('devices.linkCode'))
  t.not(linkCode(card.deviceKey, alice.publicKey), textVector('devices.linkCode'))
  t.throws(() => parseLinkUri(uri.replace('key=BVB1', 'key=BVB2')), KeyMismatchError)
  t.throws(() => parseLinkUri('passage:' + uri.slice(13)), MalformedError)
  t.throws(() => parseLinkUri(uri.replace('%3A7400%2C', '%3A99999%2C')), MalformedError)

  const code = encodeRecoveryCode(hexVector('alice.privateKey'))
  t.equal(code, textVector('devices.recoveryCode'))
  t.equal(
    toHex(parseRecoveryCode(code.toUpperCase().replace(/ /g, '-'))),
    toHex(hexVector('alice.privateKey')),
  )
  const typo = code.slice(0, 10) + (code[10] === 'q' ? 'p' : 'q') + code.slice(11)
  t.throws(() => parseRecoveryCode(typo), BadChecksumError)
  t.throws(() => parseRecoveryCode('pr1 abc'), MalformedError)
})

t.test('provisioning: inner vector, the document’s message opens, others do not', async (t) => {
  const record = decodeSignedRecord(hexVector('devices.listRecord'))
  const provisioning = {
    kind: 'link' as const,
    deviceId: 2,
    deviceList: record,
    accountName: 'Alice',
  }
  t.equal(toHex(encodeProvisioning(provisioning)), toHex(hexVector('devices.provisioningInner')))
  const opened = openProvisioning(eph.secretKey, phone.publicKey, hexVector('devices.provisioning'))
  t.same(opened, provisioning)
  const request = { deviceKey: phone.publicKey, ephemeralKey: eph.publicKey }
  const sealed = sealProvisioning(libsignalKeys, request, provisioning)
  t.same(openProvisioning(eph.secretKey, phone.publicKey, sealed), provisioning)
  t.throws(
    () => openProvisioning(phone.secretKey, phone.publicKey, sealed),
    TamperedError,
    'another key',
  )
  t.throws(
    () => openProvisioning(eph.secretKey, alice.publicKey, sealed),
    TamperedError,
    'another device',
  )
  const history = {
    kind: 'history' as const,
    messages: [
      {
        peer: server.id,
        id: record.signature.slice(0, 16) as Bytes,
        direction: 'in' as const,
        device: 1,
        sentAt: 5,
        state: 'read' as const,
        read: true,
        text: '你好 🌏',
      },
    ],
  }
  t.same(decodeProvisioning(encodeProvisioning(history)), history)
})
