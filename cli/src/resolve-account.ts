import {
  isTextId,
  MalformedError,
  NotFoundError,
  type BlockedAccount,
  type ChatRequest,
  type PassageClient,
} from '@passage/sdk'
import { claimedLabel } from './format.js'
import { resolveContact } from './resolve-contact.js'

/**
 * One of `items` that `text` means: its text ID, a unique prefix of it, or (when exactly one
 * has it) its name or the name it claims. `undefined` when none does; `MalformedError` when
 * several do.
 */
function pick<T extends { id: string; name?: string; claimedName?: string }>(
  items: T[],
  text: string,
  what: string,
): T | undefined {
  const wanted = text.trim()
  const lower = wanted.toLowerCase()
  const exact = items.find((i) => i.id === wanted)
  if (exact) return exact
  const named = items.filter(
    (i) => i.name?.toLowerCase() === lower || i.claimedName?.toLowerCase() === lower,
  )
  const found =
    named.length > 0 ? named : items.filter((i) => lower.length > 0 && i.id.startsWith(lower))
  if (found.length === 1) return found[0]
  if (found.length === 0) return undefined
  const ids = found.map((i) => i.id).join(', ')
  throw new MalformedError(
    `"${wanted}" matches ${found.length} ${what}: ${ids}; give more of the text ID`,
  )
}

/** The open contact request `text` means (its text ID, a prefix of it, or its claimed name). */
export async function resolveRequest(client: PassageClient, text: string): Promise<ChatRequest> {
  const found = pick(await client.requests.list(), text, 'requests')
  if (found) return found
  throw new NotFoundError(
    `no contact request matches "${text.trim()}"; \`passage requests\` lists them`,
  )
}

/** The blocked account `text` means. */
export async function resolveBlocked(client: PassageClient, text: string): Promise<BlockedAccount> {
  const found = pick(await client.contacts.blocked(), text, 'blocked accounts')
  if (found) return found
  throw new NotFoundError(
    `no blocked account matches "${text.trim()}"; \`passage block\` lists them`,
  )
}

/**
 * Who `text` means for a block: a contact (name, ID or prefix), else a request, else any text
 * ID whose key this home knows (a group member). Returns its ID and how to show it.
 */
export async function resolveAccount(
  client: PassageClient,
  text: string,
): Promise<{ id: string; label: string }> {
  try {
    const contact = await resolveContact(client, text)
    return { id: contact.id, label: contact.name ? `${contact.name} (${contact.id})` : contact.id }
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error
  }
  const request = pick(await client.requests.list(), text, 'requests')
  if (request) return { id: request.id, label: `${claimedLabel(request)} (${request.id})` }
  const wanted = text.trim()
  if (isTextId(wanted)) return { id: wanted, label: wanted }
  throw new NotFoundError(
    `no contact or request matches "${wanted}"; see \`passage contacts list\` and \`passage requests\`, or give the full text ID`,
  )
}
