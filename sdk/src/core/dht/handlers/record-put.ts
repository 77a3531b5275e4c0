import { decodeSignedRecord, verifyRecord } from '../../records/signed-record.js'
import { type MessageBody } from '../messages.js'
import { recordKeyFor } from '../keys.js'
import { checkDhtRecord } from '../record-rules.js'
import type { HandlerContext, InboundRequest } from './context.js'

/**
 * record-put → ack with the stored seq. Needs a write token, a valid signature, and a record
 * the DHT stores: a known type, its payload's layout, not stale nor from the future.
 */
export async function handleRecordPut(
  ctx: HandlerContext,
  req: InboundRequest<'record-put'>,
): Promise<MessageBody> {
  ctx.checkToken(req.msg.token, req.from)
  const record = decodeSignedRecord(req.msg.record)
  verifyRecord(record, ctx.verifier)
  checkDhtRecord(record, ctx.clock.now())
  const seq = await ctx.recordStore.put(recordKeyFor(record.publicKey, record.type), record)
  return { type: 'record-put-ack', seq }
}
