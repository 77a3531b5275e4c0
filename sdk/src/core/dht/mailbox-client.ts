import {
  MailboxFullError,
  MalformedError,
  PassageError,
  QuotaExceededError,
  RemoteError,
  TimeoutError,
} from '../errors.js'
import type { Identity } from '../identity/identity.js'
import type { NodeId } from '../identity/node-id.js'
import {
  DEFAULT_ENVELOPE_TTL_MS,
  MAX_ENVELOPE_TTL_MS,
  type MailboxQuota,
  type MailboxStore,
} from '../mailbox/mailbox-store.js'
import type { Clock } from '../runtime/clock.js'
import type { AbortSignalLike, Random } from '../runtime/host.js'
import { BoundedMap } from '../util/bounded-map.js'
import { equalBytes, type Bytes } from '../wire/bytes.js'
import {
  EnvelopeSender,
  type EnvelopeOnReplicas,
  type PutEnvelopeResult,
} from './envelope-sender.js'
import type { LookupNode, LookupResult } from './lookup.js'
import {
  ENVELOPE_ID_BYTES,
  FRAGMENT_BYTES,
  MAX_DELETE_IDS,
  MAX_ENVELOPE_BYTES,
  NONCE_BYTES,
  type DhtMessage,
  type MessageBody,
  type NodeAddress,
} from './messages.js'
import { envelopeIdOf, mailboxAuthInput, mailboxKeyFor, type MailboxAuthedRequest } from './keys.js'
import { bytesKey } from './routing-table.js'
import type { RequestOptions } from './rpc/rpc-engine.js'

export type { PutEnvelopeResult } from './envelope-sender.js'

/** Envelopes read at once by {@link MailboxClient.readEnvelopes}. */
const READ_WINDOW = 4
/**
 * How long the replicas one lookup found for a mailbox take further puts to it without a new
 * lookup (docs/PROTOCOL.md, "Mailboxes"): well inside the 5 minutes a write token is good for.
 */
export const REPLICA_REUSE_MS = 60_000
/** Mailboxes whose replicas are remembered (a group's members, a busy chat list). */
const REPLICA_CACHE_ENTRIES = 1024

/** One envelope of {@link MailboxClient.putEnvelopes}. */
export interface EnvelopeToPut {
  recipientKey: Uint8Array
  /** Opaque ciphertext, 1 byte to 64 KiB. */
  data: Uint8Array
  /** Default 14 days; 1 s to 30 days. */
  ttlMs?: number
}

/** Checks an envelope's bounds; its mailbox key, ID, own bytes and TTL in seconds. */
function prepare(e: EnvelopeToPut) {
  if (e.data.byteLength < 1 || e.data.byteLength > MAX_ENVELOPE_BYTES) {
    throw new MalformedError(`an envelope is 1 to ${MAX_ENVELOPE_BYTES} bytes`)
  }
  const ttlMs = e.ttlMs ?? DEFAULT_ENVELOPE_TTL_MS
  if (ttlMs < 1000 || ttlMs > MAX_ENVELOPE_TTL_MS) throw new MalformedError('ttl is 1 s to 30 days')
  const mailboxKey = mailboxKeyFor(e.recipientKey)
  const data = Uint8Array.from(e.data) as Bytes
  const id = envelopeIdOf(mailboxKey, data)
  return { mailboxKey, id, data, ttlSeconds: Math.floor(ttlMs / 1000) }
}

/** Options of {@link MailboxClient.fetchMailbox}. */
export interface FetchMailboxOptions {
  /** Envelopes listed but not to be read (read before): true skips one. */
  skip?: (id: Bytes) => boolean | Promise<boolean>
}

export interface FetchedEnvelope {
  id: Bytes
  data: Bytes
  expiresAt: number
}

/** What the mailbox client uses of its node. */
export interface MailboxClientContext {
  readonly id: NodeId
  readonly client: boolean
  readonly k: number
  /** Envelope times and owners' signature timestamps (wall clock). */
  readonly clock: Clock
  /** Nonces of owners' signatures. */
  readonly random: Random
  /** Fresh signatures sent after a timeout, at most. */
  readonly retries: number
  /** This node's own store, used when it is a replica itself. */
  readonly mailboxStore: MailboxStore
  readonly quota: MailboxQuota
  request(to: NodeAddress, body: MessageBody, opts?: RequestOptions): Promise<DhtMessage>
  lookup(target: NodeId): Promise<LookupResult>
  address(): NodeAddress
}

/**
 * The sending and owning side of mailboxes: puts envelopes (in fragments) on the k closest
 * nodes to a mailbox key, and fetches and deletes them with requests the owner signs for each
 * replica. This node's own store counts as a replica when it is one of the k closest.
 *
 * @example
 * const mailboxes = new MailboxClient(ctx)
 * const r = await mailboxes.putEnvelope(bob.publicKey, ciphertext) // r.stored ≥ 3
 * const mine = await mailboxes.fetchMailbox(bob)
 */
export class MailboxClient {
  /** Recent lookups by mailbox key (shared while in flight): the replicas of the next puts. */
  private readonly replicas = new BoundedMap<string, { at: number; lookup: Promise<LookupResult> }>(
    REPLICA_CACHE_ENTRIES,
  )

  /** Puts on given replicas, one by one or several per request. */
  private readonly sender: EnvelopeSender

  constructor(private readonly ctx: MailboxClientContext) {
    this.sender = new EnvelopeSender(ctx)
  }

  /** Stores an envelope on `targets` (see {@link EnvelopeSender.storeOn}; maintenance's handover). */
  storeOn(
    targets: LookupNode[],
    mailboxKey: Bytes,
    id: Bytes,
    data: Bytes,
    ttlSeconds: number,
    includeSelf: boolean,
  ): Promise<PutEnvelopeResult> {
    return this.sender.storeOn(targets, mailboxKey, id, data, ttlSeconds, includeSelf)
  }

  /**
   * Stores an envelope (opaque ciphertext, 1 byte to 64 KiB) in the mailbox of the holder of
   * `recipientKey`, on the k closest nodes to the mailbox key. Resolves with how many
   * replicas stored it; check `stored` (aim: at least 3). Several envelopes for one
   * recipient can share one lookup: pass `lookup` (a recent `lookup(mailboxKeyFor(key))`).
   */
  async putEnvelope(
    recipientKey: Uint8Array,
    data: Uint8Array,
    opts: { ttlMs?: number; lookup?: LookupResult } = {},
  ): Promise<PutEnvelopeResult> {
    const envelope = {
      recipientKey,
      data,
      ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}),
    }
    if (opts.lookup) {
      const e = prepare(envelope)
      return this.storeOn(opts.lookup.closest, e.mailboxKey, e.id, e.data, e.ttlSeconds, true)
    }
    return (await this.putEnvelopes([envelope]))[0]!
  }

  /**
   * Stores several envelopes, each in its recipient's mailbox as {@link putEnvelope} does; a
   * replica of several of them gets them in as few requests as they fit in
   * (`mailbox-put-many`). One result per envelope, in order: each counts its own replicas,
   * so the caller retries only the ones no replica took. Throws {@link MalformedError} for
   * an envelope out of bounds, before anything is sent.
   *
   * @example
   * const results = await mailboxes.putEnvelopes(copies.map((c) => ({ recipientKey: c.key, data: c.sealed })))
   * const retry = copies.filter((_, i) => results[i]!.stored === 0)
   */
  async putEnvelopes(envelopes: EnvelopeToPut[]): Promise<PutEnvelopeResult[]> {
    const prepared = envelopes.map(prepare)
    const sets = prepared.map((e) => this.replicasOf(e.mailboxKey))
    const failed: unknown[] = []
    const found = await Promise.all(
      sets.map((s, i) =>
        s.lookup.then(
          (r) => r.closest,
          (error: unknown) => {
            failed[i] = error
            return [] as LookupNode[]
          },
        ),
      ),
    )
    const batch: EnvelopeOnReplicas[] = prepared.map((e, i) => ({ ...e, targets: found[i]! }))
    const results = await this.sender.storeMany(batch, true)
    failed.forEach((error, i) => {
      results[i]!.errors.push(
        error instanceof PassageError ? error : new RemoteError(String(error)),
      )
    })
    const refusedForSpace = (e: PassageError) =>
      e instanceof MailboxFullError || e instanceof QuotaExceededError
    await Promise.all(
      results.map(async (result, i) => {
        const e = prepared[i]!
        const { lookup, reused } = sets[i]!
        // A replica that failed or refused: the next put looks up again. None took it from a
        // remembered set (all gone, or tokens for an address we no longer have): look up now.
        if (result.stored < result.replicas) this.forgetReplicas(e.mailboxKey, lookup)
        if (!reused || result.stored > 0 || result.errors.every(refusedForSpace)) return
        const fresh = await this.replicasOf(e.mailboxKey).lookup
        results[i] = await this.storeOn(
          fresh.closest,
          e.mailboxKey,
          e.id,
          e.data,
          e.ttlSeconds,
          true,
        )
      }),
    )
    return results
  }

  /** The replicas of a mailbox: a lookup of the last {@link REPLICA_REUSE_MS}, or a new one. */
  private replicasOf(mailboxKey: Bytes): { lookup: Promise<LookupResult>; reused: boolean } {
    const key = bytesKey(mailboxKey)
    const now = this.ctx.clock.now()
    const hit = this.replicas.get(key)
    if (hit && now >= hit.at && now - hit.at < REPLICA_REUSE_MS)
      return { lookup: hit.lookup, reused: true }
    const lookup = this.ctx.lookup(mailboxKey)
    this.replicas.set(key, { at: now, lookup })
    lookup.then(
      // Nothing found (no table yet) is not worth remembering.
      (r) => r.closest.length === 0 && this.forgetReplicas(mailboxKey, lookup),
      () => this.forgetReplicas(mailboxKey, lookup),
    )
    return { lookup, reused: false }
  }

  private forgetReplicas(mailboxKey: Bytes, lookup: Promise<LookupResult>): void {
    const key = bytesKey(mailboxKey)
    if (this.replicas.get(key)?.lookup === lookup) this.replicas.delete(key)
  }

  private signAuth(owner: Identity, audience: NodeId, request: MailboxAuthedRequest) {
    const timestamp = this.ctx.clock.now()
    const nonce = this.ctx.random(NONCE_BYTES)
    const signature = owner.sign(mailboxAuthInput(audience, timestamp, nonce, request))
    return { ownerKey: owner.publicKey, timestamp, nonce, signature }
  }

  private async ownerRequest(
    owner: Identity,
    to: LookupNode,
    request: MailboxAuthedRequest,
  ): Promise<DhtMessage> {
    const auth = this.signAuth(owner, to.id, request)
    const body: MessageBody =
      request.type === 'mailbox-get'
        ? {
            type: 'mailbox-get',
            auth,
            kind: request.kind,
            envelopeId: Uint8Array.from(request.envelopeId) as Bytes,
            index: request.index,
          }
        : { type: 'mailbox-delete', auth, ids: request.ids.map((i) => Uint8Array.from(i) as Bytes) }
    // A resend carries the same nonce: a replica that answered already refuses it as a
    // replay, so resend with a fresh signature instead.
    let last: unknown
    for (let attempt = 0; attempt <= this.ctx.retries; attempt++) {
      try {
        const fresh = attempt === 0 ? body : { ...body, auth: this.signAuth(owner, to.id, request) }
        return await this.ctx.request(to, fresh, { expectId: to.id, retries: 0 })
      } catch (error) {
        last = error
        if (!(error instanceof TimeoutError)) {
          if ((error as PassageError).code === 'PASSAGE_ERR_REPLAY') continue
          throw error
        }
      }
    }
    throw last
  }

  /**
   * Fetches every envelope in `owner`'s mailbox from its replicas (each request signed by
   * the owner for that replica). Envelopes whose bytes do not match their ID are skipped.
   */
  async fetchMailbox(
    owner: Identity,
    options: FetchMailboxOptions = {},
  ): Promise<FetchedEnvelope[]> {
    const mailboxKey = mailboxKeyFor(owner.publicKey)
    const { closest } = await this.ctx.lookup(mailboxKey)
    const found = new Map<
      string,
      { id: Bytes; size: number; expiresAt: number; holders: LookupNode[] }
    >()
    const local = new Map<string, FetchedEnvelope>()
    if (!this.ctx.client) {
      const now = this.ctx.clock.now()
      let after: Bytes | undefined
      for (let page = 0; page < 1000; page++) {
        const entries = await this.ctx.mailboxStore.list(mailboxKey, now, 256, after)
        for (const e of entries) {
          const env = await this.ctx.mailboxStore.get(mailboxKey, e.id, now)
          if (env)
            local.set(bytesKey(e.id), { id: env.id, data: env.data, expiresAt: env.expiresAt })
        }
        if (entries.length < 256) break
        after = entries[entries.length - 1]!.id
      }
    }
    await Promise.all(
      closest.map(async (replica) => {
        let after = new Uint8Array(ENVELOPE_ID_BYTES) as Bytes
        for (let page = 0; page < 1000; page++) {
          let reply: DhtMessage
          try {
            reply = await this.ownerRequest(owner, replica, {
              type: 'mailbox-get',
              kind: 'list',
              envelopeId: after,
              index: 0,
            })
          } catch {
            return
          }
          if (reply.type !== 'mailbox-list') return
          for (const e of reply.entries) {
            const key = bytesKey(e.id)
            const f = found.get(key)
            if (f) f.holders.push(replica)
            else found.set(key, { ...e, holders: [replica] })
          }
          if (!reply.more || reply.entries.length === 0) return
          after = reply.entries[reply.entries.length - 1]!.id
        }
      }),
    )
    const out: FetchedEnvelope[] = [...local.values()]
    await Promise.all(
      [...found.entries()].map(async ([key, entry]) => {
        if (local.has(key)) return
        if (options.skip && (await options.skip(entry.id))) return
        for (const holder of entry.holders) {
          const data = await this.readEnvelope(owner, holder, entry.id, entry.size).catch(
            () => undefined,
          )
          if (data && equalBytes(envelopeIdOf(mailboxKey, data), entry.id)) {
            out.push({ id: entry.id, data, expiresAt: entry.expiresAt })
            return
          }
        }
      }),
    )
    return out
  }

  /**
   * Reads the envelopes `ids` of `owner`'s mailbox (a capability mailbox's chunks): lists
   * each replica, then reads each envelope from a replica that lists it, checking its bytes
   * against its ID and trying the next replica when they do not match. `take` gets each good
   * envelope as it arrives. Resolves with the IDs no replica listed (`missing`) and those
   * every replica that listed them served altered (`tampered`).
   */
  async readEnvelopes(
    owner: Identity,
    ids: Bytes[],
    take: (id: Bytes, data: Bytes) => Promise<void>,
    signal?: AbortSignalLike,
  ): Promise<{ missing: Bytes[]; tampered: Bytes[] }> {
    const mailboxKey = mailboxKeyFor(owner.publicKey)
    const { closest } = await this.ctx.lookup(mailboxKey)
    const wanted = new Map(
      ids.map((id) => [bytesKey(id), { size: 0, holders: [] as LookupNode[] }]),
    )
    await Promise.all(
      closest.map(async (replica) => {
        let after = new Uint8Array(ENVELOPE_ID_BYTES) as Bytes
        for (let page = 0; page < 1000; page++) {
          const reply = await this.ownerRequest(owner, replica, {
            type: 'mailbox-get',
            kind: 'list',
            envelopeId: after,
            index: 0,
          }).catch(() => undefined)
          if (reply?.type !== 'mailbox-list') return
          for (const e of reply.entries) {
            const w = wanted.get(bytesKey(e.id))
            if (!w) continue
            w.size = e.size
            w.holders.push(replica)
          }
          if (!reply.more || reply.entries.length === 0) return
          after = reply.entries[reply.entries.length - 1]!.id
        }
      }),
    )
    const missing: Bytes[] = []
    const tampered: Bytes[] = []
    let next = 0
    const worker = async () => {
      while (next < ids.length) {
        signal?.throwIfAborted()
        const id = ids[next++]!
        const entry = wanted.get(bytesKey(id))!
        let altered = false
        let done = false
        for (const holder of entry.holders) {
          const data = await this.readEnvelope(owner, holder, id, entry.size).catch(() => undefined)
          if (!data) continue
          if (!equalBytes(envelopeIdOf(mailboxKey, data), id)) {
            altered = true
            continue
          }
          await take(id, data)
          done = true
          break
        }
        if (!done) (altered ? tampered : missing).push(id)
      }
    }
    await Promise.all(Array.from({ length: Math.min(READ_WINDOW, ids.length) }, worker))
    return { missing, tampered }
  }

  private async readEnvelope(
    owner: Identity,
    from: LookupNode,
    id: Bytes,
    size: number,
  ): Promise<Bytes> {
    const count = Math.ceil(size / FRAGMENT_BYTES)
    const out = new Uint8Array(size) as Bytes
    for (let index = 0; index < count; index++) {
      const reply = await this.ownerRequest(owner, from, {
        type: 'mailbox-get',
        kind: 'read',
        envelopeId: id,
        index,
      })
      if (reply.type !== 'mailbox-fragment' || reply.totalSize !== size || reply.index !== index) {
        throw new RemoteError('unexpected fragment')
      }
      out.set(reply.data, index * FRAGMENT_BYTES)
    }
    return out
  }

  /**
   * Deletes envelopes from `owner`'s mailbox on every replica found (and here). Idempotent.
   * Resolves with how many replicas confirmed.
   */
  async deleteEnvelopes(
    owner: Identity,
    ids: Uint8Array[],
  ): Promise<{ confirmed: number; replicas: number }> {
    const mailboxKey = mailboxKeyFor(owner.publicKey)
    const { closest } = await this.ctx.lookup(mailboxKey)
    const chunks: Bytes[][] = []
    for (let i = 0; i < ids.length; i += MAX_DELETE_IDS) {
      chunks.push(ids.slice(i, i + MAX_DELETE_IDS).map((id) => Uint8Array.from(id) as Bytes))
    }
    let confirmed = 0
    if (!this.ctx.client) {
      await this.ctx.mailboxStore.delete(mailboxKey, chunks.flat(), this.ctx.clock.now())
    }
    await Promise.all(
      closest.map(async (replica) => {
        try {
          for (const chunk of chunks) {
            const reply = await this.ownerRequest(owner, replica, {
              type: 'mailbox-delete',
              ids: chunk,
            })
            if (reply.type !== 'mailbox-delete-ack') throw new RemoteError('expected a delete ack')
          }
          confirmed++
        } catch {
          // Counted as not confirmed.
        }
      }),
    )
    return { confirmed, replicas: closest.length }
  }
}
