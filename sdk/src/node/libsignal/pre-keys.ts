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
import { MalformedError } from '../../core/errors.js'
import type { Identity } from '../../core/identity/identity.js'
import type { Clock } from '../../core/runtime/clock.js'
import type { Random } from '../../core/runtime/host.js'
import { RecordType, signRecord } from '../../core/records/signed-record.js'
import {
  DEFAULT_ONE_TIME_PRE_KEYS,
  encodePreKeyBundlePayload,
  MAX_BUNDLE_ONE_TIME_PRE_KEYS,
  type PreKeyBundle,
  type PreKeyBundlePayload,
  type PublicOneTimePreKey,
} from '../../core/signal/pre-key-bundle.js'
import type { GeneratedPreKeys } from '../../core/signal/signal-session.js'
import { SignalNamespace as NS, type SignalStorage } from '../../core/signal/signal-storage.js'
import { BinaryReader, BinaryWriter } from '../../core/wire/binary.js'
import { toBytes } from '../../core/wire/bytes.js'

/** Pre-key IDs are 24-bit, like Signal's Medium.MAX_VALUE, and wrap around. */
const MAX_PRE_KEY_ID = 0xff_ffff
/** Registration IDs: 14 bits, never 0 (libsignal's range). */
const MAX_REGISTRATION_ID = 16380

const LOCAL_REGISTRATION_ID = 'registration-id'
const LOCAL_NEXT_PRE_KEY_ID = 'next-pre-key-id'
const LOCAL_SIGNED_PRE_KEY_ID = 'signed-pre-key-id'
const LOCAL_KYBER_PRE_KEY_ID = 'kyber-pre-key-id'

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
export async function loadRegistrationId(storage: SignalStorage, random: Random): Promise<number> {
  return storage.transaction(async (tx) => {
    const known = await getU32(tx, LOCAL_REGISTRATION_ID)
    if (known !== undefined) return known
    const fresh = 1 + (new BinaryReader(random(4)).u32('random') % MAX_REGISTRATION_ID)
    await putU32(tx, LOCAL_REGISTRATION_ID, fresh)
    return fresh
  })
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
