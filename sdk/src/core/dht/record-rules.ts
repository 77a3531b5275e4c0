import { checkDeviceList, decodeDeviceListPayload } from '../devices/device-list.js'
import { ClockSkewError, MalformedError } from '../errors.js'
import { ADDRESS_RECORD_MAX_AGE_MS, decodeAddressPayload } from '../records/address-record.js'
import { RecordType, type SignedRecord } from '../records/signed-record.js'
import {
  decodePreKeyBundlePayload,
  KYBER_FIRST_PART_BYTES,
  KYBER_PUBLIC_KEY_BYTES,
  KyberKeyPartRecordType,
} from '../signal/pre-key-bundle.js'

// What the DHT stores and serves: the record types its readers look up, each with a payload
// that parses and a signing time that is not too old (docs/PROTOCOL.md, "Record rules").
// A node refuses anything else on put, and serves a stored record only while it is fresh.

const DAY_MS = 86_400_000

/** A record signed further ahead of the node's clock than this is refused (clock skew). */
export const RECORD_FUTURE_SKEW_MS = 10 * 60_000

/** One record type the DHT stores. */
export interface DhtRecordRule {
  name: string
  /** Older records (by their signed timestamp) are refused and no longer served. */
  maxAgeMs: number
  /** Throws {@link MalformedError} unless the payload has this type's layout. */
  checkPayload(record: SignedRecord): void
}

function exactLength(bytes: number, name: string) {
  return (record: SignedRecord) => {
    if (record.payload.byteLength !== bytes) {
      throw new MalformedError(`a ${name} record holds exactly ${bytes} bytes`)
    }
  }
}

/** The record types the DHT stores, by type number. */
export const DHT_RECORD_RULES: ReadonlyMap<number, DhtRecordRule> = new Map<number, DhtRecordRule>([
  [
    RecordType.preKeyBundle,
    {
      name: 'pre-key bundle',
      // Republished hourly while its device is online; a month-old bundle's signed pre-key
      // may be gone from the device (rotated), and no envelope outlives 30 days either.
      maxAgeMs: 30 * DAY_MS,
      checkPayload: (record) => void decodePreKeyBundlePayload(record.payload),
    },
  ],
  [
    RecordType.deviceList,
    {
      name: 'device list',
      // Republished hourly by every device online; an account away longer is reached on
      // device 1 only (the implicit list).
      maxAgeMs: 90 * DAY_MS,
      checkPayload: (record) =>
        checkDeviceList({
          account: record.publicKey,
          seq: record.seq,
          timestamp: record.timestamp,
          ...decodeDeviceListPayload(record.payload),
        }),
    },
  ],
  [
    RecordType.address,
    {
      name: 'address',
      // Republished every few minutes while its owner is online; addresses go stale fast.
      maxAgeMs: ADDRESS_RECORD_MAX_AGE_MS,
      checkPayload: (record) => void decodeAddressPayload(record.payload),
    },
  ],
  [
    KyberKeyPartRecordType.first,
    {
      name: 'Kyber key, first part',
      maxAgeMs: 30 * DAY_MS,
      checkPayload: exactLength(KYBER_FIRST_PART_BYTES, 'Kyber key first part'),
    },
  ],
  [
    KyberKeyPartRecordType.second,
    {
      name: 'Kyber key, second part',
      maxAgeMs: 30 * DAY_MS,
      checkPayload: exactLength(
        KYBER_PUBLIC_KEY_BYTES - KYBER_FIRST_PART_BYTES,
        'Kyber key second part',
      ),
    },
  ],
])

/**
 * Throws unless the DHT stores `record` at `now`: a known type ({@link MalformedError}), a
 * payload of that type's layout ({@link MalformedError}), signed neither longer ago than the
 * type's age limit nor more than {@link RECORD_FUTURE_SKEW_MS} ahead ({@link ClockSkewError}).
 * The signature is checked apart (verifyRecord).
 */
export function checkDhtRecord(record: SignedRecord, now: number): void {
  const rule = DHT_RECORD_RULES.get(record.type)
  if (!rule) {
    throw new MalformedError(
      `record type ${record.type} is not stored in the DHT (types ${[...DHT_RECORD_RULES.keys()].join(', ')})`,
    )
  }
  rule.checkPayload(record)
  checkRecordAge(record, now)
}

/** Throws {@link ClockSkewError} when `record` is too old for its type, or from the future. */
export function checkRecordAge(record: SignedRecord, now: number): void {
  const rule = DHT_RECORD_RULES.get(record.type)
  if (record.timestamp > now + RECORD_FUTURE_SKEW_MS) {
    throw new ClockSkewError('the record is signed in the future; check the signer’s clock')
  }
  if (rule && now - record.timestamp > rule.maxAgeMs) {
    const days = Math.round(rule.maxAgeMs / DAY_MS)
    const age = days >= 1 ? `${days} days` : `${Math.round(rule.maxAgeMs / 60_000)} minutes`
    throw new ClockSkewError(`a ${rule.name} record older than ${age} is stale`)
  }
}

/** True while a stored record may be served (its type's age limit not passed). */
export function isFreshRecord(record: SignedRecord, now: number): boolean {
  const rule = DHT_RECORD_RULES.get(record.type)
  return rule !== undefined && now - record.timestamp <= rule.maxAgeMs
}
