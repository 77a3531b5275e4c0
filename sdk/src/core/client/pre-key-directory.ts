import type { DhtNode } from '../dht/dht-node.js'
import { NotFoundError } from '../errors.js'
import { RecordType, signRecord, type SignedRecord } from '../records/signed-record.js'
import {
  KYBER_FIRST_PART_BYTES,
  KYBER_PUBLIC_KEY_BYTES,
  KyberKeyPartRecordType,
  verifyPreKeyBundle,
  type PreKeyBundle,
} from '../signal/pre-key-bundle.js'
import type { SignalSession } from '../signal/signal-session.js'
import { concatBytes, toBytes, type Bytes } from '../wire/bytes.js'

export { KYBER_FIRST_PART_BYTES, KyberKeyPartRecordType } from '../signal/pre-key-bundle.js'
/** Publish fresh one-time pre-keys when fewer than this many are left unused. */
export const LOW_ONE_TIME_PRE_KEYS = 20 // a bundle carries 16; keep a spare bundle's worth
/** One-time pre-keys made per replenishment. */
export const REPLENISH_ONE_TIME_PRE_KEYS = 100

/**
 * Publishes and fetches pre-key bundles through the DHT: the bundle as a signed record of
 * type 2, the Kyber key it commits to as two signed records ({@link KyberKeyPartRecordType}).
 */
export class PreKeyDirectory {
  constructor(private readonly dht: DhtNode) {}

  /**
   * Tops up one-time pre-keys when fewer than {@link LOW_ONE_TIME_PRE_KEYS} are unused, then
   * publishes a fresh bundle. Resolves with how many replicas stored the bundle record.
   */
  async publish(session: SignalSession): Promise<number> {
    if ((await session.countOneTimePreKeys()) < LOW_ONE_TIME_PRE_KEYS) {
      await session.generatePreKeys({ oneTimeCount: REPLENISH_ONE_TIME_PRE_KEYS })
    }
    const bundle = await session.createPreKeyBundle()
    const { seq, timestamp } = bundle.record
    const key = bundle.kyberPublicKey
    const part = (type: number, payload: Bytes): SignedRecord =>
      signRecord(session.identity, { type, seq, timestamp, payload })
    // The Kyber halves first: a reader that sees the new bundle finds its key.
    await Promise.all([
      this.dht.putRecord(
        part(KyberKeyPartRecordType.first, key.slice(0, KYBER_FIRST_PART_BYTES) as Bytes),
      ),
      this.dht.putRecord(
        part(KyberKeyPartRecordType.second, key.slice(KYBER_FIRST_PART_BYTES) as Bytes),
      ),
    ])
    const { stored } = await this.dht.putRecord(bundle.record)
    return stored
  }

  /**
   * The verified bundle of the device key `publicKey` (device `deviceId` of its account;
   * default 1, whose key is the account key), from the DHT. Throws {@link NotFoundError} when
   * none is published or its parts do not match.
   */
  async fetch(publicKey: Uint8Array, deviceId = 1): Promise<PreKeyBundle> {
    const [record, first, second] = await Promise.all([
      this.dht.getRecord(publicKey, RecordType.preKeyBundle),
      this.dht.getRecord(publicKey, KyberKeyPartRecordType.first),
      this.dht.getRecord(publicKey, KyberKeyPartRecordType.second),
    ])
    if (!record || !first || !second) {
      throw new NotFoundError('no pre-key bundle of this identity in the DHT')
    }
    const kyberPublicKey = toBytes(concatBytes(first.payload, second.payload))
    if (kyberPublicKey.byteLength !== KYBER_PUBLIC_KEY_BYTES) {
      throw new NotFoundError('the published Kyber key parts do not fit together')
    }
    const bundle: PreKeyBundle = { record, kyberPublicKey }
    try {
      verifyPreKeyBundle(bundle, this.dht.identity.keys, { deviceId, publicKey })
    } catch (cause) {
      throw new NotFoundError('the published pre-key bundle does not verify', { cause })
    }
    return bundle
  }
}
