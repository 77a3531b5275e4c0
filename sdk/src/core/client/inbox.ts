// Over 500 lines: every payload kind that arrives (texts, receipts, device and group
// control, sync copies) is dispatched and stored here, in the order the protocol requires;
// a split into per-kind handlers is the next step (a known debt, not a choice to keep), the
// group mailbox reader (`readGroupMailboxes`) first.
import { envelopeIdOf, mailboxKeyFor } from '../dht/keys.js'
import { isProvisioning } from '../devices/provisioning.js'
import {
  IdentityChangedError,
  ImpersonationError,
  MalformedError,
  NoSenderKeyError,
  NoSessionError,
  PassageError,
  ReplayError,
  RevokedDeviceError,
  TamperedError,
  UnknownPreKeyError,
} from '../errors.js'
import { nodeIdFromPublicKey } from '../identity/node-id.js'
import { encodeTextId } from '../identity/text-id.js'
import type { LinkPeer } from '../link/link-protocol.js'
import { decodeSignedRecord } from '../records/signed-record.js'
import type { AbortSignalLike } from '../runtime/host.js'
import { openSealedMessage, SignalMessageType } from '../signal/sealed-message.js'
import type { SignalStorage } from '../signal/signal-storage.js'
import { isGroupId } from '../groups/group-id.js'
import { groupMailboxIdentity } from '../groups/group-mailbox.js'
import { MAX_ENVELOPE_TTL_MS } from '../mailbox/mailbox-store.js'
import { signalAddressOfKey } from '../signal/signal-address.js'
import { equalBytes, fromHex, toHex, type Bytes } from '../wire/bytes.js'
import { decodeChatPayload, type ChatPayload } from './chat-payload.js'
import type { ClientContext } from './context.js'
import { directMessageId, type DirectFrame } from './direct-frame.js'
import { cleanDisplayName } from './display-name.js'
import { toChatMessage } from './outbox.js'
import type { ClientWriter, PendingGroupMessage, StoredMessage } from './ports.js'
import type {
  ChatMessage,
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
  /** Not handled now (a device no list names yet, the DHT unreachable): left for later. */
  | { status: 'deferred' }
  /** Kept (durable) until its group key comes: a group message that came before its key. */
  | { status: 'waiting' }

/** Who sent a message: an account's device, as its list names it. */
export interface Sender {
  /** The account's text ID. */
  account: string
  accountKey: Bytes
  deviceId: number
  deviceKey: Bytes
  /** Another device of this account. */
  own: boolean
}

interface Stored {
  message?: ChatMessage
  deliveries: DeliveryEvent[]
  duplicate: boolean
  /** Work once the transaction committed: lists taken, pushed, forwarded. */
  after: Array<() => Promise<void>>
  /** An `intro` set the sender's claimed name. */
  claimed?: boolean
}

/** An unsealed sender-key message of a member's device, as a link frame carries it. */
function groupFrame(peer: LinkPeer, message: Bytes): Extract<DirectFrame, { type: 'signal' }> {
  return {
    type: 'signal',
    deviceId: peer.account.deviceId,
    messageType: SignalMessageType.senderKey,
    message,
  }
}

/**
 * Incoming messages: fetched from the DHT mailbox (then deleted there), or received over a
 * direct link. Each is decrypted and stored in ONE transaction with the Signal ratchet step
 * (a crash can neither lose it nor show it twice), then shown; a refused one is recorded,
 * reported, and never retried. The sender's device must be active in its account's newest
 * device list (docs/PROTOCOL.md, "Devices").
 */
export class Inbox {
  /** When the mailbox was last fetched. */
  lastFetchAt: number | undefined
  private fetchChain: Promise<unknown> = Promise.resolve()
  private background: Promise<unknown> = Promise.resolve()
  /** During a fetch: group messages its keys unlocked (returned and shown with the fetch's). */
  private unlocked: ChatMessage[] | undefined

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
    const linked = ctx.account.deviceId !== 0
    const preKeysBefore = linked ? await ctx.session.countOneTimePreKeys() : 0
    // Messages stored by an earlier run that died before emitting them come first.
    const replayed = linked ? await ctx.repository.unnotifiedIncoming(MAX_REPLAYED_MESSAGES) : []
    const envelopes = await dht.fetchMailbox(ctx.identity)
    signal?.throwIfAborted()
    const handled: Bytes[] = []
    const fresh: ChatMessage[] = []
    this.unlocked = fresh
    const deliveries: DeliveryEvent[] = []
    const refusals: RefusedEvent[] = []
    // Envelopes sealed by a device 1 first: a revocation it pushed applies to the messages of
    // the revoked device fetched in the same batch, whatever order the replicas returned.
    const byAccountKey = envelopes.map((e) => this.sealedByDevice1(e.data))
    const ordered = envelopes
      .map((envelope, i) => ({ envelope, first: byAccountKey[i]! }))
      .sort((a, b) => Number(b.first) - Number(a.first))
      .map((o) => o.envelope)
    try {
      if (linked) await ctx.groups.retryKnown()
      for (const [index, envelope] of ordered.entries()) {
        if (ctx.closed) break
        const outcome = await this.processSealed(envelope.id, envelope.data, 'mailbox')
        ctx.faults.afterEnvelopeStored?.(index)
        if (outcome.status === 'deferred') continue
        handled.push(envelope.id)
        if (outcome.status === 'stored') {
          if (outcome.message) fresh.push(outcome.message)
          deliveries.push(...outcome.deliveries)
        } else if (outcome.status === 'refused') {
          refusals.push(outcome.event)
        }
      }
      // After the own mailbox: the chains (and their seeds) it brought are read at once.
      if (linked && !ctx.closed) await this.readGroupMailboxes(dht, fresh, deliveries, refusals)
    } finally {
      this.unlocked = undefined
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
    if (!linked) return shown
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

  /** Keeps a group message that came before its key (once). */
  private async keepWaiting(
    id: string,
    sender: Sender,
    distributionId: Bytes,
    route: MessageRoute,
    data: Bytes,
  ): Promise<void> {
    const { ctx } = this
    const pending: PendingGroupMessage = {
      id,
      sender: `${sender.account}.${sender.deviceId}`,
      distributionId: toHex(distributionId),
      route,
      data,
      receivedAt: ctx.clock.now(),
    }
    const added = await ctx.repository.transaction(async (w) => {
      await w.purgePendingGroupMessages(pending.receivedAt - MAX_WAITING_MS)
      return w.addPendingGroupMessage(pending)
    })
    // The key may have come while this was being kept (its retry looked before this row was
    // committed): try once more now.
    if (added && ctx.groups.knowsChain(pending.distributionId, pending.sender)) {
      void ctx.guard('a group message', () => this.retryPending(pending))
    }
  }

  /**
   * Tries a waiting group message again (its key came): stored, refused or duplicate, it no
   * longer waits; still without its key, it does.
   */
  async retryPending(pending: PendingGroupMessage): Promise<void> {
    const { ctx } = this
    let outcome: ProcessOutcome
    if (pending.route === 'mailbox') {
      outcome = await this.processSealed(fromHex(pending.id), pending.data, 'mailbox')
    } else {
      const peer = await this.memberPeer(pending.sender)
      if (peer === 'unknown') return
      if (peer === 'revoked') {
        await ctx.repository.transaction((w) => w.deletePendingGroupMessage(pending.id))
        return
      }
      outcome = await this.processDirect(groupFrame(peer, pending.data), fromHex(pending.id), peer)
    }
    if (outcome.status === 'waiting' || outcome.status === 'deferred') return
    await ctx.repository.transaction((w) => w.deletePendingGroupMessage(pending.id))
    if (outcome.status === 'stored') {
      if (outcome.message && this.unlocked) {
        this.unlocked.push(outcome.message)
      } else if (outcome.message) {
        ctx.events.emit('message', outcome.message)
        await ctx.repository.transaction((w) => w.setNotified([outcome.message!.id]))
      }
      for (const d of outcome.deliveries) ctx.events.emit('delivery', d)
    } else if (outcome.status === 'refused') {
      ctx.events.emit('refused', outcome.event)
    }
  }

  /**
   * A group member's device (`account.device`) as a link peer, to take its unsealed sender-key
   * messages: 'unknown' while its account key or list is not here (the message waits),
   * 'revoked' when its account's list does not name the device active (the message goes).
   */
  private async memberPeer(tag: string): Promise<LinkPeer | 'unknown' | 'revoked'> {
    const { ctx } = this
    const dot = tag.lastIndexOf('.')
    const account = tag.slice(0, dot)
    const deviceId = Number(tag.slice(dot + 1))
    // A member need not be a contact: its key comes from the group's state, which may not
    // be here yet (the text came over a link before it): then the text keeps waiting.
    const accountKey =
      account === ctx.account.textId
        ? ctx.account.publicKey
        : ((await ctx.contacts.key(account)) ?? ctx.groups.keyOf(account))
    if (!accountKey) return 'unknown'
    const deviceKey = ctx.devices.keyOf(account, deviceId, accountKey)
    // No list read yet: it waits for the member's list, as for its key.
    if (!deviceKey) return ctx.devices.published(account) ? 'revoked' : 'unknown'
    return {
      publicKey: deviceKey,
      account: { textId: account, publicKey: accountKey, deviceId },
    } as LinkPeer
  }

  /**
   * Reads the group mailboxes of the chains held (docs/PROTOCOL.md, "Group mailboxes"): every
   * envelope not read before is taken as a sender-key message of the chain's device, and
   * remembered as processed; nothing is deleted there (every member reads it; it expires).
   * A chain whose days were all read (every envelope taken) is noted read through now.
   */
  private async readGroupMailboxes(
    dht: NonNullable<ClientContext['network']['dht']>,
    fresh: ChatMessage[],
    deliveries: DeliveryEvent[],
    refusals: RefusedEvent[],
  ): Promise<void> {
    const { ctx } = this
    const now = ctx.clock.now()
    const boxes = ctx.groups.groupMailboxes(now)
    if (boxes.length === 0) return
    const skip = (id: Bytes) => ctx.repository.isProcessed(toHex(id))
    // Listed and read all at once (network), then taken one by one (each its own transaction).
    const read = await Promise.all(
      boxes.map(async (box) => {
        const days = await Promise.all(
          box.days.map((day) =>
            dht
              .fetchMailbox(groupMailboxIdentity(ctx.keys, box.seed, day), { skip })
              .catch(() => undefined),
          ),
        )
        return { box, days }
      }),
    )
    for (const { box, days } of read) {
      let complete = days.every((d) => d !== undefined)
      const peer = await this.memberPeer(box.sender)
      for (const envelope of days.flatMap((d) => d ?? [])) {
        if (ctx.closed) return
        const idHex = toHex(envelope.id)
        if (peer === 'revoked') {
          await ctx.repository.transaction((w) => w.markProcessed(idHex, ctx.clock.now(), 'ok'))
          continue
        }
        if (peer === 'unknown') {
          complete = false
          continue
        }
        if (ctx.contacts.isBlocked(peer.account.textId)) {
          // Dropped and counted, as a blocked sender's envelope in the own mailbox is.
          await ctx.repository.transaction(async (w) => {
            await w.markProcessed(idHex, ctx.clock.now(), 'blocked')
            await w.countDropped(peer.account.textId)
          })
          continue
        }
        const outcome = await this.processDirect(
          groupFrame(peer, envelope.data),
          envelope.id,
          peer,
          'mailbox',
        )
        if (outcome.status === 'deferred') {
          complete = false
          continue
        }
        await ctx.repository.transaction((w) => w.markProcessed(idHex, ctx.clock.now(), 'ok'))
        if (outcome.status === 'stored') {
          if (outcome.message) fresh.push(outcome.message)
          deliveries.push(...outcome.deliveries)
        } else if (outcome.status === 'refused') {
          refusals.push(outcome.event)
        }
      }
      if (complete) await ctx.groups.groupMailboxRead(box, now)
    }
  }

  /** The account a sealed message names as sender when it is blocked (no decryption). */
  private blockedSender(sealed: Bytes): string | undefined {
    if (isProvisioning(sealed)) return undefined
    try {
      const content = openSealedMessage(this.ctx.identity, sealed)
      const account = signalAddressOfKey(content.senderAccountKey ?? content.senderPublicKey).name
      return this.ctx.contacts.isBlocked(account) ? account : undefined
    } catch {
      return undefined
    }
  }

  /** Once committed, a `request` event for a stranger's first message or its new claimed name. */
  private announceRequest(stored: Stored, sender: Sender, made: boolean): void {
    if (!made && !stored.claimed) return
    stored.after.push(() => this.ctx.requests.announce(sender.account))
  }

  /** True when `sealed` opens and names device 1 of its account as sender (no decryption). */
  private sealedByDevice1(sealed: Bytes): boolean {
    if (isProvisioning(sealed)) return false
    try {
      return openSealedMessage(this.ctx.identity, sealed).senderDeviceId === 1
    } catch {
      return false
    }
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
   * of the link's authenticated peer (the sender's device, for the account its hello claims),
   * in ONE transaction with the ratchet step. A message seen before (libsignal's duplicate
   * check, then the message ID) is a duplicate; a refused one is recorded and reported.
   */
  private async processDirect(
    frame: Extract<DirectFrame, { type: 'signal' }>,
    id: Bytes,
    peer: LinkPeer,
    /** 'mailbox' for a group text read from its chain's group mailbox (unsealed as on a link). */
    route: MessageRoute = 'direct',
  ): Promise<ProcessOutcome> {
    const { ctx } = this
    if (ctx.account.deviceId === 0) return { status: 'deferred' }
    const claimed = peer.account
    // Blocked: no answer (a delivery receipt) and nothing decrypted; its sender falls back to
    // the mailbox, where the copy is dropped and counted.
    if (ctx.contacts.isBlocked(claimed.textId)) return { status: 'deferred' }
    let reason: RefusalReason | undefined
    let error: PassageError | undefined
    if (frame.deviceId !== claimed.deviceId) {
      reason = 'impersonation'
      error = new ImpersonationError('the frame names another device than the link’s')
    } else {
      let status = ctx.devices.status(
        claimed.textId,
        claimed.publicKey,
        claimed.deviceId,
        peer.publicKey,
      )
      if (status === 'unknown') {
        const ensured = await ctx.devices.ensure(
          claimed.publicKey,
          claimed.deviceId,
          peer.publicKey,
        )
        status = ensured.status
        // Unknown while the DHT cannot say: no answer, so the sender uses the mailbox.
        if (status === 'unknown' && !ensured.fetched) return { status: 'deferred' }
      }
      if (status === 'revoked') {
        reason = 'revoked-device'
        error = new RevokedDeviceError()
      } else if (status !== 'active') {
        reason = 'impersonation'
        error = new ImpersonationError('no device of the account has this key')
      }
    }
    if (reason && error) return this.refuse(toHex(id), reason, error, claimed.textId, route)
    const sender: Sender = {
      account: claimed.textId,
      accountKey: claimed.publicKey,
      deviceId: claimed.deviceId,
      deviceKey: peer.publicKey,
      own: claimed.textId === ctx.account.textId,
    }
    let stored: Stored = { deliveries: [], duplicate: false, after: [] }
    let now = 0
    let storedAt: number | undefined
    const address = { name: sender.account, deviceId: sender.deviceId }
    const persist = async (plaintext: Bytes, tx: SignalStorage, distributionId?: Bytes) => {
      const w = ctx.repository.writer(tx)
      const payload = decodeChatPayload(plaintext)
      now = ctx.clock.now()
      let made = false
      if (!sender.own && !isGroupPayload(payload)) {
        const lastSeen = ctx.contacts.lastSeenToStore(sender.account, now)
        if (lastSeen.write) made = await w.upsertSender(sender.account, sender.accountKey, now)
        storedAt = lastSeen.storedAt
      }
      stored = await this.store(w, payload, sender, route, now, tx, distributionId)
      this.announceRequest(stored, sender, made)
    }
    try {
      if (frame.messageType === SignalMessageType.senderKey) {
        const distributionId = ctx.session.groupDistributionId(frame.message)
        try {
          await ctx.session.groupDecrypt(address, frame.message, {
            persist: (plaintext, tx) => persist(plaintext, tx, distributionId),
          })
        } catch (error) {
          if (!(error instanceof NoSenderKeyError)) throw error
          await this.keepWaiting(toHex(id), sender, distributionId, 'direct', frame.message)
          return { status: 'waiting' }
        }
      } else {
        await ctx.session.decrypt(
          address,
          { type: frame.messageType, body: frame.message },
          { persist: (plaintext, tx) => persist(plaintext, tx) },
        )
      }
    } catch (error) {
      const reason = refusalReason(error)
      if (reason === undefined) throw error
      if (reason === 'replay') return { status: 'duplicate' }
      return this.refuse(toHex(id), reason, asPassageError(error), sender.account, route)
    }
    // Committed: the sender's row exists and holds last_seen_at = storedAt.
    if (storedAt !== undefined) ctx.contacts.seen(sender.account, now, storedAt)
    await this.runAfter(stored)
    if (stored.duplicate) return { status: 'duplicate' }
    if (stored.message && !sender.own && !isGroupId(stored.message.contactId)) {
      ctx.contacts.remember(sender.account, sender.accountKey)
    }
    return {
      status: 'stored',
      ...(stored.message ? { message: stored.message } : {}),
      deliveries: stored.deliveries,
    }
  }

  /**
   * Opens, decrypts and stores one sealed message in ONE transaction with the Signal ratchet
   * step and the processed-envelope mark. A message seen before is a duplicate; a refused one
   * is marked processed (so it is deleted and never retried) and reported. A provisioning
   * message (a device being linked) goes to the linking part.
   */
  private async processSealed(
    envelopeId: Bytes,
    sealed: Bytes,
    route: MessageRoute,
    linkPeer?: LinkPeer,
    retried = false,
  ): Promise<ProcessOutcome> {
    const { ctx } = this
    const idHex = toHex(envelopeId)
    if (await ctx.repository.isProcessed(idHex)) return { status: 'duplicate' }
    if (isProvisioning(sealed)) {
      await ctx.linking.receive(sealed, route)
      await ctx.repository.transaction((w) => w.markProcessed(idHex, ctx.clock.now(), 'ok'))
      return { status: 'stored', deliveries: [] }
    }
    if (ctx.account.deviceId === 0) return { status: 'deferred' }
    const blocked = ctx.contacts.hasBlocked() ? this.blockedSender(sealed) : undefined
    if (blocked !== undefined) {
      // Over a link: no answer (it goes to the mailbox). From the mailbox: dropped, counted.
      if (route === 'direct') return { status: 'deferred' }
      await ctx.repository.transaction(async (w) => {
        await w.markProcessed(idHex, ctx.clock.now(), 'blocked')
        await w.countDropped(blocked)
      })
      return { status: 'duplicate' }
    }
    let sender: Sender | undefined
    let stored: Stored = { deliveries: [], duplicate: false, after: [] }
    try {
      await ctx.session.openSealed(sealed, {
        persist: async (opened, tx) => {
          const w = ctx.repository.writer(tx)
          if (linkPeer && !equalBytes(opened.senderPublicKey, linkPeer.publicKey)) {
            throw new ImpersonationError('a sealed message on a link from another identity')
          }
          const s: Sender = {
            account: opened.sender.name,
            accountKey: opened.senderAccountKey,
            deviceId: opened.sender.deviceId,
            deviceKey: opened.senderPublicKey,
            own: opened.sender.name === ctx.account.textId,
          }
          const status = ctx.devices.status(s.account, s.accountKey, s.deviceId, s.deviceKey)
          if (status === 'revoked') throw new RevokedDeviceError()
          if (status !== 'active')
            throw new ImpersonationError('no device of the account has this key')
          const payload = decodeChatPayload(opened.plaintext)
          const now = ctx.clock.now()
          sender = s
          await w.markProcessed(idHex, now, 'ok')
          const made =
            !s.own && !isGroupPayload(payload)
              ? await w.upsertSender(s.account, s.accountKey, now)
              : false
          stored = await this.store(w, payload, s, route, now, tx, opened.groupDistributionId)
          this.announceRequest(stored, s, made)
        },
      })
    } catch (error) {
      if (error instanceof NoSenderKeyError) {
        // A group message before its key: kept (so it leaves the mailbox) until the key comes.
        const content = openSealedMessage(ctx.identity, sealed)
        const accountKey = content.senderAccountKey ?? content.senderPublicKey
        const waiting: Sender = {
          account: signalAddressOfKey(accountKey).name,
          accountKey,
          deviceId: content.senderDeviceId,
          deviceKey: content.senderPublicKey,
          own: false,
        }
        const distributionId = ctx.session.groupDistributionId(content.ciphertext)
        await this.keepWaiting(idHex, waiting, distributionId, route, sealed)
        return { status: 'waiting' }
      }
      let reason = refusalReason(error)
      if (reason === undefined) throw error
      // Who it claims to be, when the seal opens at all (for the report and the flag).
      let claimed: Sender | undefined
      try {
        const content = openSealedMessage(ctx.identity, sealed)
        const accountKey = content.senderAccountKey ?? content.senderPublicKey
        const account = signalAddressOfKey(accountKey).name
        claimed = {
          account,
          accountKey,
          deviceId: content.senderDeviceId,
          deviceKey: content.senderPublicKey,
          own: account === ctx.account.textId,
        }
      } catch {
        claimed = undefined
      }
      // A seal that does not even open is tampered bytes, whatever the decoder said.
      if (claimed === undefined) reason = 'tampered'
      else if (reason !== 'replay' && reason !== 'revoked-device' && reason !== 'malformed') {
        const status = ctx.devices.status(
          claimed.account,
          claimed.accountKey,
          claimed.deviceId,
          claimed.deviceKey,
        )
        if (status === 'revoked') reason = 'revoked-device'
        else if (status === 'unknown' && !retried) {
          // A device its account linked since we last looked: ask the DHT, then try again.
          const ensured = await ctx.devices.ensure(
            claimed.accountKey,
            claimed.deviceId,
            claimed.deviceKey,
          )
          if (ensured.status === 'active') {
            return this.processSealed(envelopeId, sealed, route, linkPeer, true)
          }
          if (ensured.status === 'unknown' && !ensured.fetched) return { status: 'deferred' }
        }
      }
      if (reason === 'replay') {
        await this.recordRefusal(idHex, reason, claimed?.account, route)
        return { status: 'duplicate' }
      }
      return this.refuse(idHex, reason, asPassageError(error), claimed?.account, route)
    }
    await this.runAfter(stored)
    if (stored.duplicate) return { status: 'duplicate' }
    const message = stored.message
    const oneToOne = message !== undefined && !isGroupId(message.contactId)
    if (message && oneToOne && sender && !sender.own)
      ctx.contacts.remember(message.contactId, sender.accountKey)
    // Over a link, the "stored" answer is the delivery receipt; from a mailbox, one is owed
    // (for a contact's text: copies between our own devices get none; group texts, none yet).
    if (message && oneToOne && route !== 'direct' && sender && !sender.own) {
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

  /** Stores a decrypted payload by its kind; runs inside the decrypting transaction. */
  private async store(
    w: ClientWriter,
    payload: ChatPayload,
    sender: Sender,
    route: MessageRoute,
    now: number,
    tx: SignalStorage,
    /** Set when the payload came in a sender-key (group) message: its chain. */
    distributionId?: Bytes,
  ): Promise<Stored> {
    const { ctx } = this
    const stored: Stored = { deliveries: [], duplicate: false, after: [] }
    const senderKeyKind = payload.kind === 'group-text' || payload.kind === 'group-attachment'
    if ((distributionId !== undefined) !== senderKeyKind) {
      throw new MalformedError('a group text travels in a sender-key message, and only it')
    }
    const lists = payload.lists
    if (!sender.own) {
      // A newer list of the sender's account, or none known yet (a version 1 payload from a
      // client that may speak devices): ask the DHT.
      stored.after.push(async () =>
        lists
          ? ctx.devices.hint(sender.account, sender.accountKey, lists.sender)
          : ctx.devices.probe(sender.account, sender.accountKey),
      )
    }
    const ownOnly = () => {
      if (!sender.own) throw new MalformedError(`a ${payload.kind} payload from another account`)
    }
    switch (payload.kind) {
      case 'text': {
        if (sender.own) throw new MalformedError('a text from another device of this account')
        const message = this.incoming(payload, sender.account, sender, route, now)
        if (!(await w.insertMessage(message))) return { ...stored, duplicate: true }
        stored.message = toChatMessage(message)
        // Addressed by an older list of ours: its sender learns the new one, and the devices
        // it did not know get a copy.
        const recipientSeq = lists?.recipient ?? 0
        const chat = stored.message
        stored.after.push(() => this.heal(sender, chat, recipientSeq, lists !== undefined))
        return stored
      }
      case 'receipt':
        if (sender.own) return stored
        stored.deliveries = await ctx.receipts.apply(w, payload, sender.account)
        return stored
      case 'device-list': {
        const record = decodeSignedRecord(payload.record)
        if (!equalBytes(record.publicKey, sender.accountKey)) {
          throw new MalformedError('a device list pushed by another account than its signer')
        }
        stored.after.push(async () => {
          await ctx.devices.accept(record, 'push')
        })
        return stored
      }
      case 'sync-sent': {
        ownOnly()
        const contactId = encodeTextId(payload.to)
        const message: StoredMessage = {
          id: toHex(payload.id),
          contactId,
          direction: 'out',
          sender: { account: sender.account, deviceId: sender.deviceId },
          text: payload.text,
          sentAt: payload.sentAt,
          receivedAt: now,
          state: 'sent',
          read: false,
          notified: true,
        }
        if (!(await w.insertMessage(message))) return { ...stored, duplicate: true }
        stored.deliveries.push({ messageId: message.id, contactId, state: 'sent' })
        return stored
      }
      case 'sync-read':
        ownOnly()
        await ctx.history.applySyncRead(w, encodeTextId(payload.peer), payload.ids.map(toHex))
        return stored
      case 'sync-contacts': {
        ownOnly()
        const done = await ctx.contacts.applySync(w, payload.contacts, now)
        stored.after.push(async () => done())
        return stored
      }
      case 'sync-in': {
        ownOnly()
        const from = encodeTextId(payload.from)
        const message = this.incoming(
          payload,
          from,
          { account: from, deviceId: payload.device },
          route,
          now,
        )
        if (!(await w.insertMessage(message))) return { ...stored, duplicate: true }
        stored.message = toChatMessage(message)
        return stored
      }
      case 'group-state':
        await ctx.groups.receiveState(w, payload.state, sender, stored.after)
        return stored
      case 'group-states':
        for (const state of payload.states) {
          await ctx.groups.receiveState(w, state, sender, stored.after)
        }
        return stored
      case 'group-key':
        await ctx.groups.receiveKey(
          w,
          tx,
          payload.group,
          payload.distribution,
          sender,
          stored.after,
          payload.seed,
          payload.sentAt,
        )
        return stored
      case 'group-sync-request':
        stored.after.push(() => ctx.groups.receiveSyncRequest(payload.group, payload.have, sender))
        return stored
      case 'intro':
        // A claim the user sees only marked as one (never as a contact's name).
        if (sender.own) return stored
        await w.setClaimedName(sender.account, cleanDisplayName(payload.name))
        stored.claimed = true
        return stored
      case 'attachment': {
        if (sender.own)
          throw new MalformedError('an attachment from another device of this account')
        const message = this.incoming(
          { ...payload, text: ctx.attachments.caption(payload.pointer) },
          sender.account,
          sender,
          route,
          now,
        )
        if (!(await w.insertMessage(message))) return { ...stored, duplicate: true }
        const row = await ctx.attachments.receive(w, message, payload.pointer)
        stored.message = ctx.attachments.decorate(toChatMessage(message), row)
        return stored
      }
      case 'attachment-request':
        stored.after.push(() => ctx.attachments.onRequest(toHex(payload.message), sender))
        return stored
      case 'attachment-renewed':
        stored.after.push(() =>
          ctx.attachments.onRenewed(toHex(payload.message), payload.expiresAt, sender),
        )
        return stored
      case 'group-attachment':
      case 'group-text': {
        const attached = payload.kind === 'group-attachment' ? payload.pointer : undefined
        const text = attached
          ? ctx.attachments.caption(attached)
          : (payload as { text: string }).text
        const message = await ctx.groups.receiveText(
          w,
          { id: payload.id, sentAt: payload.sentAt, group: payload.group, text },
          distributionId!,
          sender,
          route,
          now,
        )
        if (!message) return { ...stored, duplicate: true }
        const row = attached ? await ctx.attachments.receive(w, message, attached) : undefined
        if (sender.own) {
          stored.deliveries.push({
            messageId: message.id,
            contactId: message.contactId,
            state: 'sent',
          })
        } else {
          stored.message = ctx.attachments.decorate(toChatMessage(message), row)
        }
        return stored
      }
    }
  }

  private incoming(
    payload: { id: Bytes; sentAt: number; text: string },
    contactId: string,
    sender: { account: string; deviceId: number },
    route: MessageRoute,
    now: number,
  ): StoredMessage {
    return {
      id: toHex(payload.id),
      contactId,
      direction: 'in',
      sender: { account: sender.account, deviceId: sender.deviceId },
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
  }

  /**
   * A contact's text addressed us by list `recipientSeq`: when ours is newer, push it to the
   * contact, and forward the text to our devices linked after that list.
   */
  private async heal(
    sender: Sender,
    message: ChatMessage,
    recipientSeq: number,
    speaksDevices: boolean,
  ): Promise<void> {
    const { ctx } = this
    const own = ctx.devices.own()
    if (own.seq <= recipientSeq) return
    await ctx.guard('pushing the device list', () =>
      ctx.devices.answerStale(sender.account, recipientSeq, speaksDevices),
    )
    const unknown = new Set(
      own.devices.filter((d) => d.changedAt > recipientSeq).map((d) => d.deviceId),
    )
    const targets = ctx.devices.siblings().filter((t) => unknown.has(t.deviceId))
    await ctx.outbox.forward(
      message,
      { account: nodeIdFromPublicKey(sender.accountKey), deviceId: sender.deviceId },
      targets,
    )
  }

  private async runAfter(stored: Stored): Promise<void> {
    for (const work of stored.after) await this.ctx.guard('handling a message', work)
  }

  private async refuse(
    id: string,
    reason: RefusalReason,
    error: PassageError,
    claimed: string | undefined,
    route: MessageRoute,
  ): Promise<ProcessOutcome> {
    await this.recordRefusal(id, reason, claimed, route)
    return {
      status: 'refused',
      event: { reason, route, error, ...(claimed ? { claimedSender: claimed } : {}) },
    }
  }

  /**
   * Records a refused message (never retried; reported) and flags the contact it claims,
   * unless it is only damaged or comes from our own account.
   */
  private async recordRefusal(
    id: string,
    reason: RefusalReason,
    claimed: string | undefined,
    route: MessageRoute,
  ): Promise<void> {
    const at = this.ctx.clock.now()
    await this.ctx.repository.transaction(async (w) => {
      await w.markProcessed(id, at, reason)
      if (reason === 'replay') return
      await w.addRefusal({ id, reason, route, at, ...(claimed ? { claimedSender: claimed } : {}) })
      if (
        claimed &&
        claimed !== this.ctx.account.textId &&
        reason !== 'malformed' &&
        reason !== 'tampered'
      ) {
        await w.setContactFlag(claimed, reason)
      }
    })
  }
}

function refusalReason(error: unknown): RefusalReason | undefined {
  if (error instanceof ReplayError) return 'replay'
  if (error instanceof IdentityChangedError) return 'identity-changed'
  if (error instanceof RevokedDeviceError) return 'revoked-device'
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

/** How long a group message waits for its key before it is dropped (as long as envelopes live). */
const MAX_WAITING_MS = MAX_ENVELOPE_TTL_MS

/** Group payloads do not make their sender a contact (members need not be contacts). */
function isGroupPayload(payload: ChatPayload): boolean {
  return payload.kind.startsWith('group-')
}
