import type { ClientRepository, ClientWriter, HomeIdentity } from '../../core/client/ports.js'
import type { Clock } from '../../core/runtime/clock.js'
import type { SignalStorage } from '../../core/signal/signal-storage.js'
import { AttachmentStatements } from './attachment-statements.js'
import { SqliteSignalStorage, SqliteSignalTransaction } from './signal-storage.js'
import { addServer, serversIn, type SqliteClientStore } from './sqlite-client-store.js'
import { SERVERS_KEY, type SqliteClientStatements } from './statements.js'

/**
 * {@link ClientRepository} in a SQLite home: the client's tables and the Signal state in one
 * database, written only through prepared statements, in the Signal storage's transactions
 * (group commit: many transactions, one fsync; each resolves after the COMMIT that made it
 * durable). Reads hold the connection, so they never see a transaction in progress.
 */
export class SqliteClientRepository implements ClientRepository {
  readonly location: string
  readonly signal: SqliteSignalStorage
  private readonly statements: SqliteClientStatements
  private readonly writes: ClientWriter
  private readonly files: AttachmentStatements

  constructor(private readonly store: SqliteClientStore) {
    this.location = store.homeDir
    this.statements = store.statements
    this.signal = new SqliteSignalStorage(store.db, { sqlite: store.sqlite })
    this.files = new AttachmentStatements(store.sqlite, store.homeDir)
    this.writes = statementWriter(store.statements, store.clock, this.files)
  }

  transaction<T>(fn: (writer: ClientWriter) => Promise<T>): Promise<T> {
    return this.signal.transaction((tx) => fn(this.writer(tx)))
  }

  writer(tx: SignalStorage): ClientWriter {
    if (!(tx instanceof SqliteSignalTransaction)) {
      throw new TypeError('not a transaction of this SQLite home')
    }
    return this.writes
  }

  private read<T>(fn: (statements: SqliteClientStatements) => T): Promise<T> {
    return this.store.locked(fn)
  }

  loadIdentity(): Promise<HomeIdentity | undefined> {
    return this.read((s) => s.identity())
  }

  saveIdentity(identity: HomeIdentity): Promise<void> {
    return this.store.writeIdentity(identity)
  }

  updateIdentity(identity: HomeIdentity): Promise<void> {
    return this.read((s) => s.replaceIdentity(identity))
  }

  rememberedServers(): Promise<string[]> {
    return this.read((s) => serversIn(s.setting(SERVERS_KEY)))
  }

  setting(key: string): Promise<string | undefined> {
    return this.read((s) => s.setting(key))
  }

  deviceLists() {
    return this.read((s) => s.deviceLists())
  }

  groups() {
    return this.read((s) => s.groups())
  }

  groupStates(groupId: string) {
    return this.read((s) => s.groupStates(groupId))
  }

  groupSenders() {
    return this.read((s) => s.groupSenders())
  }

  pendingGroupMessages(sender: string, distributionId: string) {
    return this.read((s) => s.pendingGroupMessages(sender, distributionId))
  }

  outgoingSince(contactId: string, since: number, limit: number) {
    return this.read((s) => s.outgoingSince(contactId, since, limit))
  }

  attachment(messageId: string) {
    return this.read(() => this.files.get(messageId))
  }

  attachmentsOf(messageIds: string[]) {
    return this.read(() => this.files.many(messageIds))
  }

  attachmentChunks(messageId: string) {
    return this.read(() => this.files.chunks(messageId))
  }
  attachmentDraft(messageId: string) {
    return this.files.draft(messageId)
  }

  contact(id: string) {
    return this.read((s) => s.contact(id))
  }

  contacts() {
    return this.read((s) => s.contacts())
  }

  contactIdsByName(name: string) {
    return this.read((s) => s.contactIdsByName(name))
  }

  unreadCounts() {
    return this.read((s) => s.unreadCounts())
  }

  lastMessage(contactId: string) {
    return this.read((s) => s.lastMessage(contactId))
  }

  messagesBefore(contactId: string, limit: number, before?: string) {
    return this.read((s) => {
      if (before === undefined) return s.messagesBefore(contactId, limit)
      const pivot = s.messagePosition(before)
      return pivot ? s.messagesBefore(contactId, limit, pivot) : undefined
    })
  }

  unnotifiedIncoming(limit: number) {
    return this.read((s) => s.unnotifiedIncoming(limit))
  }

  lastSentAt() {
    return this.read((s) => s.lastSentAt())
  }

  outboxCount() {
    return this.read((s) => s.outboxCount())
  }

  dueOutbox(now: number) {
    return this.read((s) => s.dueOutbox(now))
  }

  isProcessed(id: string) {
    return this.read((s) => s.isProcessed(id))
  }

  knownDhtNodes(limit: number) {
    return this.read((s) => s.knownDhtNodes(limit))
  }

  close(): Promise<void> {
    this.files.close()
    return this.store.close()
  }
}

/** The writer: the same prepared statements, run inside the transaction that holds the connection. */
function statementWriter(
  s: SqliteClientStatements,
  clock: Clock,
  files: AttachmentStatements,
): ClientWriter {
  return {
    saveAttachment: async (a, draft) => files.save(a, draft),
    saveAttachmentChunk: async (id, index, data) => files.saveChunk(id, index, data),
    dropAttachmentChunks: async (id) => files.dropChunks(id),
    dropAttachmentCiphertext: async (id) => files.dropCiphertext(id),
    insertMessage: async (m) => s.insertMessage(m),
    advanceState: async (id, state, route) => s.advanceState(id, state, route ?? null),
    isOutgoingTo: async (id, contactId) => s.isOutgoingTo(id, contactId),
    unreadIncoming: async (contactId, ids) => {
      const unread = s.unreadIncoming(contactId)
      if (!ids) return unread
      const wanted = new Set(ids)
      return unread.filter((id) => wanted.has(id))
    },
    setRead: async (ids) => ids.forEach((id) => s.setRead(id)),
    setNotified: async (ids) => ids.forEach((id) => s.setNotified(id)),
    insertOutbox: async (entry) => s.insertOutbox(entry),
    setOutboxSignal: async (id, signal) => s.setOutboxSignal(id, signal),
    setOutboxSealed: async (id, sealed) => s.setOutboxSealed(id, sealed),
    deferOutbox: async (id, attempts, at) => s.deferOutbox(id, attempts, at),
    deleteOutbox: async (id) => s.deleteOutbox(id),
    dropOutboxTo: async (account, deviceId) => s.dropOutboxTo(account, deviceId),
    addPendingReceipt: async (receipt) => s.addPendingReceipt(receipt),
    takePendingReceipts: async () => s.takePendingReceipts(),
    markProcessed: async (id, at, outcome) => s.markProcessed(id, at, outcome),
    addRefusal: async (refusal) => s.addRefusal(refusal),
    purgeProcessed: async (before) => s.purgeProcessed(before),
    saveContact: async (contact) => s.saveContact(contact),
    upsertSender: async (id, publicKey, at) => s.upsertSender(id, publicKey, at),
    renameContact: async (id, name) => s.renameContact(id, name),
    removeContact: async (id) => s.removeContact(id),
    setClaimedName: async (id, name) => s.setClaimedName(id, name),
    setBlocked: async (id, publicKey, blocked, at) => s.setBlocked(id, publicKey, blocked, at),
    countDropped: async (id) => s.countDropped(id),
    deleteConversation: async (contactId) => {
      s.deleteConversation(contactId)
      files.dropConversation(contactId)
    },
    setContactFlag: async (id, reason) => s.setContactFlag(id, reason),
    saveDeviceList: async (list) => s.saveDeviceList(list),
    saveGroup: async (group) => s.saveGroup(group),
    saveGroupStates: async (groupId, states) => s.saveGroupStates(groupId, states),
    saveGroupSender: async (sender) => s.saveGroupSender(sender),
    setGroupSenderRead: async (distributionId, sender, at) =>
      s.setGroupSenderRead(distributionId, sender, at),
    addPendingGroupMessage: async (message) => s.addPendingGroupMessage(message),
    deletePendingGroupMessage: async (id) => s.deletePendingGroupMessage(id),
    purgePendingGroupMessages: async (before) => s.purgePendingGroupMessages(before),
    touchDeviceList: async (account, at) => s.touchDeviceList(account, at),
    setSetting: async (key, value) => s.setSetting(key, value, clock.now()),
    rememberDhtNodes: async (nodes, at) => nodes.forEach((n) => s.rememberDhtNode(n, at)),
    rememberServer: async (url) => addServer(s, url, clock.now()),
  }
}
