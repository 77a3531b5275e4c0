import { NotFoundError } from '../errors.js'
import type { ClientContext } from './context.js'
import { cleanDisplayName } from './display-name.js'
import type { ContactRecord } from './ports.js'
import type { ChatContact, ChatRequest, ContactId, RequestBook } from './types.js'

/**
 * Contact requests (docs/PROTOCOL.md, "Contact requests"): an account that is not a contact
 * and writes first gets a row marked as a request; its messages are stored and shown in the
 * request, its claimed name kept apart from contacts' names, until the user accepts, declines
 * or blocks it.
 */
export class RequestList implements RequestBook {
  constructor(private readonly ctx: ClientContext) {}

  async list(): Promise<ChatRequest[]> {
    const rows = (await this.ctx.repository.contacts()).filter((r) => r.request && !r.blocked)
    const unread = await this.ctx.repository.unreadCounts()
    const out: ChatRequest[] = []
    for (const row of rows) out.push(await this.toRequest(row, unread.get(row.id) ?? 0))
    return out.sort(
      (a, b) =>
        (b.lastSeenAt ?? b.firstSeenAt) - (a.lastSeenAt ?? a.firstSeenAt) ||
        a.id.localeCompare(b.id),
    )
  }

  async get(id: ContactId): Promise<ChatRequest | undefined> {
    const row = await this.ctx.repository.contact(id.trim())
    if (!row?.request || row.blocked) return undefined
    return this.toRequest(row, (await this.ctx.repository.unreadCounts()).get(row.id) ?? 0)
  }

  async accept(id: ContactId, name?: string): Promise<ChatContact> {
    const row = await this.requireRequest(id)
    const clean = cleanDisplayName(name)
    await this.ctx.repository.transaction((w) =>
      w.saveContact({
        id: row.id,
        publicKey: row.publicKey,
        addedAt: row.addedAt,
        ...(clean !== undefined ? { name: clean } : {}),
      }),
    )
    this.ctx.contacts.remember(row.id, row.publicKey)
    await this.ctx.contacts.syncToSiblings([
      { publicKey: row.publicKey, ...(clean !== undefined ? { name: clean } : {}) },
    ])
    return (await this.ctx.contacts.byId(row.id))!
  }

  async decline(id: ContactId): Promise<void> {
    const row = await this.requireRequest(id)
    await this.ctx.repository.transaction(async (w) => {
      await w.removeContact(row.id)
      await w.deleteConversation(row.id)
    })
    this.ctx.contacts.forget(row.id)
  }

  async block(id: ContactId): Promise<void> {
    const row = await this.requireRequest(id)
    await this.ctx.contacts.block(row.id)
  }

  /** A `request` event for `id` (a new request, or a new claimed name), once committed. */
  async announce(id: ContactId): Promise<void> {
    const request = await this.get(id)
    if (request) this.ctx.events.emit('request', request)
  }

  private async requireRequest(id: ContactId): Promise<ContactRecord> {
    const row = await this.ctx.repository.contact(id.trim())
    if (!row?.request || row.blocked) {
      throw new NotFoundError(
        `${id} is not an open contact request (it may have been accepted, declined or blocked); see the list of requests`,
      )
    }
    return row
  }

  private async toRequest(row: ContactRecord, unread: number): Promise<ChatRequest> {
    const lastMessage = await this.ctx.repository.lastMessage(row.id)
    const lastSeenAt = this.ctx.contacts.lastSeenAt(row)
    return {
      id: row.id,
      textId: row.id,
      publicKey: row.publicKey,
      ...(row.claimedName !== undefined ? { claimedName: row.claimedName } : {}),
      firstSeenAt: row.addedAt,
      ...(lastSeenAt !== undefined ? { lastSeenAt } : {}),
      unread,
      ...(lastMessage ? { lastMessage } : {}),
    }
  }
}
