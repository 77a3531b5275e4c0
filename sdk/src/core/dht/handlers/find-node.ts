import { equalBytes } from '../../wire/bytes.js'
import { MAX_NODES_PER_REPLY, type MessageBody, type NodeInfo } from '../messages.js'
import type { HandlerContext, InboundRequest } from './context.js'

/** find-node → nodes: the k verified contacts closest to the target, and a write token. */
export function handleFindNode(ctx: HandlerContext, req: InboundRequest<'find-node'>): MessageBody {
  const max = Math.min(ctx.k, MAX_NODES_PER_REPLY)
  const closest = ctx.table.closest(req.msg.target, max + 1)
  const nodes: NodeInfo[] = []
  const sender = req.senderId
  for (let i = 0; i < closest.length && nodes.length < max; i++) {
    const c = closest[i]!
    // The contacts themselves go to the encoder (it reads id, host and port; nothing keeps
    // the reply). IDs are public: compare with an early exit.
    if (c.id[0] !== sender[0] || !equalBytes(c.id, sender)) nodes.push(c)
  }
  return { type: 'nodes', token: ctx.tokenFor(req.from), nodes }
}
