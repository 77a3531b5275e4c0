import type { Verifier } from '../crypto/key-provider.js'
import { KeyMismatchError, MalformedError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import { PUBLIC_KEY_BYTES } from '../identity/node-id.js'
import {
  RecordType,
  signRecord,
  verifyRecord,
  type SignedRecord,
} from '../records/signed-record.js'
import { checkDeviceId, MAX_DEVICE_ID, PRIMARY_DEVICE_ID } from '../signal/signal-address.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { equalBytes, fromUtf8, toHex, utf8, type Bytes } from '../wire/bytes.js'

/** Version byte of the device-list payload (docs/PROTOCOL.md, "Devices"). */
export const DEVICE_LIST_VERSION = 1
/** What the account's clients can do: bits of the list's `features` byte. */
export const DeviceFeature = {
  /** Per-device keys, hello v2, payload v2: the account understands this section. */
  multiDevice: 1,
  groups: 2,
  attachments: 4,
  /** Group mailboxes: the account's devices read a chain's texts from its group mailbox. */
  groupMailbox: 8,
} as const
/** The features this version of the SDK announces. */
export const SUPPORTED_FEATURES =
  DeviceFeature.multiDevice | DeviceFeature.groups | DeviceFeature.groupMailbox
/** Active devices of one account at most (device 1 included). */
export const MAX_ACTIVE_DEVICES = 8
/** Entries of one list at most, revoked ones included (the list fits a 1 KiB record). */
export const MAX_LISTED_DEVICES = 12
/** Longest device name, in UTF-8 bytes. */
export const MAX_DEVICE_NAME_BYTES = 32

export type DeviceState = 'active' | 'revoked'
const STATE_CODES: Record<DeviceState, number> = { active: 1, revoked: 2 }

/** One device of an account, as its list says. */
export interface DeviceEntry {
  /** 1 to 127; 1 is the device that holds the account key. Never reused. */
  deviceId: number
  state: DeviceState
  /** The device's key (33 bytes): its Signal identity, mailbox, link and beacon key. Device 1: the account key. */
  publicKey: Bytes
  /** The `seq` of the list that gave this entry its key and state. */
  changedAt: number
  /** What the owner calls it ("phone", "laptop"). */
  name?: string
}

/** A device list, verified: who the account's devices are. */
export interface DeviceList {
  /** The account key (33 bytes) that signed it. */
  account: Bytes
  /** Grows with every change; a client keeps the highest it verified (no rollback). 0: implicit. */
  seq: number
  timestamp: number
  features: number
  /** The highest device ID ever issued (never reused). */
  lastDeviceId: number
  /** By device ID, ascending. */
  devices: DeviceEntry[]
}

/** The list of an account that never published one: device 1 alone, holding the account key. */
export function implicitDeviceList(account: Bytes): DeviceList {
  return {
    account,
    seq: 0,
    timestamp: 0,
    features: 0,
    lastDeviceId: PRIMARY_DEVICE_ID,
    devices: [{ deviceId: PRIMARY_DEVICE_ID, state: 'active', publicKey: account, changedAt: 0 }],
  }
}

/**
 * The payload of a device-list record (type 3):
 *
 * ```
 * u8 version (1) | u8 features | u8 lastDeviceId | u8 count
 * count × { u8 deviceId | u8 state (1 active, 2 revoked) | key33 | u64 changedAt | bytes8 name }
 * ```
 */
export function encodeDeviceListPayload(
  list: Omit<DeviceList, 'account' | 'seq' | 'timestamp'>,
): Bytes {
  const w = new BinaryWriter()
    .u8(DEVICE_LIST_VERSION)
    .u8(list.features)
    .u8(list.lastDeviceId)
    .u8(list.devices.length)
  for (const d of list.devices) {
    w.u8(d.deviceId)
      .u8(STATE_CODES[d.state])
      .fixed(d.publicKey, PUBLIC_KEY_BYTES, 'device key')
      .u64(d.changedAt)
      .bytes8(utf8(d.name ?? ''), 'device name')
  }
  return w.finish()
}

/** Parses a device-list payload and checks its rules (see {@link checkDeviceList}). */
export function decodeDeviceListPayload(
  payload: Uint8Array,
): Omit<DeviceList, 'account' | 'seq' | 'timestamp'> {
  const r = new BinaryReader(payload)
  const version = r.u8('version')
  if (version !== DEVICE_LIST_VERSION) {
    throw new MalformedError(`unknown device list version ${version}`)
  }
  const features = r.u8('features')
  const lastDeviceId = r.u8('lastDeviceId')
  const count = r.u8('count')
  const devices: DeviceEntry[] = []
  for (let i = 0; i < count; i++) {
    const deviceId = r.u8('deviceId')
    const code = r.u8('state')
    const state = code === 1 ? 'active' : code === 2 ? 'revoked' : undefined
    if (!state) throw new MalformedError(`unknown device state ${code}`)
    const publicKey = r.fixed(PUBLIC_KEY_BYTES, 'device key')
    if (publicKey[0] !== 0x05) throw new MalformedError('a device key must start with 0x05')
    const changedAt = r.u64('changedAt')
    const nameBytes = r.bytes8('device name')
    if (nameBytes.byteLength > MAX_DEVICE_NAME_BYTES) {
      throw new MalformedError(`a device name is at most ${MAX_DEVICE_NAME_BYTES} UTF-8 bytes`)
    }
    const name = fromUtf8(nameBytes, 'device name')
    devices.push({ deviceId, state, publicKey, changedAt, ...(name ? { name } : {}) })
  }
  r.end('device list')
  return { features, lastDeviceId, devices }
}

/**
 * Throws {@link MalformedError} unless the list keeps the rules: device IDs 1 to 127,
 * ascending, unique, none above `lastDeviceId`; device 1 listed, active, with the account
 * key; at most {@link MAX_ACTIVE_DEVICES} active and {@link MAX_LISTED_DEVICES} listed; no
 * key listed twice; names within {@link MAX_DEVICE_NAME_BYTES}.
 */
export function checkDeviceList(list: DeviceList): void {
  if (list.lastDeviceId < PRIMARY_DEVICE_ID || list.lastDeviceId > MAX_DEVICE_ID) {
    throw new MalformedError(`lastDeviceId ${list.lastDeviceId} is out of range`)
  }
  if (list.devices.length < 1 || list.devices.length > MAX_LISTED_DEVICES) {
    throw new MalformedError(`a device list holds 1 to ${MAX_LISTED_DEVICES} devices`)
  }
  let previous = 0
  const keys = new Set<string>()
  for (const d of list.devices) {
    checkDeviceId(d.deviceId)
    if (d.deviceId <= previous) throw new MalformedError('device IDs must ascend, each once')
    if (d.deviceId > list.lastDeviceId) {
      throw new MalformedError(`device ${d.deviceId} is above lastDeviceId ${list.lastDeviceId}`)
    }
    if (utf8(d.name ?? '').byteLength > MAX_DEVICE_NAME_BYTES) {
      throw new MalformedError(`a device name is at most ${MAX_DEVICE_NAME_BYTES} UTF-8 bytes`)
    }
    const hex = toHex(d.publicKey)
    if (keys.has(hex)) throw new MalformedError('a device key is listed twice')
    keys.add(hex)
    previous = d.deviceId
  }
  const first = list.devices[0]!
  if (first.deviceId !== PRIMARY_DEVICE_ID || first.state !== 'active') {
    throw new MalformedError('device 1 must be listed and active')
  }
  if (!equalBytes(first.publicKey, list.account)) {
    throw new KeyMismatchError('device 1 must hold the account key')
  }
  if (list.devices.filter((d) => d.state === 'active').length > MAX_ACTIVE_DEVICES) {
    throw new MalformedError(`an account has at most ${MAX_ACTIVE_DEVICES} active devices`)
  }
}

/** Signs `list` with the account key (the list's account must be that key). */
export function signDeviceList(account: Identity, list: Omit<DeviceList, 'account'>): SignedRecord {
  const full = { ...list, account: account.publicKey }
  checkDeviceList(full)
  return signRecord(account, {
    type: RecordType.deviceList,
    seq: list.seq,
    timestamp: list.timestamp,
    payload: encodeDeviceListPayload(list),
  })
}

/**
 * Verifies a device-list record and returns the list: type 3, the signature of its key, the
 * list's rules, and (when given) that it is `account`'s. Throws `BadSignatureError`,
 * `KeyMismatchError` or `MalformedError`.
 */
export function verifyDeviceList(
  record: SignedRecord,
  verifier: Verifier,
  account?: Uint8Array,
): DeviceList {
  if (record.type !== RecordType.deviceList) {
    throw new MalformedError(`record type ${record.type} is not a device list`)
  }
  if (account && !equalBytes(record.publicKey, account)) {
    throw new KeyMismatchError('the device list is not signed by the account key')
  }
  verifyRecord(record, verifier)
  const list: DeviceList = {
    account: record.publicKey,
    seq: record.seq,
    timestamp: record.timestamp,
    ...decodeDeviceListPayload(record.payload),
  }
  checkDeviceList(list)
  return list
}

/** The entry of `deviceId`, if listed. */
export function deviceEntry(list: DeviceList, deviceId: number): DeviceEntry | undefined {
  return list.devices.find((d) => d.deviceId === deviceId)
}

/**
 * What `list` says of a device claiming (`deviceId`, `publicKey`): `active`; `revoked` (also
 * an ID the list no longer holds but issued once); `mismatch` (the ID is listed with another
 * key: an impersonation); `unknown` (an ID above `lastDeviceId`: a newer list may hold it).
 */
export function deviceStatus(
  list: DeviceList,
  deviceId: number,
  publicKey: Uint8Array,
): 'active' | 'revoked' | 'mismatch' | 'unknown' {
  const entry = deviceEntry(list, deviceId)
  if (!entry) return deviceId <= list.lastDeviceId ? 'revoked' : 'unknown'
  if (!equalBytes(entry.publicKey, publicKey)) return 'mismatch'
  return entry.state
}

/** The first list an account publishes: device 1 alone, with this version's features. */
export function firstDeviceList(
  account: Bytes,
  now: number,
  name?: string,
  features: number = SUPPORTED_FEATURES,
): DeviceList {
  const list = implicitDeviceList(account)
  return {
    ...list,
    seq: now,
    timestamp: now,
    features,
    devices: list.devices.map((d) => ({ ...d, ...(name ? { name } : {}) })),
  }
}

/** The active devices of a list. */
export function activeDevices(list: DeviceList): DeviceEntry[] {
  return list.devices.filter((d) => d.state === 'active')
}

/** The next seq after `list`'s: its seq + 1, or `now` when later (seqs stay ahead across a recovery). */
export function nextSeq(list: DeviceList, now: number): number {
  return Math.max(list.seq + 1, now)
}

/** A change the account makes to its list. */
export type DeviceListChange =
  | { kind: 'add'; publicKey: Bytes; name?: string }
  | { kind: 'revoke'; deviceId: number }
  | { kind: 'rename'; deviceId: number; name: string }
  /** Device 1 was restored from the recovery code: sessions made with the lost one are void. */
  | { kind: 'recover' }

/**
 * The list after `change`, unsigned, with `seq` {@link nextSeq} and `timestamp` `now`. Changed
 * entries take the new seq as `changedAt`; when a list would hold more than
 * {@link MAX_LISTED_DEVICES} entries, the oldest revoked ones are dropped (their IDs stay
 * used: `lastDeviceId` keeps them from coming back). Throws `MalformedError` for a change the
 * rules forbid (a ninth active device, revoking device 1, an unknown device).
 */
export function changeDeviceList(
  list: DeviceList,
  change: DeviceListChange,
  now: number,
): Omit<DeviceList, 'account'> & { account: Bytes } {
  const seq = nextSeq(list, now)
  let devices = list.devices.map((d) => ({ ...d }))
  let lastDeviceId = list.lastDeviceId
  const find = (id: number) => {
    const entry = devices.find((d) => d.deviceId === id)
    if (!entry) throw new MalformedError(`there is no device ${id}`)
    return entry
  }
  switch (change.kind) {
    case 'add': {
      if (activeDevices(list).length >= MAX_ACTIVE_DEVICES) {
        throw new MalformedError(
          `an account has at most ${MAX_ACTIVE_DEVICES} active devices; revoke one first`,
        )
      }
      if (list.devices.some((d) => equalBytes(d.publicKey, change.publicKey))) {
        throw new MalformedError('that device key is already listed')
      }
      if (lastDeviceId >= MAX_DEVICE_ID) throw new MalformedError('no device ID is left')
      lastDeviceId += 1
      devices.push({
        deviceId: lastDeviceId,
        state: 'active',
        publicKey: change.publicKey,
        changedAt: seq,
        ...(change.name ? { name: change.name } : {}),
      })
      break
    }
    case 'revoke': {
      if (change.deviceId === PRIMARY_DEVICE_ID) {
        throw new MalformedError('device 1 holds the account key and cannot be revoked')
      }
      const entry = find(change.deviceId)
      if (entry.state === 'revoked')
        throw new MalformedError(`device ${change.deviceId} is already revoked`)
      entry.state = 'revoked'
      entry.changedAt = seq
      break
    }
    case 'rename': {
      const entry = find(change.deviceId)
      if (change.name) entry.name = change.name
      else delete entry.name
      break
    }
    case 'recover':
      find(PRIMARY_DEVICE_ID).changedAt = seq
      break
  }
  while (devices.length > MAX_LISTED_DEVICES) {
    const oldest = devices
      .filter((d) => d.state === 'revoked')
      .sort((a, b) => a.changedAt - b.changedAt)[0]
    if (!oldest) break
    devices = devices.filter((d) => d !== oldest)
  }
  const next = {
    account: list.account,
    seq,
    timestamp: now,
    features: list.features | SUPPORTED_FEATURES,
    lastDeviceId,
    devices,
  }
  checkDeviceList(next)
  return next
}
