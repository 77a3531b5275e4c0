import { isGroupId } from '../groups/group-id.js'
import { NotFoundError } from '../errors.js'
import { fromHex } from '../wire/bytes.js'
import { MAX_RECEIPT_IDS } from './chat-payload.js'
import type { ClientContext } from './context.js'
import type { ClientWriter } from './ports.js'
import type { ChatMessage, ContactId, Conversation, HistoryOptions, MessageId } from './types.js'

const DEFAULT_HISTORY_LIMIT = 50
const MAX_HISTORY_LIMIT = 1000

/** Conversations and their messages, and marking them read (which owes read receipts). */
export class History {
  constructor(private readonly ctx: ClientContext) {}

  async conversations(): Promise<Conversation[]> {
    const out: Conversation[] = []
    const unread = await this.ctx.repository.unreadCounts()
    for (const group of this.ctx.groups.list()) {
      const lastMessage = await this.last(group.id)
      const joinedAt = this.ctx.groups.joinedAt(group.id)
      out.push({
        contact: {
          id: group.id,
          textId: group.id,
          publicKey: new Uint8Array(0),
          name: group.name,
          addedAt: joinedAt,
          online: false,
          unread: unread.get(group.id) ?? 0,
        },
        group,
        ...(lastMessage ? { lastMessage } : {}),
        unread: unread.get(group.id) ?? 0,
        updatedAt: lastMessage ? Math.max(lastMessage.sentAt, lastMessage.receivedAt) : joinedAt,
      })
    }
    for (const contact of await this.ctx.contacts.list()) {
      const lastMessage = await this.last(contact.id)
      out.push({
        contact,
        ...(lastMessage ? { lastMessage } : {}),
        unread: contact.unread,
        updatedAt: lastMessage
          ? Math.max(lastMessage.sentAt, lastMessage.receivedAt)
          : contact.addedAt,
      })
    }
    return out.sort((a, b) => b.updatedAt - a.updatedAt)
  }

  private async last(contactId: ContactId): Promise<ChatMessage | undefined> {
    const message = await this.ctx.repository.lastMessage(contactId)
    return message ? (await this.ctx.attachments.decorateAll([message]))[0] : undefined
  }

  async messages(contactId: ContactId, options: HistoryOptions = {}): Promise<ChatMessage[]> {
    const limit = Math.min(Math.max(options.limit ?? DEFAULT_HISTORY_LIMIT, 1), MAX_HISTORY_LIMIT)
    const page = await this.ctx.repository.messagesBefore(contactId, limit, options.before)
    if (!page) throw new NotFoundError(`no message ${options.before}`)
    return this.ctx.attachments.decorateAll(page.reverse())
  }

  /** Tells our other devices these messages were read here. */
  private async syncRead(contactId: ContactId, ids: MessageId[]): Promise<void> {
    const { ctx } = this
    const targets = ctx.devices.siblings()
    const key = await ctx.contacts.key(contactId)
    if (targets.length === 0 || !key) return
    const peer = ctx.contacts.nodeIdOf(key)
    for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) {
      const chunk = ids.slice(i, i + MAX_RECEIPT_IDS).map((id) => fromHex(id))
      await ctx.outbox.enqueueControl({ kind: 'sync-read', peer, ids: chunk }, targets, contactId)
    }
  }

  /** Marks incoming messages read from a sync of another device of ours: no receipts again. */
  async applySyncRead(w: ClientWriter, contactId: ContactId, ids: MessageId[]): Promise<void> {
    const found = await w.unreadIncoming(contactId, ids)
    if (found.length > 0) await w.setRead(found)
  }

  async markRead(contactId: ContactId, messageIds?: MessageId[]): Promise<number> {
    const { ctx } = this
    ctx.requireLinked()
    if (isGroupId(contactId)) {
      // A group's texts: read here (no read receipts for groups yet).
      const found = await ctx.repository.transaction(async (w) => {
        const unread = await w.unreadIncoming(contactId, messageIds)
        if (unread.length > 0) await w.setRead(unread)
        return unread
      })
      return found.length
    }
    const ids = await ctx.repository.transaction(async (w) => {
      const found = await w.unreadIncoming(contactId, messageIds)
      if (found.length === 0) return found
      await w.setRead(found)
      for (const messageId of found)
        await w.addPendingReceipt({ contactId, messageId, kind: 'read' })
      return found
    })
    if (ids.length > 0) {
      await ctx.receipts.queue()
      await this.syncRead(contactId, ids)
      if (ctx.options.network !== false) ctx.outbox.flushSoon('sending receipts')
    }
    return ids.length
  }
}
