import { MailboxFullError, MalformedError, QuotaExceededError } from '../../errors.js'
import { MAX_ENVELOPE_TTL_MS } from '../../mailbox/mailbox-store.js'
import { equalBytes, toHex } from '../../wire/bytes.js'
import { type MessageBody } from '../messages.js'
import { envelopeIdOf } from '../keys.js'
import type { HandlerContext, InboundRequest } from './context.js'

/**
 * mailbox-put → mailbox-put-ack. Needs a valid write token. Fragments are held apart until
 * the last one arrives; then the envelope's ID is checked against its bytes and it is
 * committed (durably, by the store) before `stored: true` is answered.
 */
export async function handleMailboxPut(
  ctx: HandlerContext,
  req: InboundRequest<'mailbox-put'>,
): Promise<MessageBody> {
  const m = req.msg
  ctx.checkToken(m.token, req.from)
  const ttlMs = m.ttlSeconds * 1000
  if (ttlMs < 1000 || ttlMs > MAX_ENVELOPE_TTL_MS) {
    throw new MalformedError('an envelope lives 1 s to 30 days')
  }
  const now = ctx.clock.now()
  const ack = (stored: boolean): MessageBody => ({
    type: 'mailbox-put-ack',
    envelopeId: m.envelopeId,
    index: m.index,
    stored,
  })
  let data = m.data
  if (m.count > 1) {
    // Only a multi-fragment put asks first (no fragments held for an envelope stored already);
    // a single fragment goes straight to put(), which answers `duplicate` itself: one round
    // trip to the store instead of two.
    if (await ctx.mailboxStore.has(m.mailboxKey, m.envelopeId, now)) return ack(true)
    const key = `${req.from.host}|${req.from.port}|${toHex(m.mailboxKey)}|${toHex(m.envelopeId)}`
    const whole = ctx.assembler.add(key, m.totalSize, m.index, m.count, m.data, now)
    if (!whole) return ack(false)
    data = whole
  }
  if (!equalBytes(envelopeIdOf(m.mailboxKey, data), m.envelopeId)) {
    throw new MalformedError('the envelope ID does not match its bytes')
  }
  const outcome = await ctx.mailboxStore.put(
    {
      mailboxKey: m.mailboxKey,
      id: m.envelopeId,
      data,
      source: req.from.host,
      storedAt: now,
      expiresAt: now + ttlMs,
    },
    ctx.quota,
    now,
  )
  if (outcome === 'mailbox-full') throw new MailboxFullError()
  if (outcome === 'source-full') throw new QuotaExceededError()
  if (outcome === 'stored') ctx.onMailbox('put', 1, data.byteLength)
  return ack(true)
}
