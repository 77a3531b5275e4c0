import { fromHex, toHex } from '../wire/bytes.js'
import { encodeChatPayload, MAX_RECEIPT_IDS, type ChatPayload } from './chat-payload.js'
import type { ClientContext } from './context.js'
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

  /** Turns owed receipts into receipt messages in the outbox; resolves with how many. */
  async queue(): Promise<number> {
    const { ctx } = this
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
      const now = ctx.clock.now()
      let count = 0
      for (const g of groups.values()) {
        for (let i = 0; i < g.ids.length; i += MAX_RECEIPT_IDS) {
          const id = ctx.outbox.newMessageId()
          const entry: OutboxEntry = {
            id: toHex(id),
            contactId: g.contact,
            plaintext: encodeChatPayload({
              kind: 'receipt',
              id,
              sentAt: now,
              receipt: g.kind,
              ids: g.ids.slice(i, i + MAX_RECEIPT_IDS).map((h) => fromHex(h)),
            }),
            createdAt: now,
            attempts: 0,
            nextAttemptAt: now,
          }
          await w.insertOutbox(entry)
          count++
        }
      }
      return count
    })
    ctx.outbox.added(added)
    return added
  }
}
