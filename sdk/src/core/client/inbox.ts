import { envelopeIdOf, mailboxKeyFor } from '../dht/keys.js'
import {
  IdentityChangedError,
  ImpersonationError,
  MalformedError,
  NoSessionError,
  PassageError,
  ReplayError,
  TamperedError,
  UnknownPreKeyError,
} from '../errors.js'
import type { LinkPeer } from '../link/link-protocol.js'
import type { AbortSignalLike } from '../runtime/host.js'
import { openSealedMessage } from '../signal/sealed-message.js'
import { signalAddressOfKey } from '../signal/signal-address.js'
import { equalBytes, toHex, type Bytes } from '../wire/bytes.js'
import { decodeChatPayload, type ChatPayload } from './chat-payload.js'
import type { ClientContext } from './context.js'
import { directMessageId, type DirectFrame } from './direct-frame.js'
import { toChatMessage } from './outbox.js'
import type { ClientWriter, StoredMessage } from './ports.js'
import type {
  ChatMessage,
  ContactId,
  DeliveryEvent,
  MessageRoute,
  RefusalReason,
  RefusedEvent,
  SignalOptions,
} from './types.js'

/** Stored messages whose event a previous run never emitted, shown again at most per fetch. */
const MAX_REPLAYED_MESSAGES = 1000

/** What became of one incoming message. */
export type ProcessOutcome =
  | { status: 'stored'; message?: ChatMessage; deliveries: DeliveryEvent[] }
  | { status: 'duplicate' }
  | { status: 'refused'; event: RefusedEvent }

interface Stored {
  message?: ChatMessage
  deliveries: DeliveryEvent[]
  duplicate: boolean
}

/**
 * Incoming messages: fetched from the DHT mailbox (then deleted there), or received over a
 * direct link. Each is decrypted and stored in ONE transaction with the Signal ratchet step
 * (a crash can neither lose it nor show it twice), then shown; a refused one is recorded,
 * reported, and never retried.
 */
export class Inbox {
  /** When the mailbox was last fetched. */
  lastFetchAt: number | undefined
  private fetchChain: Promise<unknown> = Promise.resolve()
  private background: Promise<unknown> = Promise.resolve()

  constructor(private readonly ctx: ClientContext) {}

  /** Resolves once fetches and the work they started are over. */
  async settled(): Promise<void> {
    await Promise.allSettled([this.fetchChain, this.background])
  }

  fetch(options: SignalOptions = {}): Promise<ChatMessage[]> {
    if (this.ctx.options.network === false || !this.ctx.network.dht) return Promise.resolve([])
    const run = () => this.fetchOnce(options.signal)
    const result = this.fetchChain.then(run, run)
    this.fetchChain = result.catch(() => undefined)
    return result
  }

  private async fetchOnce(signal: AbortSignalLike | undefined): Promise<ChatMessage[]> {
    const { ctx } = this
    const dht = ctx.network.dht
    if (!dht || ctx.closed) return []
    signal?.throwIfAborted()
    if (dht.table.size === 0) await ctx.presence.joinDht()
    const preKeysBefore = await ctx.session.countOneTimePreKeys()
    // Messages stored by an earlier run that died before emitting them come first.
    const replayed = await ctx.repository.unnotifiedIncoming(MAX_REPLAYED_MESSAGES)
    const envelopes = await dht.fetchMailbox(ctx.identity)
    signal?.throwIfAborted()
    const handled: Bytes[] = []
    const fresh: ChatMessage[] = []
    const deliveries: DeliveryEvent[] = []
    const refusals: RefusedEvent[] = []
    for (const [index, envelope] of envelopes.entries()) {
      if (ctx.closed) break
      const outcome = await this.processSealed(envelope.id, envelope.data, 'mailbox')
      ctx.faults.afterEnvelopeStored?.(index)
      handled.push(envelope.id)
      if (outcome.status === 'stored') {
        if (outcome.message) fresh.push(outcome.message)
        deliveries.push(...outcome.deliveries)
      } else if (outcome.status === 'refused') {
        refusals.push(outcome.event)
      }
    }
    this.lastFetchAt = ctx.clock.now()
    fresh.sort((a, b) => a.sentAt - b.sentAt || a.id.localeCompare(b.id))
    const shown = [...replayed, ...fresh]
    await this.notify(shown)
    for (const d of deliveries) ctx.events.emit('delivery', d)
    for (const r of refusals) ctx.events.emit('refused', r)
    if (handled.length > 0) {
      ctx.faults.beforeMailboxDelete?.()
      await dht.deleteEnvelopes(ctx.identity, handled)
    }
    await ctx.receipts.queue()
    ctx.events.statusChanged()
    if (ctx.outbox.count > 0 && !ctx.closed) ctx.outbox.flushSoon()
    // A first message used a one-time pre-key: publish a bundle without it.
    if ((await ctx.session.countOneTimePreKeys()) < preKeysBefore) ctx.presence.markBundleStale()
    if (ctx.presence.needsPublish && !ctx.closed) {
      this.background = ctx.guard('publishing the pre-key bundle', () =>
        ctx.presence.publishBundle(),
      )
    }
    return shown
  }

  /** Emits `message` events, then records that they were emitted. */
  private async notify(messages: ChatMessage[]): Promise<void> {
    if (messages.length === 0) return
    for (const m of messages) this.ctx.events.emit('message', m)
    await this.ctx.repository.transaction((w) => w.setNotified(messages.map((m) => m.id)))
  }

  /** A message frame from a link peer: processed, with the ID its "stored" answer names. */
  async receiveDirect(
    frame: Extract<DirectFrame, { type: 'signal' | 'sealed' }>,
    peer: LinkPeer,
  ): Promise<{ id: Bytes; outcome: ProcessOutcome }> {
    if (frame.type === 'signal') {
      const id = directMessageId(frame.message)
      return { id, outcome: await this.processDirect(frame, id, peer) }
    }
    const id = envelopeIdOf(mailboxKeyFor(this.ctx.identity.publicKey), frame.sealed)
    return { id, outcome: await this.processSealed(id, frame.sealed, 'direct', peer) }
  }

  /** Emits what a direct message stored (already marked emitted: the emit follows at once). */
  announce(outcome: ProcessOutcome): void {
    if (outcome.status !== 'stored') return
    if (outcome.message) this.ctx.events.emit('message', outcome.message)
    for (const d of outcome.deliveries) this.ctx.events.emit('delivery', d)
  }

  /**
   * Decrypts and stores a Signal message that came unsealed over a link, under the session
   * of the link's authenticated peer (the sender), in ONE transaction with the ratchet step.
   * A message seen before (libsignal's duplicate check, then the message ID) is a duplicate;
   * a refused one is recorded and reported.
   */
  private async processDirect(
    frame: Extract<DirectFrame, { type: 'signal' }>,
    id: Bytes,
    peer: LinkPeer,
  ): Promise<ProcessOutcome> {
    const { ctx } = this
    let stored: Stored = { deliveries: [], duplicate: false }
    let now = 0
    let storedAt = 0
    try {
      await ctx.session.decrypt(
        { name: peer.textId, deviceId: frame.deviceId },
        { type: frame.messageType, body: frame.message },
        {
          persist: async (plaintext, tx) => {
            const w = ctx.repository.writer(tx)
            const payload = decodeChatPayload(plaintext)
            now = ctx.clock.now()
            const lastSeen = ctx.contacts.lastSeenToStore(peer.textId, now)
            if (lastSeen.write) await w.upsertSender(peer.textId, peer.publicKey, now)
            storedAt = lastSeen.storedAt
            stored = await this.store(w, payload, peer.textId, 'direct', now)
          },
        },
      )
    } catch (error) {
      const reason = refusalReason(error)
      if (reason === undefined) throw error
      if (reason === 'replay') return { status: 'duplicate' }
      await this.recordRefusal(toHex(id), reason, peer.textId, 'direct')
      return {
        status: 'refused',
        event: {
          reason,
          route: 'direct',
          error: asPassageError(error),
          claimedSender: peer.textId,
        },
      }
    }
    // Committed: the sender's row exists and holds last_seen_at = storedAt.
    ctx.contacts.seen(peer.textId, now, storedAt)
    if (stored.duplicate) return { status: 'duplicate' }
    if (stored.message) ctx.contacts.remember(peer.textId, peer.publicKey)
    return {
      status: 'stored',
      ...(stored.message ? { message: stored.message } : {}),
      deliveries: stored.deliveries,
    }
  }

  /**
   * Opens, decrypts and stores one sealed message in ONE transaction with the Signal ratchet
   * step and the processed-envelope mark. A message seen before is a duplicate; a refused one
   * is marked processed (so it is deleted and never retried) and reported.
   */
  private async processSealed(
    envelopeId: Bytes,
    sealed: Bytes,
    route: MessageRoute,
    linkPeer?: LinkPeer,
  ): Promise<ProcessOutcome> {
    const { ctx } = this
    const idHex = toHex(envelopeId)
    if (await ctx.repository.isProcessed(idHex)) return { status: 'duplicate' }
    let senderKey: Bytes | undefined
    let stored: Stored = { deliveries: [], duplicate: false }
    try {
      await ctx.session.openSealed(sealed, {
        persist: async (opened, tx) => {
          const w = ctx.repository.writer(tx)
          if (linkPeer && !equalBytes(opened.senderPublicKey, linkPeer.publicKey)) {
            throw new ImpersonationError('a sealed message on a link from another identity')
          }
          const payload = decodeChatPayload(opened.plaintext)
          const now = ctx.clock.now()
          const sender = opened.sender.name
          senderKey = opened.senderPublicKey
          await w.markProcessed(idHex, now, 'ok')
          await w.upsertSender(sender, opened.senderPublicKey, now)
          stored = await this.store(w, payload, sender, route, now)
        },
      })
    } catch (error) {
      let reason = refusalReason(error)
      if (reason === undefined) throw error
      // Who it claims to be, when the seal opens at all (for the report and the flag).
      let claimed: string | undefined
      try {
        claimed = signalAddressOfKey(openSealedMessage(ctx.identity, sealed).senderPublicKey).name
      } catch {
        claimed = undefined
      }
      // A seal that does not even open is tampered bytes, whatever the decoder said.
      if (claimed === undefined) reason = 'tampered'
      await this.recordRefusal(idHex, reason, claimed, route)
      if (reason === 'replay') return { status: 'duplicate' }
      return {
        status: 'refused',
        event: {
          reason,
          route,
          error: asPassageError(error),
          ...(claimed ? { claimedSender: claimed } : {}),
        },
      }
    }
    if (stored.duplicate) return { status: 'duplicate' }
    const message = stored.message
    if (message && senderKey) ctx.contacts.remember(message.contactId, senderKey)
    // Over a link, the "stored" answer is the delivery receipt; from a mailbox, one is owed.
    if (message && route !== 'direct') {
      await ctx.repository.transaction((w) =>
        w.addPendingReceipt({
          contactId: message.contactId,
          messageId: message.id,
          kind: 'delivered',
        }),
      )
    }
    return { status: 'stored', ...(message ? { message } : {}), deliveries: stored.deliveries }
  }

  /** Stores a decrypted payload; runs inside the decrypting transaction. */
  private async store(
    w: ClientWriter,
    payload: ChatPayload,
    sender: ContactId,
    route: MessageRoute,
    now: number,
  ): Promise<Stored> {
    if (payload.kind === 'receipt') {
      return { deliveries: await this.ctx.receipts.apply(w, payload, sender), duplicate: false }
    }
    if (payload.kind !== 'text') return { deliveries: [], duplicate: false }
    const message: StoredMessage = {
      id: toHex(payload.id),
      contactId: sender,
      direction: 'in',
      text: payload.text,
      sentAt: payload.sentAt,
      receivedAt: now,
      state: 'delivered',
      read: false,
      route,
      // Mailbox messages are marked once their event was emitted; direct ones are emitted
      // right after this commit.
      notified: route === 'direct',
    }
    if (!(await w.insertMessage(message))) return { deliveries: [], duplicate: true }
    return { message: toChatMessage(message), deliveries: [], duplicate: false }
  }

  /**
   * Records a refused message (never retried; reported) and flags the contact it claims,
   * unless it is only damaged.
   */
  private async recordRefusal(
    id: string,
    reason: RefusalReason,
    claimed: ContactId | undefined,
    route: MessageRoute,
  ): Promise<void> {
    const at = this.ctx.clock.now()
    await this.ctx.repository.transaction(async (w) => {
      await w.markProcessed(id, at, reason)
      if (reason === 'replay') return
      await w.addRefusal({ id, reason, route, at, ...(claimed ? { claimedSender: claimed } : {}) })
      if (claimed && reason !== 'malformed' && reason !== 'tampered') {
        await w.setContactFlag(claimed, reason)
      }
    })
  }
}

function refusalReason(error: unknown): RefusalReason | undefined {
  if (error instanceof ReplayError) return 'replay'
  if (error instanceof IdentityChangedError) return 'identity-changed'
  if (error instanceof ImpersonationError) return 'impersonation'
  if (error instanceof MalformedError) return 'malformed'
  if (
    error instanceof TamperedError ||
    error instanceof NoSessionError ||
    error instanceof UnknownPreKeyError
  ) {
    return 'tampered'
  }
  return undefined
}

function asPassageError(error: unknown): PassageError {
  return error instanceof PassageError ? error : new TamperedError(undefined, { cause: error })
}
