import type { Verifier } from '../../crypto/key-provider.js'
import type { Clock } from '../../runtime/clock.js'
import type { NodeId } from '../../identity/node-id.js'
import type { MailboxQuota, MailboxStore } from '../../mailbox/mailbox-store.js'
import type { Bytes } from '../../wire/bytes.js'
import type { FragmentAssembler } from '../fragment-assembler.js'
import type { DhtMessage, MessageBody, NodeAddress } from '../messages.js'
import type { RecordStore } from '../record-store.js'
import type { ReplayCache } from '../replay-cache.js'
import type { RoutingTable } from '../routing-table.js'

/** What a handler may use of its node. */
export interface HandlerContext {
  readonly id: NodeId
  /** Client mode: the node is in nobody's table, so it holds and serves nothing for others. */
  readonly client: boolean
  readonly clock: Clock
  readonly k: number
  readonly table: RoutingTable
  readonly mailboxStore: MailboxStore
  readonly recordStore: RecordStore
  readonly quota: MailboxQuota
  readonly assembler: FragmentAssembler
  readonly replay: ReplayCache
  /** Checks owners' and signers' signatures. */
  readonly verifier: Verifier
  /** The write token for `from`. */
  tokenFor(from: NodeAddress): Bytes
  /** Throws {@link BadTokenError} unless `token` is ours for `from` (current or previous secret). */
  checkToken(token: Uint8Array, from: NodeAddress): void
  /** Reports mailbox activity to metrics. */
  onMailbox(event: 'put' | 'get' | 'delete', count: number, bytes: number): void
}

/** An inbound request, already decoded. */
export interface InboundRequest<T extends DhtMessage['type'] = DhtMessage['type']> {
  msg: Extract<DhtMessage, { type: T }>
  from: NodeAddress
  senderId: NodeId
}

/** A handler answers a request with a response body, or throws a PassageError. */
export type Handler<T extends DhtMessage['type']> = (
  ctx: HandlerContext,
  req: InboundRequest<T>,
) => MessageBody | Promise<MessageBody>
