import {
  cleanDisplayName,
  type ChatContact,
  type ChatRequest,
  type PassageClient,
} from '@passage/sdk'

/**
 * Accepts a contact request under `name` when given, else under the name it claims unless a
 * contact already has that name (`clash`: then it stays unnamed, so a stranger never takes a
 * contact's name by asking).
 */
export async function acceptRequest(
  client: PassageClient,
  request: Pick<ChatRequest, 'id' | 'claimedName'>,
  name?: string,
): Promise<{ contact: ChatContact; clash: boolean }> {
  const given = cleanDisplayName(name)
  const claimed = request.claimedName
  const clash =
    given === undefined &&
    claimed !== undefined &&
    (await client.contacts.get(claimed)) !== undefined
  const chosen = given ?? (clash ? undefined : claimed)
  return { contact: await client.requests.accept(request.id, chosen), clash }
}
