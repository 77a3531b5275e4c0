import { MailboxFullError, MalformedError, QuotaExceededError } from '../../errors.js'
import { MAX_ENVELOPE_TTL_MS } from '../../mailbox/mailbox-store.js'
import { equalBytes } from '../../wire/bytes.js'
import { envelopeIdOf } from '../keys.js'
import type { MessageBody, PutManyEnvelope, PutManyResult } from '../messages.js'
import { wireErrorCode } from '../wire-errors.js'
import type { HandlerContext, InboundRequest } from './context.js'

/** The codes a single put of the envelope would have been answered with (1, 10, 11). */
const MALFORMED = wireErrorCode(new MalformedError())
const MAILBOX_FULL = wireErrorCode(new MailboxFullError())
const SOURCE_FULL = wireErrorCode(new QuotaExceededError())

/**
 * mailbox-put-many → mailbox-put-acks. Needs a valid write token (for the whole request);
 * then each whole envelope is handled as a `mailbox-put` of it alone would be (TTL, its ID
 * against its bytes, quotas, tombstones), committed durably by the store before the answer,
 * and gets its own result: one envelope refused does not refuse the others.
 */
export async function handleMailboxPutMany(
  ctx: HandlerContext,
  req: InboundRequest<'mailbox-put-many'>,
): Promise<MessageBody> {
  const m = req.msg
  ctx.checkToken(m.token, req.from)
  const now = ctx.clock.now()
  const results: PutManyResult[] = []
  // In order, one at a time: the per-source quota counts what the earlier ones stored.
  for (const envelope of m.envelopes) results.push(await storeOne(ctx, req, envelope, now))
  return { type: 'mailbox-put-acks', results }
}

async function storeOne(
  ctx: HandlerContext,
  req: InboundRequest<'mailbox-put-many'>,
  e: PutManyEnvelope,
  now: number,
): Promise<PutManyResult> {
  const ttlMs = e.ttlSeconds * 1000
  if (ttlMs < 1000 || ttlMs > MAX_ENVELOPE_TTL_MS) return { stored: false, code: MALFORMED }
  if (e.data.byteLength < 1) return { stored: false, code: MALFORMED }
  if (!equalBytes(envelopeIdOf(e.mailboxKey, e.data), e.envelopeId)) {
    return { stored: false, code: MALFORMED }
  }
  try {
    const outcome = await ctx.mailboxStore.put(
      {
        mailboxKey: e.mailboxKey,
        id: e.envelopeId,
        data: e.data,
        source: req.from.host,
        storedAt: now,
        expiresAt: now + ttlMs,
      },
      ctx.quota,
      now,
    )
    if (outcome === 'mailbox-full') return { stored: false, code: MAILBOX_FULL }
    if (outcome === 'source-full') return { stored: false, code: SOURCE_FULL }
    if (outcome === 'stored') ctx.onMailbox('put', 1, e.data.byteLength)
    return { stored: true, code: 0 }
  } catch (error) {
    // A store failure (code 0) for this envelope only: the sender retries it.
    return { stored: false, code: wireErrorCode(error) }
  }
}
