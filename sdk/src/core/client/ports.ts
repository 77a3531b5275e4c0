import type { KeyProvider } from '../crypto/key-provider.js'
import type { NodeAddress } from '../dht/messages.js'
import type { DatagramBind, MulticastBind, StreamConnector, StreamListen } from '../net/ports.js'
import type { Clock } from '../runtime/clock.js'
import type { Fetch, Random } from '../runtime/host.js'
import type { Timers } from '../runtime/timers.js'
import type { SignalProvider } from '../signal/signal-session.js'
import type { SignalStorage } from '../signal/signal-storage.js'
import type { Bytes } from '../wire/bytes.js'
import type { MediaCrypto } from '../crypto/media-crypto.js'
import type {
  AttachmentState,
  ChatMessage,
  ContactId,
  DeliveryState,
  MessageId,
  MessageRoute,
  RefusalReason,
} from './types.js'

/** A contact as the repository keeps it. */
export interface ContactRecord {
  id: ContactId
  publicKey: Bytes
  name?: string
  addedAt: number
  lastSeenAt?: number
  flagged?: RefusalReason
  /** A contact request: the account wrote first and was not accepted yet. */
  request?: true
  /** Blocked: its messages are dropped unread. */
  blocked?: true
  /** The name it gave itself (cleaned): a claim, never the contact's name. */
  claimedName?: string
  /** Messages dropped while it was blocked. */
  dropped?: number
}

/** A message as the repository keeps it: the message, and whether its event was emitted. */
export interface StoredMessage extends ChatMessage {
  /** Incoming: true once the `message` event was emitted (false: emit it at the next start). */
  notified: boolean
}

/** One device of an account, as a payload's destination. */
export interface Target {
  /** The account's text ID (a contact's, or this client's own for its other devices). */
  account: ContactId
  deviceId: number
}

/** A payload waiting to leave for one device: a chat message, a receipt, a copy for our own devices… */
export interface OutboxEntry {
  /**
   * The entry's key: the payload's message ID (hex) for device 1 of the contact (as before
   * devices), else `payloadId/account.device`.
   */
  id: string
  /** The conversation it belongs to (for copies to own devices: the conversation copied). */
  contactId: ContactId
  /** The account and device it goes to; absent: the contact's device 1. */
  to?: Target
  /** The encoded plaintext (`encodeChatPayload`), saved before any network I/O. */
  plaintext: Bytes
  /** The sealed envelope for the mailbox, saved before its first put (every put is the same). */
  sealed?: Bytes
  /** The Signal message, `type (1) || message`, saved with the ratchet step that made it. */
  signal?: Bytes
  /** The chat message whose state this entry moves; absent for receipts and copies to own devices. */
  messageId?: MessageId
  createdAt: number
  attempts: number
  nextAttemptAt: number
}

/** A receipt owed to a contact, batched into one receipt message per contact and kind. */
export interface PendingReceipt {
  contactId: ContactId
  messageId: MessageId
  kind: 'delivered' | 'read'
}

/** A refused incoming message, kept for diagnostics. */
export interface RefusalRecord {
  /** The envelope or message ID, hex. */
  id: string
  claimedSender?: ContactId
  reason: RefusalReason
  route: MessageRoute
  at: number
}

/** The identity kept in a home: this device's key and the account it belongs to. */
export interface HomeIdentity {
  /** This device's `SecretKey.serialize()`: secret. On device 1, the account key. */
  secretKey: Bytes
  /**
   * The account's text ID (kept beside the key, readable without it); while a new device
   * waits to be linked, its own key's.
   */
  textId: string
  name?: string
  createdAt: number
  /** The account key, when this device is not device 1 (absent: the key is the account's). */
  accountPublicKey?: Bytes
  /** This device's ID: 1 holds the account key; 0 while waiting to be linked. */
  deviceId: number
  /**
   * This device's public key, kept beside the secret one so that showing the identity needs
   * no crypto library (`passage id`); absent in homes made before it was kept.
   */
  publicKey?: Bytes
}

/** The newest verified device list of an account, as the repository keeps it. */
export interface StoredDeviceList {
  account: ContactId
  seq: number
  /** The signed record (type 3), as on the wire. */
  record: Bytes
  /** When it was last fetched or confirmed. */
  checkedAt: number
}

/** A group as one device keeps it (docs/PROTOCOL.md, "Groups"); its states are kept apart. */
export interface StoredGroup {
  /** The group's text ID (`g1…`): its conversation ID. */
  id: string
  /** The head state's revision (the newest held). */
  revision: number
  /** False once this account left or was removed (the history stays). */
  member: boolean
  joinedAt: number
  /** This device's sender-key chain for the group (its distribution ID), once it sent. */
  chain?: Bytes
  /** The devices the chain was given to, as `accountTextId.deviceId`. */
  given: string[]
  /** The chain's group mailbox seed (docs/PROTOCOL.md, "Group mailboxes"), made with it. */
  seed?: Bytes
  /** The devices of `given` that got the seed with the chain (they read its group mailbox). */
  seeded?: string[]
}

/** A received sender-key chain: whose it is and which group it is for. */
export interface StoredGroupSender {
  /** The distribution ID, hex. */
  distributionId: string
  /** `accountTextId.deviceId` of the device whose chain it is. */
  sender: string
  groupId: string
  /** The chain's group mailbox seed, when its sender gave one (docs/PROTOCOL.md, "Group mailboxes"). */
  seed?: Bytes
  /** When its group mailbox was last read through (or, before that, when the chain came). */
  readAt?: number
  /** When its key was sent (at most when it came): a newer chain of its device retires it. */
  since?: number
}

/** An attachment as one device keeps it (docs/PROTOCOL.md, "Attachments"). */
export interface StoredAttachment {
  /** The message that carries it. */
  messageId: MessageId
  /** Its conversation: a contact's text ID or a group's. */
  contactId: ContactId
  direction: 'in' | 'out'
  /** The device that sent it, `accountTextId.deviceId` (where a link pulls it from). */
  sender: string
  /** The encoded pointer (its keys included: secret). */
  pointer: Bytes
  state: AttachmentState
  /** The whole ciphertext, once held: sent, or fetched and checked. Decrypted on view. */
  ciphertext?: Bytes
  updatedAt: number
}

/**
 * A fetched attachment's ciphertext written as its chunks come, while the rest are on their
 * way (docs/PROTOCOL.md, "Attachments at rest"): kept by `saveAttachment(row, draft)` once
 * {@link AttachmentDraft.complete} resolved, or dropped by {@link AttachmentDraft.discard}.
 * Nothing of it is readable as the row's ciphertext before that save commits.
 */
export interface AttachmentDraft {
  /**
   * Writes `bytes` at `offset` of the ciphertext, in the background (`complete` waits for it
   * and reports its failure). The caller leaves `bytes` unchanged until then.
   */
  write(offset: number, bytes: Uint8Array): void
  /** Resolves once every write is done; rejects with the first write's failure. */
  complete(): Promise<void>
  /** Drops what was written (the fetch stopped or failed); idempotent. */
  discard(): Promise<void>
}

/** A group message waiting for its sender key (it came before the key). */
export interface PendingGroupMessage {
  /** Its envelope or direct message ID, hex. */
  id: string
  sender: string
  distributionId: string
  route: MessageRoute
  /** Direct: the sender-key message; mailbox: the sealed envelope. */
  data: Bytes
  receivedAt: number
}

/**
 * The writes (and the reads that decide them) of one transaction of a
 * {@link ClientRepository}: inside `ClientRepository.transaction`, or inside a Signal
 * operation's `persist` hook through `ClientRepository.writer(tx)`, so that a message and the
 * ratchet step that made it commit together. Nothing is visible to others before the commit.
 */
export interface ClientWriter {
  /** Inserts a message; false when one with its ID exists (nothing changes then). */
  insertMessage(message: StoredMessage): Promise<boolean>
  /**
   * Moves a message's state forward to `state` (never back) and sets `read` with `read`; sets
   * its route when it has none, even when the state does not move (a read receipt can come
   * before the link's "stored" answer). True when the state moved.
   */
  advanceState(messageId: MessageId, state: DeliveryState, route?: MessageRoute): Promise<boolean>
  /** True when `messageId` is an outgoing message to `contactId` (a receipt may move it). */
  isOutgoingTo(messageId: MessageId, contactId: ContactId): Promise<boolean>
  /** Incoming messages of a contact not read yet (those of `ids` only, when given). */
  unreadIncoming(contactId: ContactId, ids?: MessageId[]): Promise<MessageId[]>
  /** Marks incoming messages read. */
  setRead(ids: MessageId[]): Promise<void>
  /** Marks incoming messages as shown (their `message` event was emitted). */
  setNotified(ids: MessageId[]): Promise<void>

  /** Inserts an outbox entry; false when one with its key is there (nothing changes then). */
  insertOutbox(entry: OutboxEntry): Promise<boolean>
  setOutboxSignal(id: string, signal: Bytes): Promise<void>
  setOutboxSealed(id: string, sealed: Bytes): Promise<void>
  /** The entry waits: `attempts` so far, next try at `nextAttemptAt`. */
  deferOutbox(id: string, attempts: number, nextAttemptAt: number): Promise<void>
  deleteOutbox(id: string): Promise<void>
  /** Removes every entry to (`account`, `deviceId`) (a revoked device); resolves with how many. */
  dropOutboxTo(account: ContactId, deviceId: number): Promise<number>

  addPendingReceipt(receipt: PendingReceipt): Promise<void>
  /** Every owed receipt, removed from the table. */
  takePendingReceipts(): Promise<PendingReceipt[]>

  /** Records an envelope (or direct message) as handled: `ok` or the refusal reason. */
  markProcessed(id: string, at: number, outcome: 'ok' | 'blocked' | RefusalReason): Promise<void>
  addRefusal(refusal: RefusalRecord): Promise<void>
  /** Envelopes handled before `before` are forgotten (they can no longer arrive). */
  purgeProcessed(before: number): Promise<void>

  /** Adds a contact; an existing one keeps its row, with `name` when given. */
  saveContact(contact: {
    id: ContactId
    publicKey: Bytes
    name?: string
    addedAt: number
  }): Promise<void>
  /**
   * Notes when the sender of a message was last seen; an account with no row becomes a
   * contact request. Resolves with true when the row was made here.
   */
  upsertSender(id: ContactId, publicKey: Bytes, at: number): Promise<boolean>
  renameContact(id: ContactId, name: string): Promise<void>
  /** Removes a contact or request; a blocked account stays blocked (as a request). */
  removeContact(id: ContactId): Promise<void>
  /** Sets the name an account claims for itself (an `intro`); `undefined` clears it. */
  setClaimedName(id: ContactId, name: string | undefined): Promise<void>
  /** Blocks or unblocks an account; one with no row gets one, as a request. */
  setBlocked(id: ContactId, publicKey: Bytes, blocked: boolean, at: number): Promise<void>
  /** Counts one dropped message of a blocked account. */
  countDropped(id: ContactId): Promise<void>
  /**
   * Deletes a conversation's messages, the receipts owed for them, and their attachments: the
   * rows, the chunks kept for a resume, and the ciphertexts held (a declined stranger's files do
   * not stay in the home).
   */
  deleteConversation(contactId: ContactId): Promise<void>
  setContactFlag(id: ContactId, reason: RefusalReason | undefined): Promise<void>

  /** Keeps `account`'s newest verified device list (the caller checked its seq is higher). */
  saveDeviceList(list: StoredDeviceList): Promise<void>
  /** Notes that `account`'s list was fetched or confirmed at `at`. */
  touchDeviceList(account: ContactId, at: number): Promise<void>
  /** Sets a setting (a string; JSON for structured values). */
  setSetting(key: string, value: string): Promise<void>

  /** Adds or replaces a group's row. */
  saveGroup(group: StoredGroup): Promise<void>
  /**
   * Replaces a group's states from `states[0].revision` on (a fork lost, or new states):
   * every held state at or above it is dropped, then these are kept.
   */
  saveGroupStates(groupId: string, states: { revision: number; bytes: Bytes }[]): Promise<void>
  /** Notes a received chain (its distribution ID, its device, its group, its seed). */
  saveGroupSender(sender: StoredGroupSender): Promise<void>
  /** Notes that a chain's group mailbox was read through at `at`. */
  setGroupSenderRead(distributionId: string, sender: string, at: number): Promise<void>
  /** Keeps a group message until its key comes; false when it is already kept. */
  addPendingGroupMessage(message: PendingGroupMessage): Promise<boolean>
  deletePendingGroupMessage(id: string): Promise<void>
  /** Drops the group messages kept since before `before` (their key never came); how many. */
  purgePendingGroupMessages(before: number): Promise<number>

  /**
   * Adds or replaces an attachment's row (a row without `ciphertext` keeps the one held). With
   * `draft` (completed), the draft's bytes become the row's ciphertext.
   */
  saveAttachment(attachment: StoredAttachment, draft?: AttachmentDraft): Promise<void>
  /** Keeps one fetched chunk (checked against its ID), so a transfer resumes. */
  saveAttachmentChunk(messageId: MessageId, index: number, data: Bytes): Promise<void>
  /** Forgets the chunks of an attachment (assembled, or refused). */
  dropAttachmentChunks(messageId: MessageId): Promise<void>
  /** Forgets the ciphertext an attachment's row holds (damaged at rest: to fetch it again). */
  dropAttachmentCiphertext(messageId: MessageId): Promise<void>

  /** DHT nodes seen at `at`, for the next start. */
  rememberDhtNodes(nodes: NodeAddress[], at: number): Promise<void>
  /** Adds a super-node URL to the remembered ones (no duplicates). */
  rememberServer(url: string): Promise<void>
}

/**
 * The client's own tables (contacts, messages, outbox, receipts, processed envelopes, known DHT
 * nodes, the identity) and the Signal state beside them, in one store with one transaction
 * mechanism: the Node adapter is SQLite (`@passage/sdk/node`); a mobile app brings its own.
 * `testing`'s conformance suite says what an implementation must do.
 *
 * Reads wait for transactions in progress (they never see uncommitted writes); never call them
 * inside a transaction: use the {@link ClientWriter} there.
 */
export interface ClientRepository {
  /** Where the data lives (a home folder), for messages and `PassageClient.home`. */
  readonly location: string
  /** The Signal state, in the same store: its transactions are the repository's. */
  readonly signal: SignalStorage
  /**
   * Runs `fn` in one transaction (with the Signal state's); resolves after the commit that
   * made it durable. Transactions that queue up may commit together (one fsync for many).
   */
  transaction<T>(fn: (writer: ClientWriter) => Promise<T>): Promise<T>
  /** The writer of a Signal transaction view (inside a `persist` hook). */
  writer(tx: SignalStorage): ClientWriter

  loadIdentity(): Promise<HomeIdentity | undefined>
  /** Saves the home's identity; throws `AlreadyExistsError` when it has one. */
  saveIdentity(identity: HomeIdentity): Promise<void>
  /** Replaces the home's identity row (a new device, once linked: the same key, its account). */
  updateIdentity(identity: HomeIdentity): Promise<void>
  rememberedServers(): Promise<string[]>
  /** A setting's value, if set. */
  setting(key: string): Promise<string | undefined>
  /** Every stored device list. */
  deviceLists(): Promise<StoredDeviceList[]>
  /** Every group this device knows. */
  groups(): Promise<StoredGroup[]>
  /** A group's held states, oldest first. */
  groupStates(groupId: string): Promise<Bytes[]>
  /** Every received chain. */
  groupSenders(): Promise<StoredGroupSender[]>
  /** The group messages waiting for the chain `distributionId` of `sender`, oldest first. */
  pendingGroupMessages(sender: string, distributionId: string): Promise<PendingGroupMessage[]>
  /**
   * Outgoing texts to a contact sent at or after `since`, oldest first, at most `limit` (to
   * resend to a device the contact linked since).
   */
  outgoingSince(contactId: ContactId, since: number, limit: number): Promise<ChatMessage[]>

  /** An attachment's row, ciphertext included. */
  attachment(messageId: MessageId): Promise<StoredAttachment | undefined>
  /** The rows of these messages' attachments, without their ciphertext (to show them). */
  attachmentsOf(messageIds: MessageId[]): Promise<StoredAttachment[]>
  /** The chunks of an attachment held so far, by index. */
  attachmentChunks(messageId: MessageId): Promise<Map<number, Bytes>>
  /**
   * Optional: a draft to write a fetched ciphertext into as its chunks come (a store of files
   * writes them off the event loop). Without it (or when it gives none), the fetch keeps the
   * chunks in memory and hands the whole ciphertext to `saveAttachment`.
   */
  attachmentDraft?(messageId: MessageId): AttachmentDraft | undefined

  contact(id: ContactId): Promise<ContactRecord | undefined>
  /** Every contact, in no particular order. */
  contacts(): Promise<ContactRecord[]>
  contactIdsByName(name: string): Promise<ContactId[]>
  /** Unread incoming messages by contact (contacts with none are absent). */
  unreadCounts(): Promise<Map<ContactId, number>>

  /** The newest message with a contact. */
  lastMessage(contactId: ContactId): Promise<ChatMessage | undefined>
  /**
   * Up to `limit` messages with a contact, newest first, those older than `before` (by send
   * time, then ID) when given. `undefined` when `before` is not a stored message.
   */
  messagesBefore(
    contactId: ContactId,
    limit: number,
    before?: MessageId,
  ): Promise<ChatMessage[] | undefined>
  /** Incoming messages whose event was never emitted, oldest first. */
  unnotifiedIncoming(limit: number): Promise<ChatMessage[]>
  /** The latest send time of an outgoing message (0 when none). */
  lastSentAt(): Promise<number>

  outboxCount(): Promise<number>
  /** Outbox entries due at `now`, oldest first. */
  dueOutbox(now: number): Promise<OutboxEntry[]>
  isProcessed(id: string): Promise<boolean>
  /** The most recently seen DHT nodes. */
  knownDhtNodes(limit: number): Promise<NodeAddress[]>

  /** Closes the store; pending transactions finish first. */
  close(): Promise<void>
}

/**
 * Everything the client takes from its platform. `createNodeClient` of `@passage/sdk/node`
 * fills it with Node's sockets, SQLite and libsignal.
 */
export interface ClientPorts {
  repository: ClientRepository
  signal: SignalProvider
  keys: KeyProvider
  /** Time, timers and randomness; the host's by default. */
  runtime?: { clock?: Clock; timers?: Timers; random?: Random }
  /** Binds the UDP socket of the client's own DHT node (absent: no DHT unless `options.dht`). */
  udp?: DatagramBind
  /** Dials direct links (absent: no outgoing links). */
  connect?: StreamConnector
  /** Listens for direct links (absent: no listener, so no LAN discovery either). */
  listen?: StreamListen
  /** Joins the LAN beacon group (absent: no LAN discovery). */
  discovery?: MulticastBind
  /** HTTP to super-nodes; the host's `fetch` by default. */
  fetch?: Fetch
  /** Attachments' bulk cryptography (absent: `sendAttachment` and `attachments.fetch` throw `UnsupportedError`). */
  media?: MediaCrypto
}

/** @internal What the client is built from, once its options are resolved. */
export interface ResolvedRuntime {
  clock: Clock
  timers: Timers
  random: Random
}
