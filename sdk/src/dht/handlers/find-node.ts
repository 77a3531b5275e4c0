import { equalBytes } from '../../wire/bytes.js'
import { MAX_NODES_PER_REPLY, type MessageBody } from '../messages.js'
import type { HandlerContext, InboundRequest } from './context.js'

/** find-node → nodes: the k verified contacts closest to the target, and a write token. */
export function handleFindNode(ctx: HandlerContext, req: InboundRequest<'find-node'>): MessageBody {
  const nodes = ctx.table
    .closest(req.msg.target, Math.min(ctx.k, MAX_NODES_PER_REPLY) + 1)
    .filter((c) => !equalBytes(c.id, req.senderId))
    .slice(0, Math.min(ctx.k, MAX_NODES_PER_REPLY))
    .map((c) => ({ id: c.id, host: c.host, port: c.port }))
  return { type: 'nodes', token: ctx.tokenFor(req.from), nodes }
}
