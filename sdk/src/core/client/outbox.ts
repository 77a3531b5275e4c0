import { envelopeIdOf, mailboxKeyFor } from '../dht/keys.js'
import { IdentityChangedError, MalformedError, NoSessionError, NotFoundError } from '../errors.js'
import { randomFraction, type AbortSignalLike } from '../runtime/host.js'
import { sealMessage, SignalMessageType } from '../signal/sealed-message.js'
import { PRIMARY_DEVICE_ID } from '../signal/signal-address.js'
import type { SignalCiphertext } from '../signal/signal-session.js'
import { backoffDelay } from '../util/backoff.js'
import { concatBytes, toBytes, toHex, type Bytes } from '../wire/bytes.js'
import { encodeChatPayload, MESSAGE_ID_BYTES } from './chat-payload.js'
import type { ClientContext } from './context.js'
import { stateRank } from './delivery-state.js'
import { directMessageId, encodeDirectFrame, type DirectFrame } from './direct-frame.js'
import type { OutboxEntry, StoredMessage } from './ports.js'
import type {
  ChatMessage,
  ContactId,
  DeliveryState,
  MessageRoute,
  SendOptions,
  SignalOptions,
} from './types.js'

/** First retry delay of an outbox entry that nothing took; doubles up to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 5_000
const MAX_RETRY_MS = 600_000 // 10 min
/** Up to this share of a retry delay is random, so clients that lost the same network do not retry in step. */
const RETRY_JITTER = 0.2

/** An outbox entry a link or a mailbox took, waiting for its write (see `writeDelivered`). */
interface AckedEntry {
  entry: OutboxEntry
  state: DeliveryState
  route: MessageRoute
  resolve: (changed: boolean) => void
  reject: (error: unknown) => void
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
  private flushChain: Promise<unknown> = Promise.resolve()
  /**
   * Acknowledged entries waiting for their write. The answers to many messages in flight
   * arrive together; one transaction writes them all (delete from the outbox, move the state),
   * and each caller resolves after that commit.
   */
  private acked: AckedEntry[] | undefined

  constructor(private readonly ctx: ClientContext) {}

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

  async send(contactId: ContactId, text: string, options: SendOptions = {}): Promise<ChatMessage> {
    const { ctx } = this
    options.signal?.throwIfAborted()
    if (!(await ctx.contacts.key(contactId))) {
      throw new NotFoundError(`${contactId} is not a contact; add it first`)
    }
    const id = this.newMessageId()
    const idHex = toHex(id)
    const now = ctx.clock.now()
    // Strictly increasing send times order messages even when the clock stands still (and
    // when sends overlap: the last one is taken here, synchronously).
    const sentAt = Math.max(now, this.lastSentAt + 1)
    this.lastSentAt = sentAt
    const plaintext = encodeChatPayload({ kind: 'text', id, sentAt, text })
    const message: StoredMessage = {
      id: idHex,
      contactId,
      direction: 'out',
      text,
      sentAt,
      receivedAt: now,
      state: 'pending',
      read: false,
      notified: true,
    }
    const entry: OutboxEntry = {
      id: idHex,
      contactId,
      plaintext,
      messageId: idHex,
      createdAt: now,
      attempts: 0,
      nextAttemptAt: now,
    }
    if (ctx.options.network !== false && options.wait !== false) {
      // Accepted with the ratchet step: the message, its outbox entry and its Signal message
      // commit in the encryption's transaction. Until then send() has not resolved and
      // nothing is stored: a crash before it loses a message nobody was told was accepted.
      if (await this.encryptNew(message, entry, plaintext)) {
        this.added(1)
        await this.deliver(entry, options.signal, message)
      }
      return toChatMessage(message)
    }
    await this.store(message, entry)
    this.added(1)
    if (ctx.options.network !== false) this.flushSoon()
    return toChatMessage(message)
  }

  private store(message: StoredMessage, entry: OutboxEntry): Promise<void> {
    return this.ctx.repository.transaction(async (w) => {
      await w.insertMessage(message)
      await w.insertOutbox(entry)
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
      await ctx.session.encrypt({ name: entry.contactId, deviceId: PRIMARY_DEVICE_ID }, plaintext, {
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
      await this.store(message, entry)
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

  async flush(options: SignalOptions = {}): Promise<number> {
    const { ctx } = this
    if (ctx.options.network === false || ctx.closed) return 0
    const run = async () => {
      const due = await ctx.repository.dueOutbox(ctx.clock.now())
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
  ): Promise<boolean> {
    const { ctx } = this
    if (this.delivering.has(entry.id) || ctx.closed) return false
    this.delivering.add(entry.id)
    try {
      const publicKey = await ctx.contacts.key(entry.contactId)
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
            { name: entry.contactId, deviceId: PRIMARY_DEVICE_ID },
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
      // A message sealed by an earlier version goes as it is; else the Signal message, unsealed.
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
      if (await ctx.direct.sendAwaitingStored(publicKey, encodeDirectFrame(frame), ackId, signal)) {
        ctx.faults.afterDeliver?.()
        await this.delivered(entry, 'delivered', 'direct', message)
        return true
      }
      const dht = ctx.network.dht
      if (dht && dht.table.size > 0) {
        signal?.throwIfAborted()
        if (!sealed) {
          // Sealed once and saved before the first put: every attempt puts the same envelope.
          const bytes = sealMessage(
            publicKey,
            {
              senderPublicKey: ctx.identity.publicKey,
              senderDeviceId: ctx.session.address.deviceId,
              type: ciphertext!.type,
              ciphertext: ciphertext!.body,
            },
            ctx.keys,
          )
          await ctx.repository.transaction((w) => w.setOutboxSealed(entry.id, bytes))
          entry.sealed = bytes
          sealed = bytes
        }
        const result = await dht.putEnvelope(publicKey, sealed)
        if (result.stored > 0) {
          ctx.faults.afterDeliver?.()
          await this.delivered(entry, 'stored', 'mailbox', message)
          return true
        }
      }
      await this.retryLater(entry)
      return false
    } finally {
      this.delivering.delete(entry.id)
    }
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
    return new Promise<boolean>((resolve, reject) => {
      let batch = this.acked
      if (!batch) {
        const taken: AckedEntry[] = []
        this.acked = batch = taken
        this.ctx.repository
          .transaction(async (w) => {
            // Acks that come after this point start the next batch.
            if (this.acked === taken) this.acked = undefined
            const changed: boolean[] = []
            for (const a of taken) {
              await w.deleteOutbox(a.entry.id)
              changed.push(
                a.entry.messageId
                  ? await w.advanceState(a.entry.messageId, a.state, a.route)
                  : false,
              )
            }
            return changed
          })
          .then(
            (changed) => taken.forEach((a, i) => a.resolve(changed[i]!)),
            (error: unknown) => taken.forEach((a) => a.reject(error)),
          )
      }
      batch.push({ entry, state, route, resolve, reject })
    })
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

/** The outbox's Signal message: `type (1) || Signal message`. */
function encodeOutboxSignal(message: SignalCiphertext): Bytes {
  return concatBytes(Uint8Array.of(message.type), message.body)
}

function decodeOutboxSignal(bytes: Uint8Array): SignalCiphertext {
  const type = bytes[0]
  if (type !== SignalMessageType.whisper && type !== SignalMessageType.preKey) {
    throw new MalformedError(`an outbox entry holds an unknown Signal message type ${type}`)
  }
  return { type, body: toBytes(bytes.subarray(1)) }
}

/** The public form of a stored message. */
export function toChatMessage(m: StoredMessage): ChatMessage {
  const { notified: _, ...message } = m
  return message
}
