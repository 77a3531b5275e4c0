import { sha256 } from '@noble/hashes/sha2.js'
import { BadSignatureError, KeyMismatchError, MalformedError } from '../errors.js'
import type { Verifier } from '../crypto/key-provider.js'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../identity/node-id.js'
import {
  decodeSignedRecord,
  encodeSignedRecord,
  RecordType,
  verifyRecord,
  type SignedRecord,
} from '../records/signed-record.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { equalBytes, type Bytes } from '../wire/bytes.js'
import { checkDeviceId, signalAddressOfKey } from './signal-address.js'

/** Serialized Kyber1024 public key: type byte 0x08 then 1568 bytes (libsignal's only KEM). */
export const KYBER_PUBLIC_KEY_BYTES = 1569
/**
 * Record types of the two halves of the Kyber public key that a pre-key bundle commits to
 * (the 1569-byte key exceeds the 1024-byte record payload). Each half is a signed record of
 * the same identity; the bundle's `kyberPreKeyHash` proves the joined key.
 */
export const KyberKeyPartRecordType = { first: 16, second: 17 } as const
/** Bytes of the first half; the second holds the rest (1569 − 785 = 784). */
export const KYBER_FIRST_PART_BYTES = 785
/** SHA-256 of the Kyber public key: what the signed record carries in its place. */
export const KYBER_HASH_BYTES = 32
/** One-time pre-keys in one bundle record: 16 × 37 B keeps the payload at 799 of 1024 bytes. */
export const MAX_BUNDLE_ONE_TIME_PRE_KEYS = 16
/** Fixed part of the bundle payload, before the one-time pre-keys. */
export const PRE_KEY_BUNDLE_FIXED_BYTES = 207
/** How many one-time pre-keys {@link generatePreKeys} makes by default (Signal uses 100). */
export const DEFAULT_ONE_TIME_PRE_KEYS = 100

/** A one-time pre-key as published: ID and 33-byte public key. */
export interface PublicOneTimePreKey {
  id: number
  publicKey: Bytes
}

/** The decoded payload of a pre-key bundle record (record type 2). */
export interface PreKeyBundlePayload {
  deviceId: number
  registrationId: number
  signedPreKeyId: number
  /** 33 bytes. */
  signedPreKey: Bytes
  /** The identity key's XEdDSA signature over `signedPreKey` (libsignal's check). */
  signedPreKeySignature: Bytes
  kyberPreKeyId: number
  /** SHA-256 of the 1569-byte Kyber public key, which travels next to the record. */
  kyberPreKeyHash: Bytes
  /** The identity key's XEdDSA signature over the 1569-byte Kyber public key. */
  kyberPreKeySignature: Bytes
  oneTimePreKeys: PublicOneTimePreKey[]
}

/**
 * What a sender needs to start a session with someone offline: the signed record (which fits
 * a DHT record, at most 1141 bytes) and the Kyber public key it commits to (1569 bytes, too
 * large for one record).
 */
export interface PreKeyBundle {
  record: SignedRecord
  kyberPublicKey: Bytes
}

/** The canonical payload bytes (docs/PROTOCOL.md, "Pre-key bundles"). */
export function encodePreKeyBundlePayload(payload: PreKeyBundlePayload): Bytes {
  checkDeviceId(payload.deviceId)
  if (payload.oneTimePreKeys.length > MAX_BUNDLE_ONE_TIME_PRE_KEYS) {
    throw new MalformedError(
      `a bundle carries at most ${MAX_BUNDLE_ONE_TIME_PRE_KEYS} one-time pre-keys`,
    )
  }
  const w = new BinaryWriter()
    .u8(payload.deviceId)
    .u32(payload.registrationId)
    .u32(payload.signedPreKeyId)
    .fixed(payload.signedPreKey, PUBLIC_KEY_BYTES, 'signedPreKey')
    .fixed(payload.signedPreKeySignature, SIGNATURE_BYTES, 'signedPreKeySignature')
    .u32(payload.kyberPreKeyId)
    .fixed(payload.kyberPreKeyHash, KYBER_HASH_BYTES, 'kyberPreKeyHash')
    .fixed(payload.kyberPreKeySignature, SIGNATURE_BYTES, 'kyberPreKeySignature')
    .u8(payload.oneTimePreKeys.length)
  for (const key of payload.oneTimePreKeys) {
    w.u32(key.id).fixed(key.publicKey, PUBLIC_KEY_BYTES, 'oneTimePreKey')
  }
  return w.finish()
}

/** Parses a bundle payload; checks the layout, not the signatures. */
export function decodePreKeyBundlePayload(bytes: Uint8Array): PreKeyBundlePayload {
  const r = new BinaryReader(bytes)
  const deviceId = r.u8('deviceId')
  checkDeviceId(deviceId)
  const payload: PreKeyBundlePayload = {
    deviceId,
    registrationId: r.u32('registrationId'),
    signedPreKeyId: r.u32('signedPreKeyId'),
    signedPreKey: readKey(r, 'signedPreKey'),
    signedPreKeySignature: r.fixed(SIGNATURE_BYTES, 'signedPreKeySignature'),
    kyberPreKeyId: r.u32('kyberPreKeyId'),
    kyberPreKeyHash: r.fixed(KYBER_HASH_BYTES, 'kyberPreKeyHash'),
    kyberPreKeySignature: r.fixed(SIGNATURE_BYTES, 'kyberPreKeySignature'),
    oneTimePreKeys: [],
  }
  const count = r.u8('count')
  if (count > MAX_BUNDLE_ONE_TIME_PRE_KEYS) throw new MalformedError('too many one-time pre-keys')
  for (let i = 0; i < count; i++) {
    payload.oneTimePreKeys.push({
      id: r.u32('oneTimePreKeyId'),
      publicKey: readKey(r, 'oneTimePreKey'),
    })
  }
  r.end('pre-key bundle payload')
  return payload
}

function readKey(r: BinaryReader, what: string): Bytes {
  const key = r.fixed(PUBLIC_KEY_BYTES, what)
  if (key[0] !== 0x05) throw new MalformedError(`${what} must start with 0x05`)
  return key
}

/** The bundle on the wire (HTTP, direct links): `bytes16 record || bytes16 kyberPublicKey`. */
export function encodePreKeyBundle(bundle: PreKeyBundle): Bytes {
  return new BinaryWriter()
    .bytes16(encodeSignedRecord(bundle.record), 'record')
    .bytes16(bundle.kyberPublicKey, 'kyberPublicKey')
    .finish()
}

/** Parses {@link encodePreKeyBundle}'s bytes; call {@link verifyPreKeyBundle} before use. */
export function decodePreKeyBundle(bytes: Uint8Array): PreKeyBundle {
  const r = new BinaryReader(bytes)
  const record = decodeSignedRecord(r.bytes16('record'))
  const kyberPublicKey = r.bytes16('kyberPublicKey')
  r.end('pre-key bundle')
  return { record, kyberPublicKey }
}

/**
 * Checks everything a sender relies on and returns the payload: the record is a pre-key
 * bundle, its signature verifies with its key; when `expected` is given, the device matches
 * and the key is the expected one (`publicKey`, as a device list names it) or, with only a
 * `name`, hashes to that account ID (device 1 of an account with no list); the signed pre-key
 * and the Kyber pre-key carry valid signatures by the same identity key; the Kyber key is the
 * one the record commits to.
 */
export function verifyPreKeyBundle(
  bundle: PreKeyBundle,
  verifier: Verifier,
  expected?: { deviceId: number; name?: string; publicKey?: Uint8Array },
): PreKeyBundlePayload {
  const { record } = bundle
  if (record.type !== RecordType.preKeyBundle) {
    throw new MalformedError(`record type ${record.type} is not a pre-key bundle`)
  }
  verifyRecord(record, verifier)
  const payload = decodePreKeyBundlePayload(record.payload)
  if (expected) {
    if (expected.publicKey) {
      if (!equalBytes(record.publicKey, expected.publicKey)) {
        throw new KeyMismatchError('the bundle is signed by another key than the device’s')
      }
    } else if (
      expected.name !== undefined &&
      signalAddressOfKey(record.publicKey).name !== expected.name
    ) {
      throw new KeyMismatchError('the bundle is signed by another identity than the address')
    }
    if (payload.deviceId !== expected.deviceId) {
      throw new MalformedError(
        `the bundle is for device ${payload.deviceId}, not ${expected.deviceId}`,
      )
    }
  }
  if (!verifier.verify(record.publicKey, payload.signedPreKey, payload.signedPreKeySignature)) {
    throw new BadSignatureError('the signed pre-key signature does not verify')
  }
  if (bundle.kyberPublicKey.byteLength !== KYBER_PUBLIC_KEY_BYTES) {
    throw new MalformedError(`a Kyber public key is ${KYBER_PUBLIC_KEY_BYTES} bytes`)
  }
  if (!equalBytes(sha256(bundle.kyberPublicKey), payload.kyberPreKeyHash)) {
    throw new BadSignatureError('the Kyber public key is not the one the record commits to')
  }
  if (!verifier.verify(record.publicKey, bundle.kyberPublicKey, payload.kyberPreKeySignature)) {
    throw new BadSignatureError('the Kyber pre-key signature does not verify')
  }
  return payload
}
