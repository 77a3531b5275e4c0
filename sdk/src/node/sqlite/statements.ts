// Over 500 lines: every prepared SQL statement of the client store, one per method, so the
// schema's SQL reads in one file beside the migrations.
import type BetterSqlite3 from 'better-sqlite3'
import type { NodeAddress } from '../../core/dht/messages.js'
import { statesBefore } from '../../core/client/delivery-state.js'
import type {
  ContactRecord,
  HomeIdentity,
  OutboxEntry,
  PendingGroupMessage,
  StoredGroup,
  StoredGroupSender,
  PendingReceipt,
  RefusalRecord,
  StoredDeviceList,
  StoredMessage,
} from '../../core/client/ports.js'
import type {
  ChatMessage,
  DeliveryState,
  MessageRoute,
  RefusalReason,
} from '../../core/client/types.js'
import { toBytes, type Bytes } from '../../core/wire/bytes.js'
import type { ClientDatabase } from './migrations.js'

/** The settings key of the remembered super-node URLs. */
export const SERVERS_KEY = 'servers'

type MessageRow = ClientDatabase['messages']
type IdentityRow = Omit<ClientDatabase['identity'], 'slot' | 'key_pair' | 'account_key'> & {
  key_pair: Buffer
  account_key: Buffer | null
}
type OutboxRow = ClientDatabase['outbox']
type ContactRow = ClientDatabase['contacts']

/**
 * Every query of the client's home as a prepared better-sqlite3 statement: the one way the
 * SDK reads and writes SQLite (Kysely's query building cost several times what SQLite took on
 * the chat hot paths; migrations and the Signal storage's transactions still use Kysely).
 *
 * The methods run at once on the single connection: call the writes only inside a
 * transaction that holds it (`SqliteClientRepository.transaction` or a Signal `persist`
 * hook), and the reads only while holding it too (the repository does both).
 */
export class SqliteClientStatements {
  private readonly cache = new Map<string, BetterSqlite3.Statement>()
  private readonly advance = new Map<DeliveryState, BetterSqlite3.Statement>()

  constructor(private readonly sqlite: BetterSqlite3.Database) {}

  /** The statement of `sql`, prepared once. */
  private stmt(sql: string): BetterSqlite3.Statement {
    let statement = this.cache.get(sql)
    if (!statement) {
      statement = this.sqlite.prepare(sql)
      this.cache.set(sql, statement)
    }
    return statement
  }

  // ---------------------------------------------------------------- identity and settings

  identity(): HomeIdentity | undefined {
    const row = this.stmt(
      'select key_pair, text_id, name, created_at, account_key, device_id, public_key from identity where slot = 1',
    ).get() as IdentityRow | undefined
    if (!row) return undefined
    return {
      secretKey: toBytes(row.key_pair),
      ...(row.public_key !== null ? { publicKey: toBytes(row.public_key) } : {}),
      textId: row.text_id,
      createdAt: row.created_at,
      deviceId: row.device_id,
      ...(row.name !== null ? { name: row.name } : {}),
      ...(row.account_key !== null ? { accountPublicKey: toBytes(row.account_key) } : {}),
    }
  }

  /** Inserts the identity; false when the home has one (nothing changes then). */
  insertIdentity(identity: HomeIdentity): boolean {
    return (
      this.stmt(
        `insert into identity (slot, key_pair, text_id, name, created_at, account_key, device_id, public_key)
         values (1, ?, ?, ?, ?, ?, ?, ?) on conflict (slot) do nothing`,
      ).run(...identityValues(identity)).changes > 0
    )
  }

  replaceIdentity(identity: HomeIdentity): void {
    this.stmt(
      `insert into identity (slot, key_pair, text_id, name, created_at, account_key, device_id, public_key)
       values (1, ?, ?, ?, ?, ?, ?, ?)
       on conflict (slot) do update set key_pair = excluded.key_pair, text_id = excluded.text_id,
       name = excluded.name, created_at = excluded.created_at,
       account_key = excluded.account_key, device_id = excluded.device_id,
       public_key = coalesce(excluded.public_key, identity.public_key)`,
    ).run(...identityValues(identity))
  }

  /** Keeps the identity's public key (a home made before it was kept). */
  setIdentityPublicKey(publicKey: Bytes): void {
    this.stmt('update identity set public_key = ? where slot = 1').run(buffer(publicKey))
  }

  identityTextId(): string | undefined {
    const row = this.stmt('select text_id from identity where slot = 1').get() as
      { text_id: string } | undefined
    return row?.text_id
  }

  /** The JSON text of a setting. */
  setting(key: string): string | undefined {
    const row = this.stmt('select value from settings where key = ?').get(key) as
      { value: string } | undefined
    return row?.value
  }

  setSetting(key: string, json: string, now: number): void {
    this.stmt(
      `insert into settings (key, value, updated_at) values (?, ?, ?)
       on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at`,
    ).run(key, json, now)
  }

  deleteSetting(key: string): void {
    this.stmt('delete from settings where key = ?').run(key)
  }

  // ---------------------------------------------------------------- messages

  /** Inserts a message; false when one with its ID exists (nothing changes then). */
  insertMessage(m: StoredMessage): boolean {
    return (
      this.stmt(
        `insert into messages (id, contact_id, direction, body, sent_at, received_at, state, read, route, notified, sender)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (id) do nothing`,
      ).run(
        m.id,
        m.contactId,
        m.direction,
        m.text,
        m.sentAt,
        m.receivedAt,
        m.state,
        m.read ? 1 : 0,
        m.route ?? null,
        m.notified ? 1 : 0,
        `${m.sender.account}.${m.sender.deviceId}`,
      ).changes > 0
    )
  }

  /**
   * Moves a message's state forward to `state` (never back), setting `read` with `read`; sets
   * its route when it has none, whether or not the state moved. True when the state moved.
   */
  advanceState(id: string, state: DeliveryState, route: MessageRoute | null): boolean {
    const lower = statesBefore(state)
    if (lower.length > 0 && this.advanceTo(state, lower).run(state, route, id).changes > 0) {
      return true
    }
    // The state did not move (a receipt moved it further first): the route is still news.
    if (route !== null) {
      this.stmt('update messages set route = ? where id = ? and route is null').run(route, id)
    }
    return false
  }

  /** The update that moves a message to `state` from one of `lower`, prepared once per state. */
  private advanceTo(state: DeliveryState, lower: DeliveryState[]): BetterSqlite3.Statement {
    let statement = this.advance.get(state)
    if (!statement) {
      statement = this.sqlite.prepare(
        `update messages set state = ?, read = ${state === 'read' ? '1' : 'read'},
         route = coalesce(route, ?) where id = ? and state in (${lower.map((s) => `'${s}'`).join(', ')})`,
      )
      this.advance.set(state, statement)
    }
    return statement
  }

  isOutgoingTo(id: string, contactId: string): boolean {
    return (
      this.stmt("select 1 from messages where id = ? and contact_id = ? and direction = 'out'").get(
        id,
        contactId,
      ) !== undefined
    )
  }

  unreadIncoming(contactId: string): string[] {
    return (
      this.stmt(
        "select id from messages where contact_id = ? and direction = 'in' and read = 0",
      ).all(contactId) as Array<{ id: string }>
    ).map((r) => r.id)
  }

  setRead(id: string): void {
    this.stmt("update messages set read = 1, state = 'read' where id = ?").run(id)
  }

  setNotified(id: string): void {
    this.stmt('update messages set notified = 1 where id = ?').run(id)
  }

  lastMessage(contactId: string): ChatMessage | undefined {
    const row = this.stmt(
      'select * from messages where contact_id = ? order by sent_at desc, id desc limit 1',
    ).get(contactId) as MessageRow | undefined
    return row && toMessage(row)
  }

  /** The position (send time, ID) of a message, for paging. */
  messagePosition(id: string): { sentAt: number; id: string } | undefined {
    const row = this.stmt('select sent_at, id from messages where id = ?').get(id) as
      { sent_at: number; id: string } | undefined
    return row && { sentAt: row.sent_at, id: row.id }
  }

  /** Up to `limit` messages with a contact, newest first, older than `before` when given. */
  messagesBefore(
    contactId: string,
    limit: number,
    before?: { sentAt: number; id: string },
  ): ChatMessage[] {
    const rows = before
      ? this.stmt(
          `select * from messages where contact_id = ? and (sent_at < ? or (sent_at = ? and id < ?))
           order by sent_at desc, id desc limit ?`,
        ).all(contactId, before.sentAt, before.sentAt, before.id, limit)
      : this.stmt(
          'select * from messages where contact_id = ? order by sent_at desc, id desc limit ?',
        ).all(contactId, limit)
    return (rows as MessageRow[]).map(toMessage)
  }

  unnotifiedIncoming(limit: number): ChatMessage[] {
    return (
      this.stmt(
        "select * from messages where direction = 'in' and notified = 0 order by sent_at, id limit ?",
      ).all(limit) as MessageRow[]
    ).map(toMessage)
  }

  lastSentAt(): number {
    const row = this.stmt(
      "select max(sent_at) as t from messages where direction = 'out'",
    ).get() as { t: number | null } | undefined
    return row?.t ?? 0
  }

  outgoingSince(contactId: string, since: number, limit: number): ChatMessage[] {
    return (
      this.stmt(
        `select * from messages where contact_id = ? and direction = 'out' and sent_at >= ?
         order by sent_at, id limit ?`,
      ).all(contactId, since, limit) as MessageRow[]
    ).map(toMessage)
  }

  unreadCounts(): Map<string, number> {
    const rows = this.stmt(
      "select contact_id, count(*) as n from messages where direction = 'in' and read = 0 group by contact_id",
    ).all() as Array<{ contact_id: string; n: number }>
    return new Map(rows.map((r) => [r.contact_id, r.n]))
  }

  // ---------------------------------------------------------------- outbox

  insertOutbox(e: OutboxEntry): boolean {
    return (
      this.stmt(
        `insert into outbox (id, contact_id, plaintext, sealed, signal, message_id, created_at, attempts, next_attempt_at, to_account, to_device)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (id) do nothing`,
      ).run(
        e.id,
        e.contactId,
        buffer(e.plaintext),
        e.sealed ? buffer(e.sealed) : null,
        e.signal ? buffer(e.signal) : null,
        e.messageId ?? null,
        e.createdAt,
        e.attempts,
        e.nextAttemptAt,
        e.to && e.to.account !== e.contactId ? e.to.account : null,
        e.to?.deviceId ?? 1,
      ).changes > 0
    )
  }

  dropOutboxTo(account: string, deviceId: number): number {
    return this.stmt(
      'delete from outbox where coalesce(to_account, contact_id) = ? and to_device = ?',
    ).run(account, deviceId).changes
  }

  setOutboxSignal(id: string, signal: Bytes): void {
    this.stmt('update outbox set signal = ? where id = ?').run(buffer(signal), id)
  }

  setOutboxSealed(id: string, sealed: Bytes): void {
    this.stmt('update outbox set sealed = ? where id = ?').run(buffer(sealed), id)
  }

  deferOutbox(id: string, attempts: number, nextAttemptAt: number): void {
    this.stmt('update outbox set attempts = ?, next_attempt_at = ? where id = ?').run(
      attempts,
      nextAttemptAt,
      id,
    )
  }

  deleteOutbox(id: string): void {
    this.stmt('delete from outbox where id = ?').run(id)
  }

  outboxCount(): number {
    return (this.stmt('select count(*) as n from outbox').get() as { n: number }).n
  }

  dueOutbox(now: number): OutboxEntry[] {
    return (
      this.stmt('select * from outbox where next_attempt_at <= ? order by created_at, id').all(
        now,
      ) as OutboxRow[]
    ).map(toOutboxEntry)
  }

  // ---------------------------------------------------------------- receipts, refusals

  addPendingReceipt(r: PendingReceipt): void {
    this.stmt(
      `insert into pending_receipts (contact_id, message_id, kind) values (?, ?, ?)
       on conflict do nothing`,
    ).run(r.contactId, r.messageId, r.kind)
  }

  takePendingReceipts(): PendingReceipt[] {
    const rows = this.stmt(
      'select contact_id, message_id, kind from pending_receipts',
    ).all() as Array<{
      contact_id: string
      message_id: string
      kind: string
    }>
    this.stmt('delete from pending_receipts').run()
    return rows.map((r) => ({
      contactId: r.contact_id,
      messageId: r.message_id,
      kind: r.kind === 'read' ? 'read' : 'delivered',
    }))
  }

  markProcessed(id: string, at: number, outcome: string): void {
    this.stmt(
      `insert into processed_envelopes (id, processed_at, outcome) values (?, ?, ?)
       on conflict (id) do nothing`,
    ).run(id, at, outcome)
  }

  isProcessed(id: string): boolean {
    return this.stmt('select 1 from processed_envelopes where id = ?').get(id) !== undefined
  }

  purgeProcessed(before: number): void {
    this.stmt('delete from processed_envelopes where processed_at < ?').run(before)
  }

  addRefusal(r: RefusalRecord): void {
    this.stmt(
      `insert into refusals (id, claimed_sender, reason, route, at) values (?, ?, ?, ?, ?)
       on conflict (id) do nothing`,
    ).run(r.id, r.claimedSender ?? null, r.reason, r.route, r.at)
  }

  // ---------------------------------------------------------------- contacts

  contact(id: string): ContactRecord | undefined {
    const row = this.stmt('select * from contacts where id = ?').get(id) as ContactRow | undefined
    return row && toContact(row)
  }

  contacts(): ContactRecord[] {
    return (this.stmt('select * from contacts').all() as ContactRow[]).map(toContact)
  }

  contactIdsByName(name: string): string[] {
    return (
      this.stmt('select id from contacts where name = ? and request = 0').all(name) as Array<{
        id: string
      }>
    ).map((r) => r.id)
  }

  /**
   * Adds a contact (or accepts a request: it becomes a contact); an existing one keeps its row,
   * with `name` when given.
   */
  saveContact(c: { id: string; publicKey: Bytes; name?: string; addedAt: number }): void {
    this.stmt(
      `insert into contacts (id, public_key, name, added_at, last_seen_at, flagged)
       values (?, ?, ?, ?, null, null)
       on conflict (id) do update set name = coalesce(excluded.name, contacts.name), request = 0`,
    ).run(c.id, buffer(c.publicKey), c.name ?? null, c.addedAt)
  }

  /**
   * Notes when the sender of a message was last seen; an account with no row becomes a
   * contact request. True when the row was made here.
   */
  upsertSender(id: string, publicKey: Bytes, at: number): boolean {
    const made = this.stmt(
      `insert into contacts (id, public_key, name, added_at, last_seen_at, flagged, request)
       values (?, ?, null, ?, ?, null, 1) on conflict (id) do nothing`,
    ).run(id, buffer(publicKey), at, at)
    if (made.changes > 0) return true
    this.stmt('update contacts set last_seen_at = ? where id = ?').run(at, id)
    return false
  }

  setClaimedName(id: string, name: string | undefined): void {
    this.stmt('update contacts set claimed_name = ? where id = ?').run(name ?? null, id)
  }

  /** Blocks or unblocks an account; one with no row gets one (a blocked request) when blocked. */
  setBlocked(id: string, publicKey: Bytes, blocked: boolean, at: number): void {
    if (!blocked) {
      this.stmt('update contacts set blocked = 0 where id = ?').run(id)
      return
    }
    this.stmt(
      `insert into contacts (id, public_key, name, added_at, last_seen_at, flagged, request, blocked)
       values (?, ?, null, ?, null, null, 1, ?)
       on conflict (id) do update set blocked = excluded.blocked`,
    ).run(id, buffer(publicKey), at, blocked ? 1 : 0)
  }

  /** Counts one dropped message of a blocked account. */
  countDropped(id: string): void {
    this.stmt('update contacts set dropped = dropped + 1 where id = ?').run(id)
  }

  /** Deletes a conversation's messages and the receipts owed for them (a declined request). */
  deleteConversation(contactId: string): void {
    this.stmt('delete from messages where contact_id = ?').run(contactId)
    this.stmt('delete from pending_receipts where contact_id = ?').run(contactId)
  }

  renameContact(id: string, name: string): void {
    this.stmt('update contacts set name = ? where id = ?').run(name, id)
  }

  /** Removes a contact or request; a blocked account stays blocked (no longer a contact). */
  removeContact(id: string): void {
    this.stmt('delete from contacts where id = ? and blocked = 0').run(id)
    this.stmt('update contacts set request = 1, name = null where id = ?').run(id)
  }

  setContactFlag(id: string, reason: RefusalReason | undefined): void {
    this.stmt('update contacts set flagged = ? where id = ?').run(reason ?? null, id)
  }

  // ---------------------------------------------------------------- device lists

  deviceLists(): StoredDeviceList[] {
    return (
      this.stmt('select account, seq, record, checked_at from device_lists').all() as Array<{
        account: string
        seq: number
        record: Buffer
        checked_at: number
      }>
    ).map((r) => ({
      account: r.account,
      seq: r.seq,
      record: toBytes(r.record),
      checkedAt: r.checked_at,
    }))
  }

  saveDeviceList(list: StoredDeviceList): void {
    this.stmt(
      `insert into device_lists (account, seq, record, checked_at) values (?, ?, ?, ?)
       on conflict (account) do update set seq = excluded.seq, record = excluded.record,
       checked_at = excluded.checked_at`,
    ).run(list.account, list.seq, buffer(list.record), list.checkedAt)
  }

  touchDeviceList(account: string, at: number): void {
    this.stmt('update device_lists set checked_at = ? where account = ?').run(at, account)
  }

  // ---------------------------------------------------------------- groups

  groups(): StoredGroup[] {
    return (
      this.stmt(
        'select id, revision, member, joined_at, chain, given, seed, seeded from groups',
      ).all() as Array<ClientDatabase['groups'] & { chain: Buffer | null; seed: Buffer | null }>
    ).map((r) => ({
      id: r.id,
      revision: r.revision,
      member: r.member === 1,
      joinedAt: r.joined_at,
      ...(r.chain ? { chain: toBytes(r.chain) } : {}),
      given: JSON.parse(r.given) as string[],
      ...(r.seed ? { seed: toBytes(r.seed) } : {}),
      ...(r.seeded ? { seeded: JSON.parse(r.seeded) as string[] } : {}),
    }))
  }

  saveGroup(g: StoredGroup): void {
    this.stmt(
      `insert into groups (id, revision, member, joined_at, chain, given, seed, seeded)
       values (?, ?, ?, ?, ?, ?, ?, ?)
       on conflict (id) do update set revision = excluded.revision, member = excluded.member,
       chain = excluded.chain, given = excluded.given, seed = excluded.seed,
       seeded = excluded.seeded`,
    ).run(
      g.id,
      g.revision,
      g.member ? 1 : 0,
      g.joinedAt,
      g.chain ? buffer(g.chain) : null,
      JSON.stringify(g.given),
      g.seed ? buffer(g.seed) : null,
      g.seeded ? JSON.stringify(g.seeded) : null,
    )
  }

  groupStates(groupId: string): Bytes[] {
    return (
      this.stmt('select state from group_states where group_id = ? order by revision').all(
        groupId,
      ) as Array<{ state: Buffer }>
    ).map((r) => toBytes(r.state))
  }

  saveGroupStates(groupId: string, states: { revision: number; bytes: Bytes }[]): void {
    if (states.length === 0) return
    this.stmt('delete from group_states where group_id = ? and revision >= ?').run(
      groupId,
      states[0]!.revision,
    )
    const insert = this.stmt(
      'insert into group_states (group_id, revision, state) values (?, ?, ?)',
    )
    for (const s of states) insert.run(groupId, s.revision, buffer(s.bytes))
  }

  groupSenders(): StoredGroupSender[] {
    return (
      this.stmt(
        'select distribution_id, sender, group_id, seed, read_at, since from group_senders',
      ).all() as Array<ClientDatabase['group_senders'] & { seed: Buffer | null }>
    ).map((r) => ({
      distributionId: r.distribution_id,
      sender: r.sender,
      groupId: r.group_id,
      ...(r.seed ? { seed: toBytes(r.seed) } : {}),
      ...(r.read_at !== null ? { readAt: r.read_at } : {}),
      ...(r.since !== null ? { since: r.since } : {}),
    }))
  }

  saveGroupSender(s: StoredGroupSender): void {
    this.stmt(
      `insert into group_senders (distribution_id, sender, group_id, seed, read_at, since)
       values (?, ?, ?, ?, ?, ?)
       on conflict (distribution_id, sender) do update set group_id = excluded.group_id,
       seed = coalesce(excluded.seed, group_senders.seed),
       read_at = coalesce(group_senders.read_at, excluded.read_at),
       since = coalesce(group_senders.since, excluded.since)`,
    ).run(
      s.distributionId,
      s.sender,
      s.groupId,
      s.seed ? buffer(s.seed) : null,
      s.readAt ?? null,
      s.since ?? null,
    )
  }

  setGroupSenderRead(distributionId: string, sender: string, at: number): void {
    this.stmt('update group_senders set read_at = ? where distribution_id = ? and sender = ?').run(
      at,
      distributionId,
      sender,
    )
  }

  addPendingGroupMessage(m: PendingGroupMessage): boolean {
    return (
      this.stmt(
        `insert into group_pending (id, sender, distribution_id, route, data, received_at)
         values (?, ?, ?, ?, ?, ?) on conflict (id) do nothing`,
      ).run(m.id, m.sender, m.distributionId, m.route, buffer(m.data), m.receivedAt).changes > 0
    )
  }

  deletePendingGroupMessage(id: string): void {
    this.stmt('delete from group_pending where id = ?').run(id)
  }

  purgePendingGroupMessages(before: number): number {
    return this.stmt('delete from group_pending where received_at < ?').run(before).changes
  }

  pendingGroupMessages(sender: string, distributionId: string): PendingGroupMessage[] {
    return (
      this.stmt(
        `select id, sender, distribution_id, route, data, received_at from group_pending
         where sender = ? and distribution_id = ? order by received_at, id`,
      ).all(sender, distributionId) as Array<ClientDatabase['group_pending'] & { data: Buffer }>
    ).map((r) => ({
      id: r.id,
      sender: r.sender,
      distributionId: r.distribution_id,
      route: r.route as MessageRoute,
      data: toBytes(r.data),
      receivedAt: r.received_at,
    }))
  }

  // ---------------------------------------------------------------- DHT nodes

  rememberDhtNode(node: NodeAddress, at: number): void {
    this.stmt(
      `insert into dht_nodes (address, host, port, last_seen_at) values (?, ?, ?, ?)
       on conflict (address) do update set last_seen_at = excluded.last_seen_at`,
    ).run(`${node.host}:${node.port}`, node.host, node.port, at)
  }

  knownDhtNodes(limit: number): NodeAddress[] {
    return this.stmt('select host, port from dht_nodes order by last_seen_at desc limit ?').all(
      limit,
    ) as NodeAddress[]
  }
}

/** better-sqlite3 binds blobs from Buffers: a view on the same memory, no copy. */
function buffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function identityValues(identity: HomeIdentity) {
  return [
    buffer(identity.secretKey),
    identity.textId,
    identity.name ?? null,
    identity.createdAt,
    identity.accountPublicKey ? buffer(identity.accountPublicKey) : null,
    identity.deviceId,
    identity.publicKey ? buffer(identity.publicKey) : null,
  ] as const
}

/** `accountTextId.deviceId` → the sender (an empty account for rows with none). */
function toSender(text: string, fallback: string): { account: string; deviceId: number } {
  const dot = text.lastIndexOf('.')
  const deviceId = Number(text.slice(dot + 1))
  if (dot <= 0 || !Number.isInteger(deviceId)) return { account: fallback, deviceId: 1 }
  return { account: text.slice(0, dot), deviceId }
}

function toMessage(row: MessageRow): ChatMessage {
  return {
    id: row.id,
    contactId: row.contact_id,
    direction: row.direction === 'in' ? 'in' : 'out',
    sender: toSender(row.sender, row.contact_id),
    text: row.body,
    sentAt: row.sent_at,
    receivedAt: row.received_at,
    state: row.state as DeliveryState,
    read: row.read === 1,
    ...(row.route !== null ? { route: row.route as MessageRoute } : {}),
  }
}

function toOutboxEntry(row: OutboxRow): OutboxEntry {
  return {
    id: row.id,
    contactId: row.contact_id,
    ...(row.to_account !== null || row.to_device !== 1
      ? { to: { account: row.to_account ?? row.contact_id, deviceId: row.to_device } }
      : {}),
    plaintext: toBytes(row.plaintext),
    ...(row.sealed ? { sealed: toBytes(row.sealed) } : {}),
    ...(row.signal ? { signal: toBytes(row.signal) } : {}),
    ...(row.message_id !== null ? { messageId: row.message_id } : {}),
    createdAt: row.created_at,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
  }
}

function toContact(row: ContactRow): ContactRecord {
  return {
    id: row.id,
    publicKey: toBytes(row.public_key),
    addedAt: row.added_at,
    ...(row.name !== null ? { name: row.name } : {}),
    ...(row.last_seen_at !== null ? { lastSeenAt: row.last_seen_at } : {}),
    ...(row.flagged !== null ? { flagged: row.flagged as RefusalReason } : {}),
    ...(row.request ? { request: true } : {}),
    ...(row.blocked ? { blocked: true } : {}),
    ...(row.claimed_name !== null ? { claimedName: row.claimed_name } : {}),
    ...(row.dropped ? { dropped: row.dropped } : {}),
  }
}
