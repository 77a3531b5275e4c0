import type { Verifier } from '../crypto/key-provider.js'
import type { Clock } from '../runtime/clock.js'
import { PassageError, RemoteError } from '../errors.js'
import type { NodeId } from '../identity/node-id.js'
import {
  decodeSignedRecord,
  encodeSignedRecord,
  verifyRecord,
  type SignedRecord,
} from '../records/signed-record.js'
import { equalBytes } from '../wire/bytes.js'
import { selfIsReplica, type LookupResult } from './lookup.js'
import { type DhtMessage, type MessageBody, type NodeAddress } from './messages.js'
import { recordKeyFor } from './keys.js'
import { checkDhtRecord } from './record-rules.js'
import type { RecordStore } from './record-store.js'
import type { RequestOptions } from './rpc/rpc-engine.js'

/** What the record client uses of its node. */
export interface RecordClientContext {
  readonly id: NodeId
  readonly client: boolean
  readonly k: number
  /** Checks records' signatures. */
  readonly verifier: Verifier
  /** Records' ages (wall clock). */
  readonly clock: Clock
  /** This node's own store, used when it is a replica itself. */
  readonly recordStore: RecordStore
  request(to: NodeAddress, body: MessageBody, opts?: RequestOptions): Promise<DhtMessage>
  lookup(target: NodeId): Promise<LookupResult>
}

/**
 * Signed records on the DHT: puts them on the k closest nodes to their key and gets the
 * newest valid one back. This node's own store counts as a replica when it is one of them.
 *
 * @example
 * const records = new RecordClient(ctx)
 * await records.putRecord(signRecord(me, { type: RecordType.preKeyBundle, seq, timestamp, payload }))
 * const bundle = await records.getRecord(peer.publicKey, RecordType.preKeyBundle)
 */
export class RecordClient {
  constructor(private readonly ctx: RecordClientContext) {}

  /** Stores a signed record on the k closest nodes to its key. Resolves with how many stored it. */
  async putRecord(record: SignedRecord): Promise<{ stored: number; errors: PassageError[] }> {
    verifyRecord(record, this.ctx.verifier)
    checkDhtRecord(record, this.ctx.clock.now())
    const key = recordKeyFor(record.publicKey, record.type)
    let { closest } = await this.ctx.lookup(key)
    const bytes = encodeSignedRecord(record)
    const errors: PassageError[] = []
    let stored = 0
    if (selfIsReplica(this.ctx, key, closest)) {
      if (closest.length >= this.ctx.k) closest = closest.slice(0, this.ctx.k - 1)
      try {
        await this.ctx.recordStore.put(key, record)
        stored++
      } catch (error) {
        if (error instanceof PassageError) errors.push(error)
      }
    }
    await Promise.all(
      closest.map(async (node) => {
        try {
          await this.ctx.request(
            node,
            { type: 'record-put', token: node.token, record: bytes },
            { expectId: node.id },
          )
          stored++
        } catch (error) {
          errors.push(error instanceof PassageError ? error : new RemoteError(String(error)))
        }
      }),
    )
    return { stored, errors }
  }

  /** The newest valid record of `type` signed by `publicKey`, from the closest nodes. */
  async getRecord(publicKey: Uint8Array, type: number): Promise<SignedRecord | undefined> {
    const key = recordKeyFor(publicKey, type)
    const { closest } = await this.ctx.lookup(key)
    const now = this.ctx.clock.now()
    const own = await this.ctx.recordStore.get(key)
    let best = own && isDhtRecord(own, now) ? own : undefined
    await Promise.all(
      closest.map(async (node) => {
        try {
          const reply = await this.ctx.request(
            node,
            { type: 'record-get', key },
            { expectId: node.id },
          )
          if (reply.type !== 'record-result' || !reply.record) return
          const record = decodeSignedRecord(reply.record)
          verifyRecord(record, this.ctx.verifier)
          if (!equalBytes(record.publicKey, publicKey) || record.type !== type) return
          checkDhtRecord(record, now) // a lying node's stale or garbled record is not taken
          if (!best || record.seq > best.seq) best = record
        } catch {
          // A failing or lying node does not stop the others.
        }
      }),
    )
    return best
  }
}

/** True when `record` is one the DHT stores at `now` (see {@link checkDhtRecord}). */
function isDhtRecord(record: SignedRecord, now: number): boolean {
  try {
    checkDhtRecord(record, now)
    return true
  } catch {
    return false
  }
}
