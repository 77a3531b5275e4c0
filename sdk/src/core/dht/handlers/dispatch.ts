import { MalformedError, UnavailableError } from '../../errors.js'
import type { MessageBody, MessageKind } from '../messages.js'
import type { Handler, HandlerContext, InboundRequest } from './context.js'
import { handleFindNode } from './find-node.js'
import { handleMailboxDelete } from './mailbox-delete.js'
import { handleMailboxGet } from './mailbox-get.js'
import { handleMailboxPut } from './mailbox-put.js'
import { handleMailboxPutMany } from './mailbox-put-many.js'
import { handlePing } from './ping.js'
import { handleRecordGet } from './record-get.js'
import { handleRecordPut } from './record-put.js'

const HANDLERS: { [T in MessageKind]?: Handler<T> } = {
  ping: handlePing,
  'find-node': handleFindNode,
  'mailbox-put': handleMailboxPut,
  'mailbox-put-many': handleMailboxPutMany,
  'mailbox-get': handleMailboxGet,
  'mailbox-delete': handleMailboxDelete,
  'record-put': handleRecordPut,
  'record-get': handleRecordGet,
}

/**
 * What a node in client mode answers: a ping (address checks, its observed address) and a
 * find-node. It is in nobody's table and never a replica, so a put or get sent to it is
 * someone's mistake or probe: it stores nothing for others (docs/PROTOCOL.md, "Client mode").
 */
const CLIENT_ANSWERS: ReadonlySet<MessageKind> = new Set(['ping', 'find-node'])

/**
 * Answers an inbound request with the handler of its kind: a response body (synchronously
 * for ping and find-node), or a {@link PassageError} thrown or rejected.
 */
export function dispatch(
  ctx: HandlerContext,
  req: InboundRequest,
): MessageBody | Promise<MessageBody> {
  const handlers: { [T in MessageKind]?: Handler<T> } = HANDLERS
  const handler = handlers[req.msg.type] as Handler<MessageKind> | undefined
  if (!handler) throw new MalformedError('not a request')
  if (ctx.client && !CLIENT_ANSWERS.has(req.msg.type)) {
    throw new UnavailableError(
      'this node is a client: it stores and serves nothing for others; use the nodes of the DHT',
    )
  }
  return handler(ctx, req)
}
