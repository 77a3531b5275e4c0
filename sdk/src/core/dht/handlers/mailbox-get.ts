import { NotFoundError } from '../../errors.js'
import { FRAGMENT_BYTES, MAX_LIST_ENTRIES, type MessageBody } from '../messages.js'
import type { HandlerContext, InboundRequest } from './context.js'
import { verifyMailboxAuth } from './mailbox-auth.js'

/**
 * mailbox-get → a list page or one fragment. Only the owner (signature by the key the
 * mailbox key derives from, addressed to this node, fresh, not replayed).
 */
export async function handleMailboxGet(
  ctx: HandlerContext,
  req: InboundRequest<'mailbox-get'>,
): Promise<MessageBody> {
  const m = req.msg
  const mailboxKey = verifyMailboxAuth(ctx, m.auth, m)
  const now = ctx.clock.now()
  if (m.kind === 'list') {
    const after = m.envelopeId.some((b) => b !== 0) ? m.envelopeId : undefined
    const page = await ctx.mailboxStore.list(mailboxKey, now, MAX_LIST_ENTRIES + 1, after)
    return {
      type: 'mailbox-list',
      more: page.length > MAX_LIST_ENTRIES,
      entries: page.slice(0, MAX_LIST_ENTRIES),
    }
  }
  const envelope = await ctx.mailboxStore.get(mailboxKey, m.envelopeId, now)
  if (!envelope) throw new NotFoundError('no such envelope in this mailbox')
  const totalSize = envelope.data.byteLength
  const count = Math.ceil(totalSize / FRAGMENT_BYTES)
  if (m.index >= count) throw new NotFoundError('no such fragment')
  const start = m.index * FRAGMENT_BYTES
  ctx.onMailbox('get', m.index === 0 ? 1 : 0, Math.min(FRAGMENT_BYTES, totalSize - start))
  return {
    type: 'mailbox-fragment',
    envelopeId: envelope.id,
    index: m.index,
    count,
    totalSize,
    data: envelope.data.slice(start, start + FRAGMENT_BYTES),
  }
}
