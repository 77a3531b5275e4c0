import { encodeSignedRecord } from '../../records/signed-record.js'
import type { MessageBody } from '../messages.js'
import type { HandlerContext, InboundRequest } from './context.js'

/** record-get → the stored record for the key, if any (the asker verifies it). */
export async function handleRecordGet(
  ctx: HandlerContext,
  req: InboundRequest<'record-get'>,
): Promise<MessageBody> {
  const record = await ctx.recordStore.get(req.msg.key)
  return { type: 'record-result', record: record ? encodeSignedRecord(record) : undefined }
}
