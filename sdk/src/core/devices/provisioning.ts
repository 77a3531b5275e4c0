import type { KeyProvider, SecretKey } from '../crypto/key-provider.js'
import { MalformedError, TamperedError } from '../errors.js'
import { NODE_ID_BYTES, PUBLIC_KEY_BYTES } from '../identity/node-id.js'
import {
  decodeSignedRecord,
  encodeSignedRecord,
  type SignedRecord,
} from '../records/signed-record.js'
import { checkDeviceId } from '../signal/signal-address.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { concatBytes, fromUtf8, toBytes, utf8, type Bytes } from '../wire/bytes.js'

/** First byte of a provisioning message (a sealed message starts with 1). */
export const PROVISIONING_VERSION = 2
/** HPKE `info` of provisioning messages. */
export const PROVISIONING_INFO = utf8('passage/provisioning/v1')
/** Longest account name a provisioning message carries, in UTF-8 bytes. */
export const MAX_ACCOUNT_NAME_BYTES = 255
/** Messages in one history chunk at most. */
export const MAX_HISTORY_CHUNK_MESSAGES = 500

/** One message of a history transfer. */
export interface HistoryItem {
  /** The other side's account ID (20 bytes). */
  peer: Bytes
  id: Bytes
  direction: 'in' | 'out'
  /** The device that wrote it (of the peer for `in`, of this account for `out`). */
  device: number
  sentAt: number
  state: 'pending' | 'sent' | 'stored' | 'delivered' | 'read'
  read: boolean
  text: string
}

/** What a device that holds the account key tells a new device. */
export type Provisioning =
  /**
   * You are `deviceId` of the account that signed `deviceList`. With `historyFollows`, history
   * chunks follow on the same link, ended by an empty one.
   */
  | {
      kind: 'link'
      deviceId: number
      deviceList: SignedRecord
      accountName?: string
      historyFollows?: boolean
    }
  /** Part of the message history (opt-in, over a direct link only); empty: the last part. */
  | { kind: 'history'; messages: HistoryItem[] }

const STATES = ['pending', 'sent', 'stored', 'delivered', 'read'] as const

/**
 * The inner bytes:
 *
 * ```
 * u8 kind
 * 1 link:    u8 deviceId | u8 flags (1: history follows) | bytes16 deviceListRecord | bytes8 accountName
 * 2 history: u16 count | count × { peer20 | id16 | u8 direction (1 in, 2 out) | u8 device
 *            | u64 sentAt | u8 state (0 pending … 4 read) | u8 read | bytes16 text }
 * ```
 */
export function encodeProvisioning(p: Provisioning): Bytes {
  const w = new BinaryWriter()
  if (p.kind === 'link') {
    checkDeviceId(p.deviceId)
    const name = utf8(p.accountName ?? '')
    if (name.byteLength > MAX_ACCOUNT_NAME_BYTES)
      throw new MalformedError('the account name is too long')
    return w
      .u8(1)
      .u8(p.deviceId)
      .u8(p.historyFollows ? 1 : 0)
      .bytes16(encodeSignedRecord(p.deviceList), 'device list')
      .bytes8(name)
      .finish()
  }
  if (p.messages.length > MAX_HISTORY_CHUNK_MESSAGES) {
    throw new MalformedError(`a history chunk holds at most ${MAX_HISTORY_CHUNK_MESSAGES} messages`)
  }
  w.u8(2).u16(p.messages.length)
  for (const m of p.messages) {
    w.fixed(m.peer, NODE_ID_BYTES, 'peer')
      .fixed(m.id, 16, 'id')
      .u8(m.direction === 'in' ? 1 : 2)
      .u8(m.device)
      .u64(m.sentAt)
      .u8(STATES.indexOf(m.state))
      .u8(m.read ? 1 : 0)
      .bytes16(utf8(m.text), 'text')
  }
  return w.finish()
}

export function decodeProvisioning(bytes: Uint8Array): Provisioning {
  const r = new BinaryReader(bytes)
  const kind = r.u8('kind')
  if (kind === 1) {
    const deviceId = r.u8('deviceId')
    checkDeviceId(deviceId)
    const flags = r.u8('flags')
    if (flags > 1) throw new MalformedError(`unknown provisioning flags ${flags}`)
    const deviceList = decodeSignedRecord(r.bytes16('device list'))
    const name = fromUtf8(r.bytes8('account name'), 'account name')
    r.end('provisioning')
    return {
      kind: 'link',
      deviceId,
      deviceList,
      ...(name ? { accountName: name } : {}),
      ...(flags === 1 ? { historyFollows: true } : {}),
    }
  }
  if (kind !== 2) throw new MalformedError(`unknown provisioning kind ${kind}`)
  const count = r.u16('count')
  if (count > MAX_HISTORY_CHUNK_MESSAGES)
    throw new MalformedError('too many messages in a history chunk')
  const messages: HistoryItem[] = []
  for (let i = 0; i < count; i++) {
    const peer = r.fixed(NODE_ID_BYTES, 'peer')
    const id = r.fixed(16, 'id')
    const dir = r.u8('direction')
    if (dir !== 1 && dir !== 2) throw new MalformedError(`unknown direction ${dir}`)
    const device = r.u8('device')
    const sentAt = r.u64('sentAt')
    const state = STATES[r.u8('state')]
    if (!state) throw new MalformedError('unknown message state')
    const read = r.u8('read') === 1
    const text = fromUtf8(r.bytes16('text'), 'text')
    messages.push({
      peer,
      id,
      direction: dir === 1 ? 'in' : 'out',
      device,
      sentAt,
      state,
      read,
      text,
    })
  }
  r.end('history chunk')
  return { kind: 'history', messages }
}

function associatedData(ephemeralKey: Uint8Array, deviceKey: Uint8Array): Bytes {
  return concatBytes(Uint8Array.of(PROVISIONING_VERSION), ephemeralKey, deviceKey)
}

/**
 * `0x02 || HPKE-Seal(ephemeralKey, "passage/provisioning/v1", 0x02 || ephemeralKey ||
 * deviceKey, inner)`: only the new device that made the one-time key opens it.
 */
export function sealProvisioning(
  keys: Pick<KeyProvider, 'seal'>,
  request: { deviceKey: Uint8Array; ephemeralKey: Uint8Array },
  provisioning: Provisioning,
): Bytes {
  if (request.ephemeralKey.byteLength !== PUBLIC_KEY_BYTES)
    throw new MalformedError('not a one-time key')
  const sealed = keys.seal(
    request.ephemeralKey,
    encodeProvisioning(provisioning),
    PROVISIONING_INFO,
    associatedData(request.ephemeralKey, request.deviceKey),
  )
  return concatBytes(Uint8Array.of(PROVISIONING_VERSION), sealed)
}

/** True when `bytes` has a provisioning message's first byte. */
export function isProvisioning(bytes: Uint8Array): boolean {
  return bytes[0] === PROVISIONING_VERSION
}

/** Opens a provisioning message with the one-time key; throws `TamperedError` or `MalformedError`. */
export function openProvisioning(
  ephemeral: SecretKey,
  deviceKey: Uint8Array,
  bytes: Uint8Array,
): Provisioning {
  if (!isProvisioning(bytes)) throw new MalformedError('not a provisioning message')
  let inner: Bytes
  try {
    inner = ephemeral.open(
      toBytes(bytes.subarray(1)),
      PROVISIONING_INFO,
      associatedData(ephemeral.publicKey, deviceKey),
    )
  } catch (cause) {
    throw new TamperedError('the provisioning message does not open with this request’s key', {
      cause,
    })
  }
  return decodeProvisioning(inner)
}
