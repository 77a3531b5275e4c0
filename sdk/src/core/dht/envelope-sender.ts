import {
  MailboxFullError,
  PassageError,
  QuotaExceededError,
  RemoteError,
  TimeoutError,
} from '../errors.js'
import type { Bytes } from '../wire/bytes.js'
import { selfIsReplica, type LookupNode } from './lookup.js'
import {
  FRAGMENT_BYTES,
  fragmentLength,
  MAX_DATAGRAM_BYTES,
  MAX_PUT_MANY_ENVELOPES,
  PUT_MANY_ENTRY_OVERHEAD,
  type PutManyEnvelope,
} from './messages.js'
import type { MailboxClientContext } from './mailbox-client.js'
import { bytesKey } from './routing-table.js'
import { errorFromWire } from './wire-errors.js'
import { BoundedMap } from '../util/bounded-map.js'

/** Fragments sent to one replica at once. */
const FRAGMENT_WINDOW = 8
/** A request's header before its body: magic, version, type, flags, txid, sender key. */
const HEADER_BYTES = 45
/** Replicas remembered as taking single puts only (their put-many timed out: an older node). */
const SINGLE_PUT_NODES = 1024
/**
 * How long a replica whose put-many timed out gets single puts only: an older node stays one
 * for a while; a put-many lost on a lossy path is tried again after that.
 */
export const SINGLE_PUTS_FOR_MS = 600_000 // 10 min

/** Outcome of a put of one envelope (see `MailboxClient.putEnvelope`). */
export interface PutEnvelopeResult {
  id: Bytes
  mailboxKey: Bytes
  /** Replicas that acknowledged the envelope as stored (durably, before answering). */
  stored: number
  /** Replicas tried (the k closest found, plus this node when it is one of them). */
  replicas: number
  /** Refusals and failures of the others (e.g. {@link MailboxFullError}). */
  errors: PassageError[]
}

/** A whole envelope and the replicas it goes to. */
export interface EnvelopeOnReplicas {
  mailboxKey: Bytes
  id: Bytes
  data: Bytes
  ttlSeconds: number
  targets: LookupNode[]
}

/** A failure of a request, as one envelope's error. */
function asPassageError(error: unknown): PassageError {
  return error instanceof PassageError ? error : new RemoteError(String(error))
}

/**
 * Puts envelopes on the replicas given: each envelope in fragments (`mailbox-put`), or several
 * whole envelopes for one replica in one `mailbox-put-many` (docs/PROTOCOL.md, "Mailboxes").
 * This node's own store counts as a replica when it is one of the k closest.
 */
export class EnvelopeSender {
  /** Replicas whose put-many timed out (nodes that predate it): single puts only. */
  private readonly singleOnly = new BoundedMap<string, number>(SINGLE_PUT_NODES)

  constructor(private readonly ctx: MailboxClientContext) {}

  /**
   * Stores an envelope on `targets` (and here, with `includeSelf`, when this node is one of
   * the k closest); used by puts and by maintenance to hand stored envelopes on.
   */
  async storeOn(
    targets: LookupNode[],
    mailboxKey: Bytes,
    id: Bytes,
    data: Bytes,
    ttlSeconds: number,
    includeSelf: boolean,
  ): Promise<PutEnvelopeResult> {
    const [result] = await this.storeMany(
      [{ mailboxKey, id, data, ttlSeconds, targets }],
      includeSelf,
    )
    return result!
  }

  /**
   * Stores each envelope on its targets (and here, as {@link storeOn}); a replica that is
   * a target of several gets them in as few `mailbox-put-many` as they fit in. One result
   * per envelope, in order: each counts its own replicas.
   */
  async storeMany(
    envelopes: EnvelopeOnReplicas[],
    includeSelf: boolean,
  ): Promise<PutEnvelopeResult[]> {
    const results: PutEnvelopeResult[] = envelopes.map((e) => ({
      id: e.id,
      mailboxKey: e.mailboxKey,
      stored: 0,
      replicas: 0,
      errors: [],
    }))
    const byReplica = new Map<string, { node: LookupNode; items: number[] }>()
    const jobs: Promise<void>[] = []
    envelopes.forEach((e, i) => {
      let targets = e.targets
      const self = includeSelf && selfIsReplica(this.ctx, e.mailboxKey, targets)
      // This node is one of the k closest: the farthest node found is not.
      if (self && targets.length >= this.ctx.k) targets = targets.slice(0, this.ctx.k - 1)
      results[i]!.replicas = targets.length + (self ? 1 : 0)
      if (self) jobs.push(this.storeHere(e, results[i]!))
      for (const node of targets) {
        const key = `${node.host}|${node.port}|${bytesKey(node.id)}`
        const group = byReplica.get(key)
        if (group) group.items.push(i)
        else byReplica.set(key, { node, items: [i] })
      }
    })
    for (const [key, { node, items }] of byReplica) {
      jobs.push(this.sendTo(key, node, items, envelopes, results))
    }
    await Promise.all(jobs)
    return results
  }

  private async storeHere(e: EnvelopeOnReplicas, result: PutEnvelopeResult): Promise<void> {
    const now = this.ctx.clock.now()
    try {
      const outcome = await this.ctx.mailboxStore.put(
        {
          mailboxKey: e.mailboxKey,
          id: e.id,
          data: e.data,
          source: this.ctx.address().host,
          storedAt: now,
          expiresAt: now + e.ttlSeconds * 1000,
        },
        this.ctx.quota,
        now,
      )
      if (outcome === 'stored' || outcome === 'duplicate' || outcome === 'deleted') result.stored++
      else {
        result.errors.push(
          outcome === 'mailbox-full' ? new MailboxFullError() : new QuotaExceededError(),
        )
      }
    } catch (error) {
      result.errors.push(asPassageError(error))
    }
  }

  /** One replica's envelopes: packed into put-manys where they fit, else one by one. */
  private async sendTo(
    key: string,
    node: LookupNode,
    items: number[],
    envelopes: EnvelopeOnReplicas[],
    results: PutEnvelopeResult[],
  ): Promise<void> {
    const single = (i: number) => this.sendSingle(node, envelopes[i]!, results[i]!)
    if (items.length === 1 || this.singlePutsOnly(key)) {
      await Promise.all(items.map(single))
      return
    }
    // Room for entries: the datagram less the header, the body token and the count.
    const room = MAX_DATAGRAM_BYTES - HEADER_BYTES - 1 - node.token.byteLength - 1
    const packs: number[][] = []
    const alone: number[] = []
    let pack: number[] = []
    let used = 0
    for (const i of items) {
      const size = PUT_MANY_ENTRY_OVERHEAD + envelopes[i]!.data.byteLength
      if (size > room) {
        alone.push(i)
        continue
      }
      if (used + size > room || pack.length === MAX_PUT_MANY_ENVELOPES) {
        packs.push(pack)
        pack = []
        used = 0
      }
      pack.push(i)
      used += size
    }
    if (pack.length > 0) packs.push(pack)
    await Promise.all([
      ...alone.map(single),
      ...packs.map((p) =>
        p.length === 1 ? single(p[0]!) : this.sendPack(key, node, p, envelopes, results),
      ),
    ])
  }

  /** Whether the replica's put-many timed out in the last {@link SINGLE_PUTS_FOR_MS}. */
  private singlePutsOnly(key: string): boolean {
    const at = this.singleOnly.get(key)
    if (at === undefined) return false
    const age = this.ctx.clock.now() - at
    if (age >= 0 && age < SINGLE_PUTS_FOR_MS) return true
    this.singleOnly.delete(key)
    return false
  }

  private async sendSingle(
    node: LookupNode,
    e: EnvelopeOnReplicas,
    result: PutEnvelopeResult,
  ): Promise<void> {
    try {
      if (await this.sendEnvelope(node, e.mailboxKey, e.id, e.data, e.ttlSeconds)) result.stored++
    } catch (error) {
      result.errors.push(asPassageError(error))
    }
  }

  /** One put-many to one replica; each envelope counts its own answer. */
  private async sendPack(
    key: string,
    node: LookupNode,
    pack: number[],
    envelopes: EnvelopeOnReplicas[],
    results: PutEnvelopeResult[],
  ): Promise<void> {
    const body: PutManyEnvelope[] = pack.map((i) => {
      const e = envelopes[i]!
      return { mailboxKey: e.mailboxKey, envelopeId: e.id, ttlSeconds: e.ttlSeconds, data: e.data }
    })
    let ack
    try {
      // Not resent: a node that predates put-many never answers it, and its timeout must not
      // count the node as gone (a full-effort request would). Single puts follow instead.
      ack = await this.ctx.request(
        node,
        { type: 'mailbox-put-many', token: node.token, envelopes: body },
        { expectId: node.id, retries: 0 },
      )
    } catch (error) {
      if (!(error instanceof TimeoutError)) {
        for (const i of pack) results[i]!.errors.push(asPassageError(error))
        return
      }
      // An older node (it drops the unknown type), or the datagram was lost: these envelopes
      // go one by one, and so does whatever goes to this replica for a while.
      this.singleOnly.set(key, this.ctx.clock.now())
      await Promise.all(pack.map((i) => this.sendSingle(node, envelopes[i]!, results[i]!)))
      return
    }
    if (ack.type !== 'mailbox-put-acks' || ack.results.length !== pack.length) {
      const failure = new RemoteError('expected one put result per envelope')
      for (const i of pack) results[i]!.errors.push(failure)
      return
    }
    ack.results.forEach((r, j) => {
      const result = results[pack[j]!]!
      if (r.stored) result.stored++
      else result.errors.push(errorFromWire(r.code, 'a replica refused the envelope'))
    })
  }

  /** Sends every fragment to one replica; true once it acknowledged the whole envelope. */
  private async sendEnvelope(
    to: LookupNode,
    mailboxKey: Bytes,
    id: Bytes,
    data: Bytes,
    ttlSeconds: number,
  ): Promise<boolean> {
    const count = Math.ceil(data.byteLength / FRAGMENT_BYTES)
    // One fragment (most copies): no workers, and the bytes as they are (the encoder copies
    // them into the datagram; a slice per replica was garbage).
    if (count === 1) return this.sendFragment(to, mailboxKey, id, data, ttlSeconds, 0, 1, data)
    let next = 0
    let stored = false
    const worker = async () => {
      while (next < count && !stored) {
        const index = next++
        const start = index * FRAGMENT_BYTES
        const fragment = data.slice(start, start + fragmentLength(data.byteLength, index))
        if (await this.sendFragment(to, mailboxKey, id, data, ttlSeconds, index, count, fragment))
          stored = true
      }
    }
    await Promise.all(Array.from({ length: Math.min(FRAGMENT_WINDOW, count) }, worker))
    return stored
  }

  /** One `mailbox-put`; true when the replica holds the whole envelope. */
  private async sendFragment(
    to: LookupNode,
    mailboxKey: Bytes,
    id: Bytes,
    data: Bytes,
    ttlSeconds: number,
    index: number,
    count: number,
    fragment: Bytes,
  ): Promise<boolean> {
    const ack = await this.ctx.request(
      to,
      {
        type: 'mailbox-put',
        token: to.token,
        mailboxKey,
        envelopeId: id,
        ttlSeconds,
        totalSize: data.byteLength,
        index,
        count,
        data: fragment,
      },
      { expectId: to.id },
    )
    if (ack.type !== 'mailbox-put-ack') throw new RemoteError('expected a put ack')
    return ack.stored
  }
}
