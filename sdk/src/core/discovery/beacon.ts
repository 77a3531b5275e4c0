import { BadSignatureError, MalformedError } from '../errors.js'
import type { Verifier } from '../crypto/key-provider.js'
import type { Identity } from '../identity/identity.js'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../identity/node-id.js'
import { checkDeviceId } from '../signal/signal-address.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { concatBytes, utf8, type Bytes } from '../wire/bytes.js'

/** First two bytes of every beacon: ASCII `PB` (Passage Beacon). */
export const BEACON_MAGIC = 0x5042
/** Version byte of the beacon layout (docs/PROTOCOL.md, "LAN discovery (UDP multicast)"). */
export const BEACON_VERSION = 1
/** Beacon signatures cover this prefix then the body, so they are useless elsewhere. */
export const BEACON_SIGNING_DOMAIN = utf8('passage/beacon/v1\0')
/** Bytes of the signed body: magic, version, publicKey, tcpPort, timestamp, seq. */
export const BEACON_BODY_BYTES = 2 + 1 + PUBLIC_KEY_BYTES + 2 + 8 + 8
/** Bytes of a whole beacon datagram. */
export const BEACON_BYTES = BEACON_BODY_BYTES + SIGNATURE_BYTES
/** Version byte of the beacon of a device that does not hold its account key (docs/PROTOCOL.md, "Devices"). */
export const BEACON_VERSION_DEVICES = 2
/** Bytes of a version 2 body: version 1's, then accountKey and deviceId. */
export const BEACON_BODY_BYTES_DEVICES = BEACON_BODY_BYTES + PUBLIC_KEY_BYTES + 1
/** Bytes of a whole version 2 beacon datagram. */
export const BEACON_BYTES_DEVICES = BEACON_BODY_BYTES_DEVICES + SIGNATURE_BYTES

/** What a node says about itself on the LAN. */
export interface UnsignedBeacon {
  /** The sender's identity public key (33 bytes). */
  publicKey: Bytes
  /** The TCP port of its link listener (1 to 65535); the host is the datagram's source. */
  tcpPort: number
  /** Milliseconds since the Unix epoch when signed. */
  timestamp: number
  /** Grows with every beacon of this key, across restarts (replay protection). */
  seq: number
  /**
   * The account the device belongs to, when it is not its own key (a device other than 1):
   * the beacon then has version 2.
   */
  account?: { publicKey: Bytes; deviceId: number }
}

export interface Beacon extends UnsignedBeacon {
  signature: Bytes
}

/** The signed bytes of a beacon (everything but the signature). */
export function encodeBeaconBody(beacon: UnsignedBeacon): Bytes {
  if (!Number.isInteger(beacon.tcpPort) || beacon.tcpPort < 1 || beacon.tcpPort > 65_535) {
    throw new MalformedError(`a beacon's TCP port is 1 to 65535, not ${beacon.tcpPort}`)
  }
  const { account } = beacon
  const w = new BinaryWriter()
    .u16(BEACON_MAGIC)
    .u8(account ? BEACON_VERSION_DEVICES : BEACON_VERSION)
    .fixed(beacon.publicKey, PUBLIC_KEY_BYTES, 'publicKey')
    .u16(beacon.tcpPort)
    .u64(beacon.timestamp)
    .u64(beacon.seq)
  if (account) {
    checkDeviceId(account.deviceId)
    w.fixed(account.publicKey, PUBLIC_KEY_BYTES, 'accountKey').u8(account.deviceId)
  }
  return w.finish()
}

/** What the sender signs: `"passage/beacon/v1\0" || body`. */
export function beaconSigningInput(beacon: UnsignedBeacon): Bytes {
  return concatBytes(BEACON_SIGNING_DOMAIN, encodeBeaconBody(beacon))
}

/** Signs a beacon with `identity`. */
export function signBeacon(identity: Identity, fields: Omit<UnsignedBeacon, 'publicKey'>): Beacon {
  const unsigned = { ...fields, publicKey: identity.publicKey }
  return { ...unsigned, signature: identity.sign(beaconSigningInput(unsigned)) }
}

/** The datagram: body then the 64-byte signature ({@link BEACON_BYTES} in all). */
export function encodeBeacon(beacon: Beacon): Bytes {
  return new BinaryWriter()
    .raw(encodeBeaconBody(beacon))
    .fixed(beacon.signature, SIGNATURE_BYTES, 'signature')
    .finish()
}

/** Parses a datagram; throws {@link MalformedError}. Does not verify (see {@link verifyBeacon}). */
export function decodeBeacon(bytes: Uint8Array): Beacon {
  if (bytes.byteLength !== BEACON_BYTES && bytes.byteLength !== BEACON_BYTES_DEVICES) {
    throw new MalformedError(
      `a beacon is ${BEACON_BYTES} or ${BEACON_BYTES_DEVICES} bytes, not ${bytes.byteLength}`,
    )
  }
  const reader = new BinaryReader(bytes)
  if (reader.u16('magic') !== BEACON_MAGIC) throw new MalformedError('not a Passage beacon')
  const version = reader.u8('version')
  const expected = bytes.byteLength === BEACON_BYTES ? BEACON_VERSION : BEACON_VERSION_DEVICES
  if (version !== expected)
    throw new MalformedError(`unknown beacon version ${version} for ${bytes.byteLength} bytes`)
  const publicKey = reader.fixed(PUBLIC_KEY_BYTES, 'publicKey')
  if (publicKey[0] !== 0x05) throw new MalformedError('publicKey must start with 0x05')
  const tcpPort = reader.u16('tcpPort')
  if (tcpPort === 0) throw new MalformedError('a beacon names TCP port 0')
  const timestamp = reader.u64('timestamp')
  const seq = reader.u64('seq')
  let account: Beacon['account']
  if (version === BEACON_VERSION_DEVICES) {
    const accountKey = reader.fixed(PUBLIC_KEY_BYTES, 'accountKey')
    if (accountKey[0] !== 0x05) throw new MalformedError('accountKey must start with 0x05')
    const deviceId = reader.u8('deviceId')
    checkDeviceId(deviceId)
    account = { publicKey: accountKey, deviceId }
  }
  const signature = reader.fixed(SIGNATURE_BYTES, 'signature')
  reader.end('beacon')
  return { publicKey, tcpPort, timestamp, seq, ...(account ? { account } : {}), signature }
}

/** Throws {@link BadSignatureError} unless the beacon's signature verifies with its key. */
export function verifyBeacon(beacon: Beacon, verifier: Verifier): void {
  if (!verifier.verify(beacon.publicKey, beaconSigningInput(beacon), beacon.signature)) {
    throw new BadSignatureError('the beacon signature does not verify')
  }
}
