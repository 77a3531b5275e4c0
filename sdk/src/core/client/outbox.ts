// Over 500 lines: the one path from a message to the wire (encrypt, seal, link or mailbox,
// retry, fan-out) with its crash-safety order in one place; batching is apart (write-batch.ts).
// Splitting fan-out from single delivery is the next step.
import { groupMailboxDay, groupMailboxIdentity } from '../groups/group-mailbox.js'
import { MAX_ENVELOPE_TTL_MS } from '../mailbox/mailbox-store.js'
import { cleanDisplayName } from './display-name.js'
import { envelopeIdOf, mailboxKeyFor } from '../dht/keys.js'
import {
  IdentityChangedError,
  MalformedError,
  NoSessionError,
  NotFoundError,
  UnsupportedError,
} from '../errors.js'
import { randomFraction, type AbortSignalLike } from '../runtime/host.js'
import { sealMessage, SignalMessageType } from '../signal/sealed-message.js'
import type { SignalCiphertext } from '../signal/signal-session.js'
import { backoffDelay } from '../util/backoff.js'
import { concatBytes, fromHex, toBytes, toHex, type Bytes } from '../wire/bytes.js'
import {
  encodeChatPayload,
  isGroupPayloadKind,
  MESSAGE_ID_BYTES,
  type ChatPayload,
} from './chat-payload.js'
import type { ClientContext } from './context.js'
import { stateRank } from './delivery-state.js'
import { WriteBatch } from './write-batch.js'
import { FanOutPuts } from './fan-out-puts.js'
import { directMessageId, encodeDirectFrame, type DirectFrame } from './direct-frame.js'
import type { ClientWriter, OutboxEntry, StoredMessage, Target } from './ports.js'
import type {
  ChatMessage,
  ContactId,
  DeliveryState,
  MessageRoute,
  SendOptions,
  FlushOptions,
} from './types.js'

/** First retry delay of an outbox entry that nothing took; doubles up to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 5_000
const MAX_RETRY_MS = 600_000 // 10 min
/** Up to this share of a retry delay is random, so clients that lost the same network do not retry in step. */
const RETRY_JITTER = 0.2

/** A payload's kind and body, without the ID, time and list seqs each copy gets. */
type PayloadBody = DistributiveOmit<ChatPayload, 'id' | 'sentAt' | 'lists'>
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** The key of an outbox entry: the payload ID for a contact's device 1 (as before devices). */
export function outboxKey(payloadId: string, contactId: ContactId, to: Target): string {
  return to.account === contactId && to.deviceId === 1
    ? payloadId
    : `${payloadId}/${to.account}.${to.deviceId}`
}

/**
 * The pseudo-target of a group text's one copy in its chain's group mailbox (docs/PROTOCOL.md,
 * "Group mailboxes"): device 0 of the group, the chain's seed in the entry's `sealed` (the
 * mailbox is the one of the day of each put).
 */
export function groupMailboxTarget(groupId: ContactId): Target {
  return { account: groupId, deviceId: 0 }
}

function isGroupMailboxEntry(entry: OutboxEntry): boolean {
  return entry.to?.deviceId === 0 && entry.to.account === entry.contactId
}

/** An outbox entry a link or a mailbox took, waiting for its write. */
interface AckedEntry {
  entry: OutboxEntry
  state: DeliveryState
  route: MessageRoute
}

/**
 * The copies of one fan-out that something took, held until every copy had its attempt, then
 * written at once. Each copy's attempt settles exactly once: by `take` (it waits for the write)
 * or, when nothing took it, by `attempted` when the attempt is over.
 */
class FanOutAcks {
  private readonly taken: Array<
    AckedEntry & { resolve: () => void; reject: (error: unknown) => void }
  > = []
  private readonly settled = new Set<OutboxEntry>()

  constructor(
    private open: number,
    private readonly write: (acks: AckedEntry[]) => Promise<unknown>,
  ) {}

  take(entry: OutboxEntry, state: DeliveryState, route: MessageRoute): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.taken.push({ entry, state, route, resolve, reject })
      this.settle(entry)
    })
  }

  attempted(entry: OutboxEntry): void {
    this.settle(entry)
  }

  private settle(entry: OutboxEntry): void {
    if (this.settled.has(entry)) return
    this.settled.add(entry)
    if (--this.open > 0) return
    const taken = this.taken.splice(0)
    if (taken.length === 0) return
    this.write(taken).then(
      () => taken.forEach((a) => a.resolve()),
      (error: unknown) => taken.forEach((a) => a.reject(error)),
    )
  }
}

/**
 * Deletes taken entries and moves their messages' states, in one transaction; true for each
 * entry that moved its message. A fan-out's copies move one message: its state is written
 * once per state and route, not once per copy.
 */
async function writeAcks(w: ClientWriter, acks: AckedEntry[]): Promise<boolean[]> {
  const moved = new Set<string>()
  const changed: boolean[] = []
  for (const { entry, state, route } of acks) {
    await w.deleteOutbox(entry.id)
    const key = `${entry.messageId}/${state}/${route}`
    if (!entry.messageId || moved.has(key)) {
      changed.push(false)
      continue
    }
    moved.add(key)
    changed.push(await w.advanceState(entry.messageId, state, route))
  }
  return changed
}

/**
 * Outgoing messages and receipts: saved first (a crash loses nothing that `send` accepted),
 * Signal-encrypted once (with the ratchet step, in one transaction), then delivered over a
 * direct link (the Signal message as is) or into the recipient's DHT mailbox (sealed once,
 * saved, then put); retried with backoff until something takes them.
 */
export class Outbox {
  /** Entries waiting, in step with the table. */
  count = 0
  /** The latest `sentAt` of an outgoing message (the next one is later), kept in memory. */
  private lastSentAt = 0
  private readonly delivering = new Set<string>()
  /** Accounts this client sent an `intro` while it runs (one per account per run). */
  private readonly introduced = new Set<ContactId>()
  private flushChain: Promise<unknown> = Promise.resolve()
  /**
   * Taken entries: the answers to many copies in flight arrive together; one transaction
   * deletes them all from the outbox and moves their messages' states.
   */
  private readonly acks: WriteBatch<AckedEntry, boolean>
  /** Envelopes sealed for the mailbox, saved before their first put, many per transaction. */
  private readonly seals: WriteBatch<{ id: string; sealed: Bytes }, undefined>

  constructor(private readonly ctx: ClientContext) {
    this.acks = new WriteBatch(() => ctx.repository, writeAcks)
    this.seals = new WriteBatch(
      () => ctx.repository,
      async (w, items) => {
        for (const { id, sealed } of items) await w.setOutboxSealed(id, sealed)
        return items.map(() => undefined)
      },
    )
  }

  /** Resolves once flushes in progress are over. */
  async settled(): Promise<void> {
    await this.flushChain.catch(() => undefined)
  }

  async open(): Promise<void> {
    this.count = await this.ctx.repository.outboxCount()
    this.lastSentAt = await this.ctx.repository.lastSentAt()
  }

  newMessageId(): Bytes {
    return this.ctx.random(MESSAGE_ID_BYTES)
  }

  /** `n` entries joined the outbox elsewhere (receipts). */
  added(n: number): void {
    if (n === 0) return
    this.count += n
    this.ctx.events.statusChanged()
  }

  /** Entries left the outbox elsewhere (a revoked device's). */
  removed(n: number): void {
    if (n === 0) return
    this.count = Math.max(0, this.count - n)
    this.ctx.events.statusChanged()
  }

  /**
   * The devices a payload to the contact `contactId` goes to: its account's active devices.
   * A contact with no device list (an older client) can only be reached from device 1.
   */
  recipients(contactId: ContactId, accountKey: Bytes): Target[] {
    const { ctx } = this
    if (ctx.account.deviceId !== 1 && !ctx.devices.published(contactId)) {
      throw new UnsupportedError(
        `${contactId} runs an older Passage that only talks to device 1 of an account; send from device 1`,
      )
    }
    return ctx.devices.targets(contactId, accountKey)
  }

  /**
   * The plaintext of `body` for `to`: version 2 (with list seqs) when its account speaks
   * devices (our own always does), else version 1.
   */
  plaintextFor(to: Target, id: Bytes, sentAt: number, body: PayloadBody): Bytes {
    const { devices, account } = this.ctx
    // The kinds beyond receipts exist only in version 2: sent to whoever speaks devices.
    const v2 =
      to.account === account.textId ||
      devices.published(to.account) ||
      (body.kind !== 'text' && body.kind !== 'receipt')
    const lists = v2
      ? { lists: { sender: devices.seqOf(account.textId), recipient: devices.seqOf(to.account) } }
      : {}
    return encodeChatPayload({ ...body, id, sentAt, ...lists } as ChatPayload)
  }

  private entry(
    contactId: ContactId,
    to: Target,
    id: Bytes,
    sentAt: number,
    body: PayloadBody,
    messageId: string | undefined,
  ): OutboxEntry {
    const now = this.ctx.clock.now()
    const idHex = toHex(id)
    return {
      id: outboxKey(idHex, contactId, to),
      contactId,
      ...(to.account === contactId && to.deviceId === 1 ? {} : { to }),
      plaintext: this.plaintextFor(to, id, sentAt, body),
      ...(messageId !== undefined ? { messageId } : {}),
      createdAt: now,
      attempts: 0,
      nextAttemptAt: now,
    }
  }

  /**
   * The send time of the next outgoing message: strictly increasing, so messages keep their
   * order even when the clock stands still (and when sends overlap: it is taken synchronously).
   */
  nextSentAt(now: number): number {
    const sentAt = Math.max(now, this.lastSentAt + 1)
    this.lastSentAt = sentAt
    return sentAt
  }

  /** A new outgoing message of this device in the conversation `contactId` (a contact's or a group's). */
  outgoing(
    contactId: ContactId,
    id: string,
    text: string,
    sentAt: number,
    now: number,
  ): StoredMessage {
    const { account } = this.ctx
    return {
      id,
      contactId,
      direction: 'out',
      sender: { account: account.textId, deviceId: account.deviceId },
      text,
      sentAt,
      receivedAt: now,
      state: 'pending',
      read: false,
      notified: true,
    }
  }

  /**
   * Stores a message and its entries (already encrypted: a group message's one sender-key
   * ciphertext in every entry), then delivers them all at once, as a fan-out.
   */
  async sendPrepared(
    message: StoredMessage,
    entries: OutboxEntry[],
    options: SendOptions = {},
  ): Promise<ChatMessage> {
    const { ctx } = this
    if (ctx.options.network !== false) await this.sealAhead(entries)
    await this.store(message, entries)
    this.added(entries.length)
    if (ctx.options.network === false) return toChatMessage(message)
    if (options.wait === false) {
      this.flushSoon()
      return toChatMessage(message)
    }
    await this.deliverAll(entries, options.signal, message)
    return toChatMessage(message)
  }

  /**
   * Delivers a fan-out's copies at once; the copies taken are written in one transaction once
   * every copy had its attempt (one commit per fan-out, not one per copy: their answers come
   * one by one). `message` follows the state of the copies that carry it.
   */
  private async deliverAll(
    entries: OutboxEntry[],
    signal: AbortSignalLike | undefined,
    message?: StoredMessage,
  ): Promise<void> {
    const taken = new FanOutAcks(entries.length, (acks) =>
      Promise.all(
        acks.map((a) =>
          this.delivered(a.entry, a.state, a.route, a.entry.messageId ? message : undefined),
        ),
      ),
    )
    const dht = this.ctx.network.dht
    const puts = dht && new FanOutPuts(entries.length, (envelopes) => dht.putEnvelopes(envelopes))
    await Promise.all(
      entries.map((e) =>
        this.deliver(e, signal, e.messageId ? message : undefined, taken, puts)
          .catch((error: unknown) => {
            if (signal?.aborted) throw error
            this.ctx.events.error(error, 'sending a message')
          })
          .finally(() => {
            puts?.done(e)
            taken.attempted(e)
          }),
      ),
    )
  }

  /**
   * Seals the copies of an encrypted fan-out whose device has no open link, so that they are
   * stored with the message (one transaction), not sealed and saved one by one on their way
   * to the mailbox. A copy whose device is linked goes over the link unsealed.
   */
  private async sealAhead(entries: OutboxEntry[]): Promise<void> {
    const { ctx } = this
    if (!ctx.network.dht) return
    const links = ctx.network.links
    for (const entry of entries) {
      if (entry.sealed || !entry.signal || ctx.groups.coveredByGroupMailbox(entry)) continue
      const publicKey = await this.deviceKey(targetOf(entry))
      if (!publicKey || links?.link(ctx.contacts.nodeIdOf(publicKey))) continue
      entry.sealed = this.seal(publicKey, decodeOutboxSignal(entry.signal))
    }
  }

  async send(
    contactId: ContactId,
    text: string,
    options: SendOptions = {},
    /** An attachment's pointer and the message ID chosen for it (the text is its caption). */
    attachment?: { id: Bytes; pointer: Bytes },
  ): Promise<ChatMessage> {
    const { ctx } = this
    options.signal?.throwIfAborted()
    ctx.requireLinked()
    const accountKey = await ctx.contacts.key(contactId)
    if (!accountKey) throw new NotFoundError(`${contactId} is not a contact; add it first`)
    if (ctx.account.deviceId !== 1 && !ctx.devices.published(contactId)) {
      // A contact synced from another device of ours: its list may not be fetched yet.
      await ctx.devices.refresh(contactId, accountKey, true)
    }
    // Before the targets: looking for an intro's recipient's list may find its devices.
    const intro = await this.introFor(contactId, accountKey)
    const targets = this.recipients(contactId, accountKey)
    const id = attachment?.id ?? this.newMessageId()
    const idHex = toHex(id)
    const now = ctx.clock.now()
    const sentAt = this.nextSentAt(now)
    const message = this.outgoing(contactId, idHex, text, sentAt, now)
    const body: PayloadBody = attachment
      ? { kind: 'attachment', pointer: attachment.pointer }
      : { kind: 'text', text }
    const entries = targets.map((to) => this.entry(contactId, to, id, sentAt, body, idHex))
    // Our other devices get a copy of a text (an attachment has no copy kind yet).
    const copy = { kind: 'sync-sent' as const, to: ctx.contacts.nodeIdOf(accountKey), text }
    for (const to of attachment ? [] : ctx.devices.siblings()) {
      entries.push(this.entry(contactId, to, id, sentAt, copy, undefined))
    }
    if (intro !== undefined) {
      // Named before the text (delivered first when online): the contact may not know us.
      const now = ctx.options.network !== false && options.wait !== false
      await this.enqueueControl({ kind: 'intro', name: intro }, targets, contactId, now)
    }
    if (ctx.options.network !== false && options.wait !== false) {
      if (entries.length === 1) {
        // Accepted with the ratchet step: the message, its outbox entry and its Signal
        // message commit in the encryption's transaction. Until then send() has not resolved
        // and nothing is stored: a crash before it loses a message nobody was told was
        // accepted.
        if (await this.encryptNew(message, entries[0]!, entries[0]!.plaintext)) {
          this.added(1)
          await this.deliver(entries[0]!, options.signal, message)
        }
        return toChatMessage(message)
      }
      // Fan-out: the message and every copy are saved first, then each is encrypted under its
      // device's session and delivered, all at once.
      await this.store(message, entries)
      this.added(entries.length)
      await this.deliverAll(entries, options.signal, message)
      return toChatMessage(message)
    }
    await this.store(message, entries)
    this.added(entries.length)
    if (ctx.options.network !== false) this.flushSoon()
    return toChatMessage(message)
  }

  /**
   * Our display name, when a text to `contactId` should carry an `intro` (docs/PROTOCOL.md,
   * "Intro"): we have one, and no 1:1 payload from that account came yet (it may not know us).
   * Once per account while this client runs (a long-lived client names itself with its first
   * text; each short `passage send` run with its own). Only to an account that speaks version
   * 2 (published a device list; one not known yet is looked up once): one from before devices
   * would refuse it.
   */
  private async introFor(contactId: ContactId, accountKey: Bytes): Promise<string | undefined> {
    const { ctx } = this
    const name = cleanDisplayName(ctx.account.name)
    if (name === undefined || this.introduced.has(contactId)) return undefined
    if (ctx.contacts.heardFrom(contactId)) return undefined
    const row = await ctx.repository.contact(contactId)
    if (row?.lastSeenAt !== undefined) return undefined
    this.introduced.add(contactId)
    if (!ctx.devices.published(contactId) && ctx.options.network !== false) {
      await ctx.devices.refresh(contactId, accountKey)
    }
    return ctx.devices.published(contactId) ? name : undefined
  }

  /**
   * Queues a payload that moves no message (a device list, a copy for our own devices…) to
   * `targets`, in the conversation `contactId` (default: the target's account), and flushes soon.
   */
  async enqueueControl(
    body: PayloadBody,
    targets: Target[],
    contactId?: ContactId,
    /** Deliver them now, and resolve once each was taken or deferred (what must go first). */
    now = false,
  ): Promise<void> {
    if (targets.length === 0) return
    // One payload ID per account: the outbox key of a device 1 is the bare ID, so accounts
    // sharing one would share one entry (and all but the first get nothing).
    const ids = new Map<string, Bytes>()
    const sentAt = this.ctx.clock.now()
    const entries = targets.map((to) => {
      let id = ids.get(to.account)
      if (!id) ids.set(to.account, (id = this.newMessageId()))
      return this.entry(contactId ?? to.account, to, id, sentAt, body, undefined)
    })
    const added = await this.ctx.repository.transaction((w) => insertAll(w, entries))
    this.added(added)
    if (this.ctx.options.network === false) return
    if (!now) return this.flushSoon()
    await this.deliverAll(entries, undefined)
  }

  /** Queues payloads built in a transaction (receipts); resolves with how many were new. */
  insertEntries(w: ClientWriter, entries: OutboxEntry[]): Promise<number> {
    return insertAll(w, entries)
  }

  /** Builds the entry of `body` with its own ID for `to`, in `contactId`'s conversation. */
  controlEntry(contactId: ContactId, to: Target, body: PayloadBody): OutboxEntry {
    return this.entry(contactId, to, this.newMessageId(), this.ctx.clock.now(), body, undefined)
  }

  /** Sends stored outgoing texts again to one device of their contact (a device it linked since). */
  async resend(messages: ChatMessage[], to: Target): Promise<void> {
    const entries = messages
      // An attachment without a caption has no text to send again.
      .filter((m) => m.direction === 'out' && m.text !== '')
      .map((m) =>
        this.entry(m.contactId, to, fromHex(m.id), m.sentAt, { kind: 'text', text: m.text }, m.id),
      )
    const added = await this.ctx.repository.transaction((w) => insertAll(w, entries))
    this.added(added)
    if (added > 0 && this.ctx.options.network !== false) this.flushSoon()
  }

  /** Sends copies (`sync-sent`) of texts this device sent to a contact to one of our devices. */
  async copy(messages: ChatMessage[], contactKey: Bytes, to: Target): Promise<void> {
    const peer = this.ctx.contacts.nodeIdOf(contactKey)
    const entries = messages
      .filter((m) => m.text !== '')
      .map((m) =>
        this.entry(
          m.contactId,
          to,
          fromHex(m.id),
          m.sentAt,
          { kind: 'sync-sent', to: peer, text: m.text },
          undefined,
        ),
      )
    const added = await this.ctx.repository.transaction((w) => insertAll(w, entries))
    this.added(added)
    if (added > 0 && this.ctx.options.network !== false) this.flushSoon()
  }

  /** Queues a text a contact addressed by an older list to our devices it did not know. */
  async forward(
    message: ChatMessage,
    from: { account: Bytes; deviceId: number },
    targets: Target[],
  ): Promise<void> {
    if (targets.length === 0) return
    const id = fromHex(message.id)
    const body = {
      kind: 'sync-in' as const,
      from: from.account,
      device: from.deviceId,
      text: message.text,
    }
    const entries = targets.map((to) =>
      this.entry(message.contactId, to, id, message.sentAt, body, undefined),
    )
    const added = await this.ctx.repository.transaction((w) => insertAll(w, entries))
    this.added(added)
    if (this.ctx.options.network !== false) this.flushSoon()
  }

  private store(message: StoredMessage, entries: OutboxEntry[]): Promise<void> {
    return this.ctx.repository.transaction(async (w) => {
      await w.insertMessage(message)
      await insertAll(w, entries)
    })
  }

  /**
   * Signal-encrypts a new message and stores it, its outbox entry and the Signal message in
   * the transaction of the ratchet step. True when it did; false when there is no usable
   * session (no bundle, or a changed identity key): then the message waits in the outbox as
   * plaintext, as a message sent offline would.
   */
  private async encryptNew(
    message: StoredMessage,
    entry: OutboxEntry,
    plaintext: Bytes,
  ): Promise<boolean> {
    const { ctx } = this
    ctx.faults.beforeSeal?.()
    try {
      await ctx.session.encrypt(targetOf(entry), plaintext, {
        persist: async (m, tx) => {
          entry.signal = encodeOutboxSignal(m)
          const w = ctx.repository.writer(tx)
          await w.insertMessage(message)
          await w.insertOutbox(entry)
        },
      })
      return true
    } catch (error) {
      if (!(error instanceof NoSessionError || error instanceof IdentityChangedError)) throw error
      delete entry.signal
      await this.store(message, [entry])
      this.added(1)
      await this.retryLater(entry)
      if (error instanceof IdentityChangedError)
        await ctx.contacts.flag(entry.contactId, 'identity-changed')
      return false
    }
  }

  /** Retries the outbox now, in the background; failures are `error` events. */
  flushSoon(what = 'sending'): void {
    void this.flush().catch((error: unknown) => this.ctx.events.error(error, what))
  }

  async flush(options: FlushOptions = {}): Promise<number> {
    const { ctx } = this
    if (ctx.options.network === false || ctx.closed) return 0
    const run = async () => {
      // `all`: every entry, however far its next retry is.
      const due = await ctx.repository.dueOutbox(
        options.all === true ? Number.MAX_SAFE_INTEGER : ctx.clock.now(),
      )
      let sent = 0
      for (const entry of due) {
        if (ctx.closed) break
        options.signal?.throwIfAborted()
        try {
          if (await this.deliver(entry, options.signal)) sent++
        } catch (error) {
          if (options.signal?.aborted) throw error
          // One entry failing (a crash hook, a store error) does not hold up the others.
          ctx.events.error(error, 'sending a message')
          await this.retryLater(entry).catch(() => {})
        }
      }
      return sent
    }
    const result = this.flushChain.then(run, run)
    this.flushChain = result.catch(() => undefined)
    return result
  }

  /**
   * One delivery attempt of an outbox entry: Signal-encrypt (once; the message is saved with
   * the ratchet step), then a direct link (the message as is), then the mailbox (sealed
   * once, saved, then put). True when something took it. `message`, when the caller holds
   * it, follows its state.
   */
  private async deliver(
    entry: OutboxEntry,
    signal: AbortSignalLike | undefined,
    message?: StoredMessage,
    /** A fan-out's copies: taken ones are written together (see `deliverAll`). */
    fanOut?: FanOutAcks,
    /** A fan-out's mailbox puts, sent together (see {@link FanOutPuts}). */
    puts?: FanOutPuts,
  ): Promise<boolean> {
    const { ctx } = this
    if (this.delivering.has(entry.id) || ctx.closed) return false
    this.delivering.add(entry.id)
    try {
      if (isGroupMailboxEntry(entry))
        return await this.deliverToGroupMailbox(entry, message, fanOut, puts)
      const to = targetOf(entry)
      // A revoked device gets nothing.
      const publicKey = await this.deviceKey(to)
      if (!publicKey) {
        await this.drop(entry.id)
        return false
      }
      let sealed = entry.sealed
      let ciphertext = entry.signal ? decodeOutboxSignal(entry.signal) : undefined
      if (!sealed && !ciphertext) {
        ctx.faults.beforeSeal?.()
        try {
          ciphertext = await ctx.session.encrypt(
            // A contact's ID is its key's text ID: no hashing per message.
            to,
            entry.plaintext,
            {
              persist: (m, tx) =>
                ctx.repository.writer(tx).setOutboxSignal(entry.id, encodeOutboxSignal(m)),
            },
          )
        } catch (error) {
          if (error instanceof NoSessionError || error instanceof IdentityChangedError) {
            await this.retryLater(entry)
            if (error instanceof IdentityChangedError)
              await ctx.contacts.flag(entry.contactId, 'identity-changed')
            return false
          }
          throw error
        }
      }
      ctx.faults.beforeDeliver?.()
      if (
        ctx.direct.mayReach(publicKey) &&
        (await this.sendDirect(publicKey, ciphertext, sealed, signal))
      ) {
        ctx.faults.afterDeliver?.()
        // No put for this copy: the others' puts must not wait for it (take waits for them).
        puts?.done(entry)
        await (fanOut
          ? fanOut.take(entry, 'delivered', 'direct')
          : this.delivered(entry, 'delivered', 'direct', message))
        return true
      }
      // A group text whose device reads the chain's group mailbox: that copy is its copy.
      if (ctx.groups.coveredByGroupMailbox(entry)) {
        puts?.done(entry)
        await (fanOut
          ? fanOut.take(entry, 'stored', 'mailbox')
          : this.delivered(entry, 'stored', 'mailbox', message))
        return true
      }
      const dht = ctx.network.dht
      if (dht && dht.table.size > 0) {
        signal?.throwIfAborted()
        if (!sealed) {
          // Sealed once and saved before the first put: every attempt puts the same envelope.
          const bytes = this.seal(publicKey, ciphertext!)
          await this.seals.add({ id: entry.id, sealed: bytes })
          entry.sealed = bytes
          sealed = bytes
        }
        // A group's envelopes (states, keys, texts) are kept the longest a replica allows
        // (30 days): a member away for two weeks still finds all of that time.
        const ttl = isGroupPayloadKind(entry.plaintext[1]) ? { ttlMs: MAX_ENVELOPE_TTL_MS } : {}
        const result = await (puts
          ? puts.put(entry, { recipientKey: publicKey, data: sealed, ...ttl })
          : dht.putEnvelope(publicKey, sealed, ttl))
        if (result.stored > 0) return await this.takenByMailbox(entry, message, fanOut)
      }
      await this.retryLater(entry)
      return false
    } finally {
      this.delivering.delete(entry.id)
    }
  }

  /**
   * A group text's one copy for the devices that read its chain's group mailbox: the
   * sender-key message as it is (it names no account; the mailbox's key is the chain's secret),
   * kept 30 days, read by every such device and deleted by none.
   */
  private async deliverToGroupMailbox(
    entry: OutboxEntry,
    message: StoredMessage | undefined,
    fanOut: FanOutAcks | undefined,
    puts: FanOutPuts | undefined,
  ): Promise<boolean> {
    const { ctx } = this
    const dht = ctx.network.dht
    if (dht && dht.table.size > 0 && entry.sealed && entry.signal) {
      const day = groupMailboxDay(ctx.clock.now())
      const envelope = {
        recipientKey: groupMailboxIdentity(ctx.keys, entry.sealed, day).publicKey,
        data: decodeOutboxSignal(entry.signal).body,
        ttlMs: MAX_ENVELOPE_TTL_MS,
      }
      const result = await (puts
        ? puts.put(entry, envelope)
        : dht.putEnvelope(envelope.recipientKey, envelope.data, { ttlMs: envelope.ttlMs }))
      if (result.stored > 0) return await this.takenByMailbox(entry, message, fanOut)
    }
    await this.retryLater(entry)
    return false
  }

  /** A copy a mailbox's replica took: `stored`, out of the outbox. */
  private async takenByMailbox(
    entry: OutboxEntry,
    message: StoredMessage | undefined,
    fanOut: FanOutAcks | undefined,
  ): Promise<true> {
    this.ctx.faults.afterDeliver?.()
    await (fanOut
      ? fanOut.take(entry, 'stored', 'mailbox')
      : this.delivered(entry, 'stored', 'mailbox', message))
    return true
  }

  /**
   * Over a direct link: a message sealed by an earlier version as it is; else the Signal
   * message, unsealed. True once the peer answered "stored".
   */
  private sendDirect(
    publicKey: Bytes,
    ciphertext: SignalCiphertext | undefined,
    sealed: Bytes | undefined,
    signal: AbortSignalLike | undefined,
  ): Promise<boolean> {
    const { ctx } = this
    const [frame, ackId]: [DirectFrame, Bytes] = ciphertext
      ? [
          {
            type: 'signal',
            deviceId: ctx.session.address.deviceId,
            messageType: ciphertext.type,
            message: ciphertext.body,
          },
          directMessageId(ciphertext.body),
        ]
      : [{ type: 'sealed', sealed: sealed! }, envelopeIdOf(mailboxKeyFor(publicKey), sealed!)]
    return ctx.direct.sendAwaitingStored(publicKey, encodeDirectFrame(frame), ackId, signal)
  }

  /** A Signal message sealed to a device key for its mailbox. */
  private seal(publicKey: Bytes, ciphertext: SignalCiphertext): Bytes {
    const { ctx } = this
    return sealMessage(
      publicKey,
      {
        senderPublicKey: ctx.identity.publicKey,
        senderDeviceId: ctx.session.address.deviceId,
        senderAccountKey: ctx.account.publicKey,
        type: ciphertext.type,
        ciphertext: ciphertext.body,
      },
      ctx.keys,
    )
  }

  /** The key of a device while its account lists it active; undefined for a revoked one. */
  private async deviceKey(to: { name: ContactId; deviceId: number }): Promise<Bytes | undefined> {
    const { ctx } = this
    const accountKey =
      to.name === ctx.account.textId ? ctx.account.publicKey : await ctx.contacts.key(to.name)
    return accountKey && ctx.devices.keyOf(to.name, to.deviceId, accountKey)
  }

  private async delivered(
    entry: OutboxEntry,
    state: DeliveryState,
    route: MessageRoute,
    message?: StoredMessage,
  ): Promise<void> {
    const changed = await this.writeDelivered(entry, state, route)
    this.count = Math.max(0, this.count - 1)
    // The caller's message is at least where this answer puts it, even when a receipt that
    // came first (a fast reader) moved it further already.
    if (message) {
      if (stateRank(state) > stateRank(message.state)) message.state = state
      message.route ??= route
    }
    if (entry.messageId && changed) {
      this.ctx.events.emit('delivery', {
        messageId: entry.messageId,
        contactId: entry.contactId,
        state,
        route,
      })
    }
    this.ctx.events.statusChanged()
  }

  /** Removes a taken entry from the outbox and moves its message's state; true if it moved. */
  private writeDelivered(
    entry: OutboxEntry,
    state: DeliveryState,
    route: MessageRoute,
  ): Promise<boolean> {
    return this.acks.add({ entry, state, route })
  }

  /** The entry waits for its next try, later each time (the shared backoff). */
  private async retryLater(entry: OutboxEntry): Promise<void> {
    const attempts = entry.attempts + 1
    const delay = backoffDelay(attempts, () => randomFraction(this.ctx.random), {
      initialMs: FIRST_RETRY_MS,
      maxMs: MAX_RETRY_MS,
      jitter: RETRY_JITTER,
    })
    await this.ctx.repository.transaction((w) =>
      w.deferOutbox(entry.id, attempts, this.ctx.clock.now() + delay),
    )
  }

  private async drop(id: string): Promise<void> {
    await this.ctx.repository.transaction((w) => w.deleteOutbox(id))
    this.count = Math.max(0, this.count - 1)
  }
}

/** Where an entry goes, as a Signal address. */
function targetOf(entry: OutboxEntry): { name: ContactId; deviceId: number } {
  return entry.to
    ? { name: entry.to.account, deviceId: entry.to.deviceId }
    : { name: entry.contactId, deviceId: 1 }
}

/** Inserts entries (one already there is kept); resolves with how many were new. */
async function insertAll(w: ClientWriter, entries: OutboxEntry[]): Promise<number> {
  let added = 0
  for (const entry of entries) if (await w.insertOutbox(entry)) added++
  return added
}

/** The outbox's Signal message: `type (1) || Signal message`. */
function encodeOutboxSignal(message: SignalCiphertext): Bytes {
  return concatBytes(Uint8Array.of(message.type), message.body)
}

export function decodeOutboxSignal(bytes: Uint8Array): SignalCiphertext {
  const type = bytes[0]
  if (
    type !== SignalMessageType.whisper &&
    type !== SignalMessageType.preKey &&
    type !== SignalMessageType.senderKey
  ) {
    throw new MalformedError(`an outbox entry holds an unknown Signal message type ${type}`)
  }
  return { type, body: toBytes(bytes.subarray(1)) }
}

/** The public form of a stored message. */
export function toChatMessage(m: StoredMessage): ChatMessage {
  const { notified: _, ...message } = m
  return message
}
