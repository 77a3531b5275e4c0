import { MalformedError, NotFoundError, type ChatContact, type PassageClient } from '@passage/sdk'

/**
 * The contact a user means by `text`: its text ID, its name (when exactly one contact has
 * it), or a unique prefix of its text ID or name. Throws `NotFoundError` when nothing
 * matches and `MalformedError` when several do, each with a message that says what to do.
 */
export async function resolveContact(client: PassageClient, text: string): Promise<ChatContact> {
  const wanted = text.trim()
  const exact = await client.contacts.get(wanted)
  if (exact) return exact
  const all = await client.contacts.list()
  const lower = wanted.toLowerCase()
  const byName = all.filter((c) => c.name?.toLowerCase() === lower)
  if (byName.length === 1) return byName[0]!
  const byPrefix =
    byName.length > 1
      ? byName
      : all.filter(
          (c) =>
            lower.length > 0 &&
            (c.textId.startsWith(lower) || (c.name?.toLowerCase().startsWith(lower) ?? false)),
        )
  if (byPrefix.length === 1) return byPrefix[0]!
  if (byPrefix.length === 0) {
    throw new NotFoundError(
      `no contact matches "${wanted}"; see \`passage contacts list\`, or add it with \`passage contacts add <text-id | passage: URI>\``,
    )
  }
  const names = byPrefix.map((c) => (c.name ? `${c.name} (${c.textId})` : c.textId)).join(', ')
  throw new MalformedError(
    `"${wanted}" matches ${byPrefix.length} contacts: ${names}; give more of the text ID`,
  )
}
