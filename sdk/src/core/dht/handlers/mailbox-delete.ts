import type { MessageBody } from '../messages.js'
import type { HandlerContext, InboundRequest } from './context.js'
import { verifyMailboxAuth } from './mailbox-auth.js'

/** mailbox-delete → ack with how many were present. Owner only; idempotent (tombstones). */
export async function handleMailboxDelete(
  ctx: HandlerContext,
  req: InboundRequest<'mailbox-delete'>,
): Promise<MessageBody> {
  const mailboxKey = verifyMailboxAuth(ctx, req.msg.auth, req.msg)
  const deleted = await ctx.mailboxStore.delete(mailboxKey, req.msg.ids, ctx.clock.now())
  ctx.onMailbox('delete', deleted, 0)
  return { type: 'mailbox-delete-ack', deleted }
}
