// A contact row as the SDK shows it, and the order contacts are listed in. Shared by the
// client's contact book and by `readHomeContacts`, which lists a home's contacts without
// loading the client, so both show the same thing.
import type { ContactRecord } from './ports.js'
import type { ChatContact, ContactRoute } from './types.js'

/** Whether a row is listed among the contacts: not a request, not blocked. */
export function isListedContact(row: ContactRecord): boolean {
  return !row.request && !row.blocked
}

/**
 * A row as a {@link ChatContact}: `route` is the best of its devices' routes now (`mailbox`
 * when none is open), `lastSeenAt` the row's unless the caller knows a later one.
 */
export function contactView(
  row: ContactRecord,
  unread: number,
  route: ContactRoute = 'mailbox',
  lastSeenAt: number | undefined = row.lastSeenAt,
): ChatContact {
  return {
    id: row.id,
    textId: row.id,
    publicKey: row.publicKey,
    ...(row.name !== undefined ? { name: row.name } : {}),
    addedAt: row.addedAt,
    ...(lastSeenAt !== undefined ? { lastSeenAt } : {}),
    online: route !== 'mailbox',
    route,
    unread,
    ...(row.flagged !== undefined ? { flagged: row.flagged } : {}),
  }
}

/** The listing order: by name (unnamed ones last), then by ID. */
export function byContactName(a: ChatContact, b: ChatContact): number {
  return (a.name ?? '\uffff').localeCompare(b.name ?? '\uffff') || a.id.localeCompare(b.id)
}
