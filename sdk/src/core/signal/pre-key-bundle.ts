import { sha256 } from '@noble/hashes/sha2.js'
import {
  KEMKeyPair,
  KEMPublicKey,
  KyberPreKeyRecord,
  PreKeyBundle as LibsignalPreKeyBundle,
  PreKeyRecord,
  PrivateKey,
  PublicKey,
  SignedPreKeyRecord,
} from '@signalapp/libsignal-client'
import type { Clock } from '../runtime/clock.js'
import { BadSignatureError, KeyMismatchError, MalformedError } from '../errors.js'
import { isValidSignature, type Identity } from '../identity/identity.js'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../identity/node-id.js'
import {
  decodeSignedRecord,
  encodeSignedRecord,
  RecordType,
  signRecord,
  verifyRecord,
  type SignedRecord,
} from '../records/signed-record.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { equalBytes, toBytes, type Bytes } from '../wire/bytes.js'
import { checkDeviceId, signalAddressOfKey, type SignalAddress } from './signal-address.js'
import { SignalNamespace as NS, type SignalStorage } from './signal-storage.js'

/** Serialized Kyber1024 public key: type byte 0x08 then 1568 bytes (libsignal's only KEM). */
export const KYBER_PUBLIC_KEY_BYTES = 1569
/** SHA-256 of the Kyber public key: what the signed record carries in its place. */
export const KYBER_HASH_BYTES = 32
/** One-time pre-keys in one bundle record: 16 × 37 B keeps the payload at 799 of 1024 bytes. */
export const MAX_BUNDLE_ONE_TIME_PRE_KEYS = 16
/** Fixed part of the bundle payload, before the one-time pre-keys. */
export const PRE_KEY_BUNDLE_FIXED_BYTES = 207
/** How many one-time pre-keys {@link generatePreKeys} makes by default (Signal uses 100). */
export const DEFAULT_ONE_TIME_PRE_KEYS = 100
/** Pre-key IDs are 24-bit, like Signal's Medium.MAX_VALUE, and wrap around. */
const MAX_PRE_KEY_ID = 0xff_ffff
/** Registration IDs: 14 bits, never 0 (libsignal's range). */
const MAX_REGISTRATION_ID = 16380

const LOCAL_REGISTRATION_ID = 'registration-id'
const LOCAL_NEXT_PRE_KEY_ID = 'next-pre-key-id'
const LOCAL_SIGNED_PRE_KEY_ID = 'signed-pre-key-id'
const LOCAL_KYBER_PRE_KEY_ID = 'kyber-pre-key-id'

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
 * bundle, its signature verifies with its key; when `expected` is given, the key is that
 * address's (the account ID is the hash of the key, the device matches); the signed pre-key
 * and the Kyber pre-key carry valid signatures by the same identity key; the Kyber key is
 * the one the record commits to.
 */
export function verifyPreKeyBundle(
  bundle: PreKeyBundle,
  expected?: SignalAddress,
): PreKeyBundlePayload {
  const { record } = bundle
  if (record.type !== RecordType.preKeyBundle) {
    throw new MalformedError(`record type ${record.type} is not a pre-key bundle`)
  }
  verifyRecord(record)
  const payload = decodePreKeyBundlePayload(record.payload)
  if (expected) {
    if (signalAddressOfKey(record.publicKey).name !== expected.name) {
      throw new KeyMismatchError('the bundle is signed by another identity than the address')
    }
    if (payload.deviceId !== expected.deviceId) {
      throw new MalformedError(
        `the bundle is for device ${payload.deviceId}, not ${expected.deviceId}`,
      )
    }
  }
  if (!isValidSignature(record.publicKey, payload.signedPreKey, payload.signedPreKeySignature)) {
    throw new BadSignatureError('the signed pre-key signature does not verify')
  }
  if (bundle.kyberPublicKey.byteLength !== KYBER_PUBLIC_KEY_BYTES) {
    throw new MalformedError(`a Kyber public key is ${KYBER_PUBLIC_KEY_BYTES} bytes`)
  }
  if (!equalBytes(sha256(bundle.kyberPublicKey), payload.kyberPreKeyHash)) {
    throw new BadSignatureError('the Kyber public key is not the one the record commits to')
  }
  if (!isValidSignature(record.publicKey, bundle.kyberPublicKey, payload.kyberPreKeySignature)) {
    throw new BadSignatureError('the Kyber pre-key signature does not verify')
  }
  return payload
}

/**
 * libsignal's bundle for a verified payload, with one of its one-time pre-keys (chosen at random,
 * so that senders of one published bundle rarely pick the same) or none when it has none.
 */
export function toLibsignalBundle(
  bundle: PreKeyBundle,
  payload: PreKeyBundlePayload,
  pick: (count: number) => number = (count) => Math.floor(Math.random() * count),
): LibsignalPreKeyBundle {
  const oneTime =
    payload.oneTimePreKeys.length > 0
      ? payload.oneTimePreKeys[pick(payload.oneTimePreKeys.length)]
      : undefined
  return LibsignalPreKeyBundle.new(
    payload.registrationId,
    payload.deviceId,
    oneTime ? oneTime.id : null,
    oneTime ? PublicKey.deserialize(oneTime.publicKey) : null,
    payload.signedPreKeyId,
    PublicKey.deserialize(payload.signedPreKey),
    payload.signedPreKeySignature,
    PublicKey.deserialize(bundle.record.publicKey),
    payload.kyberPreKeyId,
    KEMPublicKey.deserialize(bundle.kyberPublicKey),
    payload.kyberPreKeySignature,
  )
}

async function getU32(storage: SignalStorage, key: string): Promise<number | undefined> {
  const bytes = await storage.get(NS.local, key)
  return bytes ? new BinaryReader(bytes).u32(key) : undefined
}

async function putU32(storage: SignalStorage, key: string, value: number): Promise<void> {
  await storage.put(NS.local, key, new BinaryWriter().u32(value).finish())
}

/** This storage's registration ID, generated (1 to 16380, random) and kept on first use. */
export async function loadRegistrationId(storage: SignalStorage): Promise<number> {
  return storage.transaction(async (tx) => {
    const known = await getU32(tx, LOCAL_REGISTRATION_ID)
    if (known !== undefined) return known
    const fresh = 1 + (crypto.getRandomValues(new Uint32Array(1))[0]! % MAX_REGISTRATION_ID)
    await putU32(tx, LOCAL_REGISTRATION_ID, fresh)
    return fresh
  })
}

/** What {@link generatePreKeys} made. */
export interface GeneratedPreKeys {
  oneTimePreKeyIds: number[]
  signedPreKeyId: number
  kyberPreKeyId: number
  /** True when a new signed pre-key and Kyber pre-key were made (first run or `rotate`). */
  rotated: boolean
}

/**
 * Makes `oneTimeCount` one-time pre-keys and, on first use or with `rotate`, a new signed
 * pre-key and a new Kyber pre-key (PQXDH needs one), and stores them all. Old signed and
 * Kyber pre-keys are kept so first messages in flight still decrypt.
 */
export async function generatePreKeys(
  storage: SignalStorage,
  identity: Identity,
  clock: Clock,
  options: { oneTimeCount?: number; rotate?: boolean } = {},
): Promise<GeneratedPreKeys> {
  const oneTimeCount = options.oneTimeCount ?? DEFAULT_ONE_TIME_PRE_KEYS
  if (!Number.isInteger(oneTimeCount) || oneTimeCount < 0 || oneTimeCount > 10_000) {
    throw new MalformedError('oneTimeCount must be 0 to 10000')
  }
  return storage.transaction(async (tx) => {
    const now = clock.now()
    const oneTimePreKeyIds: number[] = []
    let next = (await getU32(tx, LOCAL_NEXT_PRE_KEY_ID)) ?? 1
    for (let i = 0; i < oneTimeCount; i++) {
      const key = PrivateKey.generate()
      await tx.put(
        NS.preKey,
        String(next),
        PreKeyRecord.new(next, key.getPublicKey(), key).serialize(),
      )
      await tx.delete(NS.preKeyUsed, String(next))
      oneTimePreKeyIds.push(next)
      next = next >= MAX_PRE_KEY_ID ? 1 : next + 1
    }
    await putU32(tx, LOCAL_NEXT_PRE_KEY_ID, next)

    let signedPreKeyId = await getU32(tx, LOCAL_SIGNED_PRE_KEY_ID)
    let kyberPreKeyId = await getU32(tx, LOCAL_KYBER_PRE_KEY_ID)
    const rotated =
      options.rotate === true || signedPreKeyId === undefined || kyberPreKeyId === undefined
    if (rotated) {
      signedPreKeyId = signedPreKeyId === undefined ? 1 : (signedPreKeyId % MAX_PRE_KEY_ID) + 1
      const signed = PrivateKey.generate()
      const signedPublic = signed.getPublicKey()
      const signedRecord = SignedPreKeyRecord.new(
        signedPreKeyId,
        now,
        signedPublic,
        signed,
        identity.sign(signedPublic.serialize()),
      )
      await tx.put(NS.signedPreKey, String(signedPreKeyId), signedRecord.serialize())
      await putU32(tx, LOCAL_SIGNED_PRE_KEY_ID, signedPreKeyId)

      kyberPreKeyId = kyberPreKeyId === undefined ? 1 : (kyberPreKeyId % MAX_PRE_KEY_ID) + 1
      const kem = KEMKeyPair.generate()
      const kyberRecord = KyberPreKeyRecord.new(
        kyberPreKeyId,
        now,
        kem,
        identity.sign(kem.getPublicKey().serialize()),
      )
      await tx.put(NS.kyberPreKey, String(kyberPreKeyId), kyberRecord.serialize())
      await putU32(tx, LOCAL_KYBER_PRE_KEY_ID, kyberPreKeyId)
    }
    return {
      oneTimePreKeyIds,
      signedPreKeyId: signedPreKeyId!,
      kyberPreKeyId: kyberPreKeyId!,
      rotated,
    }
  })
}

/**
 * Signs this device's current pre-key bundle: the current signed and Kyber pre-keys and up to
 * `oneTimeCount` unused one-time pre-keys (the lowest IDs). `seq` must grow with every
 * bundle published (the timestamp in milliseconds is a good choice).
 */
export async function createPreKeyBundle(
  storage: SignalStorage,
  identity: Identity,
  options: {
    deviceId: number
    registrationId: number
    seq: number
    timestamp: number
    oneTimeCount?: number
    oneTimePreKeyIds: number[]
  },
): Promise<PreKeyBundle> {
  const signedPreKeyId = await getU32(storage, LOCAL_SIGNED_PRE_KEY_ID)
  const kyberPreKeyId = await getU32(storage, LOCAL_KYBER_PRE_KEY_ID)
  if (signedPreKeyId === undefined || kyberPreKeyId === undefined) {
    throw new MalformedError('no pre-keys yet: call generatePreKeys first')
  }
  const signedBytes = await storage.get(NS.signedPreKey, String(signedPreKeyId))
  const kyberBytes = await storage.get(NS.kyberPreKey, String(kyberPreKeyId))
  if (!signedBytes || !kyberBytes) throw new MalformedError('the current pre-keys are missing')
  const signed = SignedPreKeyRecord.deserialize(toBytes(signedBytes))
  const kyber = KyberPreKeyRecord.deserialize(toBytes(kyberBytes))
  const kyberPublicKey = toBytes(kyber.publicKey().serialize())
  const limit = Math.min(
    options.oneTimeCount ?? MAX_BUNDLE_ONE_TIME_PRE_KEYS,
    MAX_BUNDLE_ONE_TIME_PRE_KEYS,
  )
  const oneTimePreKeys: PublicOneTimePreKey[] = []
  for (const id of options.oneTimePreKeyIds.slice(0, limit)) {
    const bytes = await storage.get(NS.preKey, String(id))
    if (!bytes) continue
    oneTimePreKeys.push({
      id,
      publicKey: toBytes(PreKeyRecord.deserialize(toBytes(bytes)).publicKey().serialize()),
    })
  }
  const payload = encodePreKeyBundlePayload({
    deviceId: options.deviceId,
    registrationId: options.registrationId,
    signedPreKeyId,
    signedPreKey: toBytes(signed.publicKey().serialize()),
    signedPreKeySignature: toBytes(signed.signature()),
    kyberPreKeyId,
    kyberPreKeyHash: toBytes(sha256(kyberPublicKey)),
    kyberPreKeySignature: toBytes(kyber.signature()),
    oneTimePreKeys,
  })
  const record = signRecord(identity, {
    type: RecordType.preKeyBundle,
    seq: options.seq,
    timestamp: options.timestamp,
    payload,
  })
  return { record, kyberPublicKey }
}
