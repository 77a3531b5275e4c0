import { equalBytes } from '../../wire/bytes.js'
import { MAX_NODES_PER_REPLY, type MessageBody, type NodeInfo } from '../messages.js'
import type { HandlerContext, InboundRequest } from './context.js'

/** find-node → nodes: the k verified contacts closest to the target, and a write token. */
export function handleFindNode(ctx: HandlerContext, req: InboundRequest<'find-node'>): MessageBody {
  const max = Math.min(ctx.k, MAX_NODES_PER_REPLY)
  const closest = ctx.table.closest(req.msg.target, max + 1)
  const nodes: NodeInfo[] = []
  for (let i = 0; i < closest.length && nodes.length < max; i++) {
    const c = closest[i]!
    if (!equalBytes(c.id, req.senderId)) nodes.push({ id: c.id, host: c.host, port: c.port })
  }
  return { type: 'nodes', token: ctx.tokenFor(req.from), nodes }
}
