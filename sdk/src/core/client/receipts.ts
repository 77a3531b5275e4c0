import { fromHex, toHex } from '../wire/bytes.js'
import { MAX_RECEIPT_IDS, type ChatPayload } from './chat-payload.js'
import type { ClientContext } from './context.js'
import { outboxKey } from './outbox.js'
import type { ClientWriter, OutboxEntry } from './ports.js'
import type { ContactId, DeliveryEvent, DeliveryState } from './types.js'

/**
 * Receipts both ways: the ones owed to contacts (batched into one receipt message per
 * contact and kind, through the outbox) and the ones that come back (moving the state of
 * our messages forward, never back).
 */
export class Receipts {
  constructor(private readonly ctx: ClientContext) {}

  /**
   * Moves our messages named by a receipt from `sender` forward; inside the decrypting
   * transaction. Returns the delivery events to emit after the commit.
   */
  async apply(
    w: ClientWriter,
    payload: Extract<ChatPayload, { kind: 'receipt' }>,
    sender: ContactId,
  ): Promise<DeliveryEvent[]> {
    const state: DeliveryState = payload.receipt === 'read' ? 'read' : 'delivered'
    const deliveries: DeliveryEvent[] = []
    for (const id of payload.ids) {
      const hex = toHex(id)
      if ((await w.isOutgoingTo(hex, sender)) && (await w.advanceState(hex, state))) {
        deliveries.push({ messageId: hex, contactId: sender, state })
      }
    }
    return deliveries
  }

  /**
   * Turns owed receipts into receipt messages in the outbox, one per contact and kind for
   * each of the contact's devices; resolves with how many entries were queued.
   */
  async queue(): Promise<number> {
    const { ctx } = this
    if (ctx.account.deviceId === 0) return 0
    const added = await ctx.repository.transaction(async (w) => {
      const groups = new Map<
        string,
        { contact: ContactId; kind: 'delivered' | 'read'; ids: string[] }
      >()
      for (const r of await w.takePendingReceipts()) {
        const key = `${r.contactId}|${r.kind}`
        let g = groups.get(key)
        if (!g) {
          g = { contact: r.contactId, kind: r.kind, ids: [] }
          groups.set(key, g)
        }
        g.ids.push(r.messageId)
      }
      const entries: OutboxEntry[] = []
      for (const g of groups.values()) {
        // Memory only (no read inside a transaction): receipts are owed to known senders.
        const accountKey = ctx.contacts.knownKey(g.contact)
        if (!accountKey) continue
        let targets
        try {
          targets = ctx.outbox.recipients(g.contact, accountKey)
        } catch {
          continue // an older client, and this is not device 1: it cannot be told
        }
        for (let i = 0; i < g.ids.length; i += MAX_RECEIPT_IDS) {
          const body = {
            kind: 'receipt' as const,
            receipt: g.kind,
            ids: g.ids.slice(i, i + MAX_RECEIPT_IDS).map((h) => fromHex(h)),
          }
          const id = ctx.outbox.newMessageId()
          const sentAt = ctx.clock.now()
          for (const to of targets) {
            const entry = ctx.outbox.controlEntry(g.contact, to, body)
            // One receipt ID for all the contact's devices, like one message.
            entries.push({
              ...entry,
              id: outboxKey(toHex(id), g.contact, to),
              plaintext: ctx.outbox.plaintextFor(to, id, sentAt, body),
            })
          }
        }
      }
      return ctx.outbox.insertEntries(w, entries)
    })
    ctx.outbox.added(added)
    return added
  }
}
