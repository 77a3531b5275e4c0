import { attachmentJson, attachmentLabel } from './attachment-text.js'
import type {
  BlockedAccount,
  ChatContact,
  ChatMessage,
  ChatRequest,
  ContactRoute,
  DeliveryState,
} from '@passage/sdk'
// From the light entry point: `passage contacts list` loads this without the core.
import { toBase64Url } from '@passage/sdk/home'

/** How a contact is named on screen: its name, else its text ID shortened. */
export function contactLabel(
  contact: Pick<ChatContact, 'name' | 'textId'>,
  ellipsis = '…',
): string {
  return contact.name ?? shortId(contact.textId, ellipsis)
}

/**
 * How a name an account claims for itself is shown: `~Alice?`, never like a contact's name
 * (anyone can claim any name); its text ID shortened when it claims none.
 */
export function claimedLabel(
  who: { claimedName?: string; textId: string },
  ellipsis = '…',
): string {
  return who.claimedName !== undefined ? `~${who.claimedName}?` : shortId(who.textId, ellipsis)
}

/** `p1abcdef…wxyz`: enough of a text ID to recognise it. */
export function shortId(textId: string, ellipsis = '…'): string {
  return textId.length <= 14 ? textId : `${textId.slice(0, 8)}${ellipsis}${textId.slice(-4)}`
}

/** A contact as JSON for scripts (`--json`). */
export function contactJson(contact: ChatContact) {
  return {
    id: contact.textId,
    name: contact.name ?? null,
    publicKey: toBase64Url(contact.publicKey),
    addedAt: new Date(contact.addedAt).toISOString(),
    lastSeenAt:
      contact.lastSeenAt === undefined ? null : new Date(contact.lastSeenAt).toISOString(),
    online: contact.online,
    unread: contact.unread,
    flagged: contact.flagged ?? null,
  }
}

/** A contact request as JSON for scripts (`--json`). */
export function requestJson(request: ChatRequest) {
  return {
    id: request.textId,
    claimedName: request.claimedName ?? null,
    publicKey: toBase64Url(request.publicKey),
    firstSeenAt: new Date(request.firstSeenAt).toISOString(),
    lastSeenAt:
      request.lastSeenAt === undefined ? null : new Date(request.lastSeenAt).toISOString(),
    unread: request.unread,
    lastMessage: request.lastMessage?.text ?? null,
  }
}

/** A blocked account as JSON for scripts (`--json`). */
export function blockedJson(account: BlockedAccount) {
  return {
    id: account.textId,
    name: account.name ?? null,
    claimedName: account.claimedName ?? null,
    contact: account.contact,
    dropped: account.dropped,
  }
}

/** A message as JSON for scripts (`--json`). */
export function messageJson(message: ChatMessage, from?: ChatContact) {
  return {
    id: message.id,
    contact: message.contactId,
    contactName: from?.name ?? null,
    direction: message.direction,
    text: message.text,
    sentAt: new Date(message.sentAt).toISOString(),
    receivedAt: new Date(message.receivedAt).toISOString(),
    state: message.state,
    route: message.route ?? null,
    ...(message.attachment ? { attachment: attachmentJson(message.attachment) } : {}),
  }
}

/**
 * A message's text for a line of output: an attachment's label and ID (what
 * `passage attachments save` takes) before its caption.
 */
export function messageText(message: ChatMessage, ascii = false): string {
  if (!message.attachment) return message.text
  const label = attachmentLabel(message.attachment, ascii)
  const caption = message.text === '' ? '' : ` ${message.text}`
  return `${label}${caption} (id ${message.id.slice(0, 12)})`
}

/** When a message was written, to the minute, UTC: `2026-12-06 08:30`. */
export function messageTime(at: number): string {
  return new Date(at)
    .toISOString()
    .replace('T', ' ')
    .replace(/:\d\d\.\d+Z$/, '')
}

/** What each delivery state means, in words, for `passage send`. */
export const STATE_WORDS: Record<DeliveryState, string> = {
  pending: 'pending: nothing could take it yet; it stays in the outbox and is retried',
  sent: 'sent over a direct link',
  stored: "stored in the contact's DHT mailbox",
  delivered: 'delivered to the contact',
  read: 'read by the contact',
}

/**
 * How a message to a contact travels now, in a word for the chat header: over the LAN, a
 * direct link, a super-node's relay (all three: online), or `offline` (its mailbox).
 */
export function presenceLabel(contact: { online: boolean; route?: ContactRoute }): string {
  if (!contact.online) return 'offline'
  switch (contact.route) {
    case 'lan':
      return 'LAN'
    case 'relay':
      return 'via relay'
    default:
      return 'direct'
  }
}
