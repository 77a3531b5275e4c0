import type { MessageBody } from '../messages.js'
import type { HandlerContext, InboundRequest } from './context.js'

/** ping → pong: the requester's address as seen from here, and a write token for it. */
export function handlePing(ctx: HandlerContext, req: InboundRequest<'ping'>): MessageBody {
  return {
    type: 'pong',
    observed: { host: req.from.host, port: req.from.port },
    token: ctx.tokenFor(req.from),
  }
}
