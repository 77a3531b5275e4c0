import { BadSignatureError, ClockSkewError } from '../../errors.js'
import { toHex, type Bytes } from '../../wire/bytes.js'
import { type MailboxAuth } from '../messages.js'
import { mailboxAuthInput, mailboxKeyFor, type MailboxAuthedRequest } from '../keys.js'
import type { HandlerContext } from './context.js'

/** Owner-signed mailbox requests are accepted within ±60 s of this node's clock (Session's window). */
export const MAILBOX_AUTH_SKEW_MS = 60_000

/**
 * Checks an owner's signature on a get or delete: fresh (±60 s), addressed to this node,
 * by the key the mailbox is derived from, and never seen before (signed after this node
 * started: its memory of nonces does not survive a restart). Returns the mailbox key.
 */
export function verifyMailboxAuth(
  ctx: HandlerContext,
  auth: MailboxAuth,
  request: MailboxAuthedRequest,
): Bytes {
  const now = ctx.clock.now()
  if (Math.abs(now - auth.timestamp) > MAILBOX_AUTH_SKEW_MS) throw new ClockSkewError()
  const input = mailboxAuthInput(ctx.id, auth.timestamp, auth.nonce, request)
  if (!ctx.verifier.verify(auth.ownerKey, input, auth.signature)) throw new BadSignatureError()
  ctx.replay.checkSigned(
    `${toHex(auth.ownerKey)}/${toHex(auth.nonce)}`,
    auth.timestamp,
    now,
    MAILBOX_AUTH_SKEW_MS,
  )
  return mailboxKeyFor(auth.ownerKey)
}
