import { encodeSignedRecord } from '../../records/signed-record.js'
import type { MessageBody } from '../messages.js'
import { isFreshRecord } from '../record-rules.js'
import type { HandlerContext, InboundRequest } from './context.js'

/**
 * record-get → the stored record for the key, if any and still fresh for its type (a stale
 * pre-key bundle is not served); the asker verifies it.
 */
export async function handleRecordGet(
  ctx: HandlerContext,
  req: InboundRequest<'record-get'>,
): Promise<MessageBody> {
  const stored = await ctx.recordStore.get(req.msg.key)
  const record = stored && isFreshRecord(stored, ctx.clock.now()) ? stored : undefined
  return { type: 'record-result', record: record ? encodeSignedRecord(record) : undefined }
}
