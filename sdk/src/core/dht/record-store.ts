import { ReplayError } from '../errors.js'
import type { SignedRecord } from '../records/signed-record.js'
import { equalBytes, toHex, type Bytes } from '../wire/bytes.js'

/** Where a DHT node keeps signed records (prekey bundles, device lists, addresses). */
export interface RecordStore {
  /**
   * Keeps `record` under `key` unless a record with a higher `seq` is there. Same `seq` and
   * same signature: a retry, accepted. Same `seq`, other content: {@link ReplayError}.
   * Returns the stored `seq`.
   */
  put(key: Bytes, record: SignedRecord): Promise<number>
  get(key: Bytes): Promise<SignedRecord | undefined>
}

/** A {@link RecordStore} in memory. */
export class MemoryRecordStore implements RecordStore {
  private readonly records = new Map<string, SignedRecord>()

  async put(key: Bytes, record: SignedRecord): Promise<number> {
    const k = toHex(key)
    const old = this.records.get(k)
    if (old) {
      if (old.seq > record.seq) throw new ReplayError('a record with a higher seq is stored')
      if (old.seq === record.seq) {
        if (equalBytes(old.signature, record.signature)) return old.seq
        throw new ReplayError('another record with the same seq is stored')
      }
    }
    this.records.set(k, record)
    return record.seq
  }

  async get(key: Bytes): Promise<SignedRecord | undefined> {
    return this.records.get(toHex(key))
  }
}
