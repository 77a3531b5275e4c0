import { toBytes, type Bytes } from '../wire/bytes.js'

/**
 * The namespaces the Signal layer keeps its state in. A SQLite backing can map each to a table
 * or keep one `(namespace, key, value)` table; keys are short ASCII strings.
 */
export const SignalNamespace = {
  /** Local values: registration ID, pre-key counters, current signed/Kyber pre-key IDs. */
  local: 'local',
  /** Session records by address (`textId.device`). */
  session: 'session',
  /** Trusted identity keys (33 bytes) by address. */
  identity: 'identity',
  /** A changed identity key seen for an address, waiting for the user's decision. */
  identityPending: 'identity-pending',
  /** One-time pre-key records by decimal ID. */
  preKey: 'pre-key',
  /** Used one-time pre-keys by decimal ID: the u64 time of use (kept for a grace period). */
  preKeyUsed: 'pre-key-used',
  /** Signed pre-key records by decimal ID. */
  signedPreKey: 'signed-pre-key',
  /** Kyber pre-key records by decimal ID. */
  kyberPreKey: 'kyber-pre-key',
  /** `kyberId.signedPreKeyId.baseKeyHex` of every first message processed with a Kyber pre-key. */
  kyberPreKeyUsed: 'kyber-pre-key-used',
  /** Sender-key records (groups) by `address/distributionId`. */
  senderKey: 'sender-key',
} as const
export type SignalNamespace = (typeof SignalNamespace)[keyof typeof SignalNamespace]

/**
 * Byte storage for the Signal layer, by (namespace, key). The SDK client backs it with SQLite;
 * {@link MemorySignalStorage} serves tests and benchmarks.
 *
 * `transaction(fn)` runs `fn` with a view whose writes become visible all at once when `fn`
 * resolves and are discarded when it throws. Transactions on one storage run one at a time
 * (a SQLite backing: a mutex plus `BEGIN IMMEDIATE` … `COMMIT`), so two decryptions never
 * interleave their session updates. Calling `transaction` on the view runs inside the
 * same transaction.
 */
export interface SignalStorage {
  get(namespace: string, key: string): Promise<Uint8Array | undefined>
  put(namespace: string, key: string, value: Uint8Array): Promise<void>
  delete(namespace: string, key: string): Promise<void>
  /** Every key of a namespace, in no particular order. */
  list(namespace: string): Promise<string[]>
  transaction<T>(fn: (tx: SignalStorage) => Promise<T>): Promise<T>
}

/**
 * A value kept as the live object it was made from (a parsed libsignal record), with the way
 * to its bytes. See {@link LiveValueStorage}.
 */
export interface LiveValue {
  readonly object: unknown
  serialize(): Bytes
}

/**
 * A transaction view that can hold live objects: `putLive` stores one, `getLive` hands the
 * same object back to later readers of the transaction, and the bytes are made only when
 * someone reads them or the storage writes them (once per key per commit, not per write).
 * `get` of such a key returns the serialized bytes.
 */
export interface LiveValueStorage extends SignalStorage {
  putLive(namespace: string, key: string, live: LiveValue): Promise<void>
  /** The object of the last write of this key in this transaction, if it was a live one. */
  getLive(namespace: string, key: string): unknown
}

/** True when `storage` is a {@link LiveValueStorage}. */
export function holdsLiveValues(storage: SignalStorage): storage is LiveValueStorage {
  return typeof (storage as Partial<LiveValueStorage>).putLive === 'function'
}

/** {@link SignalStorage} in memory: for tests, benchmarks and throwaway identities. */
export class MemorySignalStorage implements SignalStorage {
  private readonly data = new Map<string, Map<string, Bytes>>()
  private queue: Promise<unknown> = Promise.resolve()

  private space(namespace: string): Map<string, Bytes> {
    let space = this.data.get(namespace)
    if (!space) {
      space = new Map()
      this.data.set(namespace, space)
    }
    return space
  }

  get(namespace: string, key: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.data.get(namespace)?.get(key))
  }

  put(namespace: string, key: string, value: Uint8Array): Promise<void> {
    this.space(namespace).set(key, toBytes(value))
    return Promise.resolve()
  }

  delete(namespace: string, key: string): Promise<void> {
    this.data.get(namespace)?.delete(key)
    return Promise.resolve()
  }

  list(namespace: string): Promise<string[]> {
    return Promise.resolve([...(this.data.get(namespace)?.keys() ?? [])])
  }

  transaction<T>(fn: (tx: SignalStorage) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      const tx = new MemoryTransaction(this)
      const result = await fn(tx)
      tx.commit()
      return result
    }
    const result = this.queue.then(run, run)
    this.queue = result.catch(() => undefined)
    return result
  }

  /** @internal Applies a committed transaction's writes. */
  apply(writes: Map<string, Map<string, Bytes | undefined>>): void {
    for (const [namespace, entries] of writes) {
      for (const [key, value] of entries) {
        if (value === undefined) this.data.get(namespace)?.delete(key)
        else this.space(namespace).set(key, value)
      }
    }
  }
}

/** A transaction's view: reads see its own writes first; nothing reaches the store before commit. */
class MemoryTransaction implements SignalStorage {
  private readonly writes = new Map<string, Map<string, Bytes | undefined>>()

  constructor(private readonly base: MemorySignalStorage) {}

  private pending(namespace: string): Map<string, Bytes | undefined> {
    let entries = this.writes.get(namespace)
    if (!entries) {
      entries = new Map()
      this.writes.set(namespace, entries)
    }
    return entries
  }

  async get(namespace: string, key: string): Promise<Uint8Array | undefined> {
    const entries = this.writes.get(namespace)
    if (entries?.has(key)) return entries.get(key)
    return this.base.get(namespace, key)
  }

  put(namespace: string, key: string, value: Uint8Array): Promise<void> {
    this.pending(namespace).set(key, toBytes(value))
    return Promise.resolve()
  }

  delete(namespace: string, key: string): Promise<void> {
    this.pending(namespace).set(key, undefined)
    return Promise.resolve()
  }

  async list(namespace: string): Promise<string[]> {
    const keys = new Set(await this.base.list(namespace))
    for (const [key, value] of this.writes.get(namespace) ?? []) {
      if (value === undefined) keys.delete(key)
      else keys.add(key)
    }
    return [...keys]
  }

  transaction<T>(fn: (tx: SignalStorage) => Promise<T>): Promise<T> {
    return fn(this)
  }

  commit(): void {
    this.base.apply(this.writes)
  }
}
