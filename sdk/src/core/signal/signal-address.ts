import { MalformedError } from '../errors.js'
import { nodeIdFromPublicKey } from '../identity/node-id.js'
import { encodeTextId, parseTextId } from '../identity/text-id.js'

/** Lowest Signal device ID. */
export const MIN_DEVICE_ID = 1
/** Highest Signal device ID (libsignal's limit). */
export const MAX_DEVICE_ID = 127
/** The device every account has; the only one until multi-device (device lists) lands. */
export const PRIMARY_DEVICE_ID = 1

/** Where Signal messages go: an account (its text ID) and one of its devices. */
export interface SignalAddress {
  /** The account's text ID, canonical (lower case, no separators). */
  readonly name: string
  /** 1 to 127; 1 is the primary device. */
  readonly deviceId: number
}

/**
 * The address of `textId`'s device `deviceId` (default: the primary device). Accepts any form
 * {@link parseTextId} accepts and keeps the canonical one.
 */
export function signalAddress(textId: string, deviceId: number = PRIMARY_DEVICE_ID): SignalAddress {
  checkDeviceId(deviceId)
  return { name: encodeTextId(parseTextId(textId)), deviceId }
}

/** The address of the holder of `publicKey` (33 bytes), device `deviceId`. */
export function signalAddressOfKey(
  publicKey: Uint8Array,
  deviceId: number = PRIMARY_DEVICE_ID,
): SignalAddress {
  checkDeviceId(deviceId)
  return { name: encodeTextId(nodeIdFromPublicKey(publicKey)), deviceId }
}

/** `textId.device`: the key of an address in storage and in libsignal. */
export function addressKey(address: SignalAddress): string {
  return `${address.name}.${address.deviceId}`
}

/** Parses {@link addressKey}'s form back. */
export function parseAddressKey(key: string): SignalAddress {
  const dot = key.lastIndexOf('.')
  const deviceId = Number(key.slice(dot + 1))
  if (dot < 0 || !/^\d{1,3}$/.test(key.slice(dot + 1))) {
    throw new MalformedError(`not an address: ${key}`)
  }
  return signalAddress(key.slice(0, dot), deviceId)
}

/** True when the two addresses are the same device of the same account. */
export function sameAddress(a: SignalAddress, b: SignalAddress): boolean {
  return a.name === b.name && a.deviceId === b.deviceId
}

/** Throws {@link MalformedError} unless `deviceId` is an integer from 1 to 127. */
export function checkDeviceId(deviceId: number): void {
  if (!Number.isInteger(deviceId) || deviceId < MIN_DEVICE_ID || deviceId > MAX_DEVICE_ID) {
    throw new MalformedError(`a device ID is ${MIN_DEVICE_ID} to ${MAX_DEVICE_ID}, got ${deviceId}`)
  }
}
