// Over 500 lines: the client's public types (options, messages, events, statuses), each
// documented for SDK users; one file so the API reads in one place.
import type { AbortSignalLike } from '../runtime/host.js'
import type { DhtNode } from '../dht/dht-node.js'
import type { NodeAddress } from '../dht/messages.js'
import type { Identity } from '../identity/identity.js'
import type { GroupRole } from '../groups/group-state.js'
import type { PassageError } from '../errors.js'
import type { Bytes } from '../wire/bytes.js'
import type {
  AttachmentInfo,
  AttachmentInput,
  AttachmentEvent,
  AttachmentManager,
} from './attachment-types.js'

export type {
  AttachmentEvent,
  AttachmentInfo,
  AttachmentInput,
  AttachmentManager,
  AttachmentState,
} from './attachment-types.js'

/**
 * A contact's ID: its text ID (`p1…`, 40 characters). Stable for the life of the contact,
 * usable as a map key and on the command line.
 */
export type ContactId = string

/** A message's ID: 32 lowercase hex characters (16 random bytes), the same on both sides. */
export type MessageId = string

/**
 * Where an outgoing message is:
 * - `pending`: saved in the outbox, not yet handed to any network (or waiting for a retry);
 * - `sent`: handed over a direct link (or to the DHT, which has not acknowledged yet);
 * - `stored`: at least one DHT mailbox replica acknowledged it;
 * - `delivered`: the recipient's device decrypted and stored it (a receipt came back);
 * - `read`: the recipient's app marked it read (a receipt came back).
 * States only move forward. Incoming messages have the state `delivered` (or `read`).
 */
export type DeliveryState = 'pending' | 'sent' | 'stored' | 'delivered' | 'read'

/** `out`: written here; `in`: received from the contact. */
export type MessageDirection = 'in' | 'out'

/** How a message travelled: over a direct TCP link or through a DHT mailbox. */
export type MessageRoute = 'direct' | 'mailbox'

/**
 * How a message to a contact travels now: over a link found on the LAN, a direct link, a link
 * through a super-node's relay, or (none of them open) through its mailbox.
 */
export type ContactRoute = 'lan' | 'direct' | 'relay' | 'mailbox'

/** A contact as kept in the client's home. */
export interface ChatContact {
  /** The contact's text ID. */
  id: ContactId
  /** Same as {@link id}; named for readability at call sites that print it. */
  textId: string
  /** The contact's identity public key (33 bytes). */
  publicKey: Bytes
  /** The display name given when adding it (or taken from its `passage:` URI). */
  name?: string
  /** When it was added, ms since the epoch. */
  addedAt: number
  /** When a message or a LAN beacon was last seen from it, ms since the epoch. */
  lastSeenAt?: number
  /** True while a direct link to it is open or it was seen on the LAN recently. */
  online: boolean
  /**
   * The route a message to it takes now (the best of its devices'): `lan`, `direct`, `relay`
   * while online, else `mailbox`. Set on every contact the client returns.
   */
  route?: ContactRoute
  /** Incoming messages not marked read. */
  unread: number
  /**
   * Set when something arrived that claimed to be this contact and was refused
   * (impersonation, changed identity key); see the `refused` event. Cleared by
   * {@link PassageClient.contacts}.`clearFlag`.
   */
  flagged?: RefusalReason
}

/** Who wrote a message: an account and one of its devices. */
export interface MessageSender {
  /** The account's text ID (for an outgoing message: this client's account). */
  account: ContactId
  /** Its device that wrote it (1 to 127). */
  deviceId: number
}

/** One text message of a conversation. */
export interface ChatMessage {
  id: MessageId
  contactId: ContactId
  direction: MessageDirection
  /** The account and device that wrote it (outgoing: this account, maybe another of its devices). */
  sender: MessageSender
  /** The text (UTF-8). */
  text: string
  /** When the author wrote it, ms since the epoch (the author's clock). */
  sentAt: number
  /** When this client stored it: for `in`, when it arrived; for `out`, when it was written. */
  receivedAt: number
  state: DeliveryState
  /** Incoming: the user has seen it ({@link PassageClient.markRead}). Outgoing: a read receipt came. */
  read: boolean
  /** How it travelled, once known. */
  route?: MessageRoute
  /** Set for a message that carries an attachment (its `text` is the caption, or empty). */
  attachment?: AttachmentInfo
}

/** A conversation with one contact, as the contact list of a chat screen shows it. */
export interface Conversation {
  /** The contact; for a group, its ID (`g1…`) and name in a contact's shape (never online). */
  contact: ChatContact
  /** Set for a group's conversation. */
  group?: GroupInfo
  /** The newest message, if any. */
  lastMessage?: ChatMessage
  /** Incoming messages not marked read. */
  unread: number
  /** Time of the newest message (or when the contact was added), ms since the epoch. */
  updatedAt: number
}

/** Options of {@link PassageClient.history}. */
export interface HistoryOptions {
  /** At most this many messages (default 50, at most 1000). */
  limit?: number
  /**
   * Only messages older than this one: a message ID from a previous page (the first, oldest
   * message of the page), for scrolling back.
   */
  before?: MessageId
}

/** Options of calls that may wait on the network. */
export interface SignalOptions {
  /** Aborts the wait; the call rejects with the signal's reason. */
  signal?: AbortSignalLike
}

/** Options of {@link PassageClient.flushOutbox}. */
export interface FlushOptions extends SignalOptions {
  /** Also the entries waiting out their retry delay (default `false`: only those due). */
  all?: boolean
}

/** Options of {@link PassageClient.send}. */
export interface SendOptions extends SignalOptions {
  /**
   * Resolve only after the first delivery attempt (default `true`). With `false`, `send`
   * resolves as soon as the message is in the outbox (`pending`), and it goes out in the
   * background; watch the `delivery` event.
   */
  wait?: boolean
}

/** A change of an outgoing message's {@link DeliveryState}. */
export interface DeliveryEvent {
  messageId: MessageId
  contactId: ContactId
  state: DeliveryState
  route?: MessageRoute
}

/** Why an incoming message was refused. */
export type RefusalReason =
  /** The Signal message was not made by the identity it claims (or the identity key changed). */
  | 'impersonation'
  /** The ciphertext does not decrypt: altered, truncated, or not for us. */
  | 'tampered'
  /** The same message came twice (dropped quietly, reported for diagnostics). */
  | 'replay'
  /** It decrypted but its plaintext is not a valid chat message. */
  | 'malformed'
  /** A contact's identity key changed: nothing is accepted until the user accepts the new key. */
  | 'identity-changed'
  /** It claims a device its account revoked: revoked devices are refused. */
  | 'revoked-device'

/** An incoming message that was refused; the client keeps running. */
export interface RefusedEvent {
  reason: RefusalReason
  /** The text ID it claimed to come from, when that much could be read. */
  claimedSender?: string
  /** `mailbox` (the envelope was deleted after refusal) or `direct`. */
  route: MessageRoute
  error: PassageError
}

/** A peer found by LAN discovery (signed multicast beacons). */
export interface LanPeer {
  /** The device's text ID (its key's; for device 1, the account's). */
  textId: string
  /** The device's key. */
  publicKey: Bytes
  /** The account it says it is a device of (a version 1 beacon: its own key, device 1). */
  account?: { textId: string; deviceId: number }
  /** Its direct-link endpoints. */
  addresses: Array<{ host: string; port: number }>
  /** When its last beacon arrived, ms since the epoch. */
  lastSeenAt: number
  /** The contact it is, when it is one. */
  contactId?: ContactId
}

/** The health of one configured super-node. */
export interface SuperNodeStatus {
  url: string
  /** The last announce or request succeeded. */
  reachable: boolean
  /** When this client last announced itself there, ms since the epoch. */
  lastAnnounceAt?: number
  /** The last failure, when not reachable. */
  error?: string
}

/** What {@link PassageClient.status} reports: what a chat screen's status bar shows. */
export interface ClientStatus {
  /** True when the DHT has at least one node in its table or a direct link is open. */
  online: boolean
  /** Peers currently seen on the LAN. */
  lanPeers: number
  /** The configured super-nodes. */
  superNodes: SuperNodeStatus[]
  /** Nodes in the DHT routing table. */
  dhtNodes: number
  /** Links open now (LAN, direct and relayed). */
  directLinks: number
  /** Of those, the links through a super-node's relay. */
  relayedLinks: number
  /** Relays this client is registered at (peers that cannot dial it reach it there). */
  relays: number
  /** Messages waiting in the outbox. */
  outbox: number
  /** When the mailbox was last fetched successfully, ms since the epoch. */
  lastFetchAt?: number
  /** The TCP endpoint other clients dial, when listening. */
  listening?: { host: string; port: number }
}

/** The events of a {@link PassageClient}, with their payloads. */
export interface ClientEvents {
  /**
   * A new incoming message, already stored. Emitted once; only when the process dies between
   * storing a message and emitting its event is the event emitted again at the next start
   * (at least once across crashes, never lost).
   */
  message: ChatMessage
  /** An outgoing message changed state. */
  delivery: DeliveryEvent
  /** Something in {@link ClientStatus} changed (peers, links, super-nodes, outbox). */
  status: ClientStatus
  /** An incoming message was refused (impersonation, tampering…). */
  refused: RefusedEvent
  /** A device of a contact or of this account was linked, revoked, renamed or recovered. */
  device: DeviceEvent
  /** A group was made here, joined, changed (members, roles, name) or left us. */
  group: GroupEvent
  /** A stranger wrote first (a new contact request), or a request's claimed name changed. */
  request: ChatRequest
  /** A background task failed (fetch, publish, announce); the client retries by itself. */
  error: PassageError
  /** An attachment's transfer progressed or changed state. */
  attachment: AttachmentEvent
}

/** One device of an account, as its device list says. */
export interface DeviceInfo {
  /** The account's text ID. */
  account: ContactId
  /** 1 to 127; device 1 holds the account key. */
  deviceId: number
  name?: string
  state: 'active' | 'revoked'
  /** The device's key (33 bytes): device 1's is the account key. */
  publicKey: Bytes
  /** The device key's ID as text: where its direct link and mailbox are. */
  textId: string
  /** The list seq (ms) that gave it its key and state; 0 for an account's first device. */
  changedAt: number
  /** True for the device this client runs on. */
  current: boolean
}

/** What changed about a device (see {@link ClientEvents.device}). */
export interface DeviceEvent {
  account: ContactId
  deviceId: number
  change: 'linked' | 'revoked' | 'renamed' | 'recovered'
  name?: string
  /** True when it is a device of this client's own account. */
  own: boolean
  /** True when it is this very device (linked, or revoked). */
  current: boolean
}

/** A new device's request to be linked, shown as a QR code (see {@link DeviceManager.requestLink}). */
export interface LinkRequest {
  /** The `passage-link:` URI: show it as a QR code, or have it pasted on device 1. */
  uri: string
  /** The confirmation code (six digits) device 1 shows too; compare them. */
  code: string
  /**
   * Resolves once device 1 approved and this device is linked (and its history, when sent,
   * is stored): the client is then that device of the account. Rejects when the request is
   * cancelled or the client closes.
   */
  linked: Promise<DeviceInfo>
  /** Gives up waiting (the one-time key is forgotten). */
  cancel(): void
}

/** A group as this device holds it (docs/PROTOCOL.md, "Groups"). */
export interface GroupInfo {
  /** The group's text ID (`g1…`): its conversation ID (`history`, messages' `contactId`). */
  id: string
  name: string
  /** The head state's revision; grows with every change. */
  revision: number
  /** Grows with every removal: senders then renew their keys. */
  epoch: number
  /** False once this account left or was removed. */
  member: boolean
  /** This account's role, while a member. */
  role?: GroupRole
  members: { account: ContactId; role: GroupRole; me: boolean }[]
}

/** What happened to a group (see {@link ClientEvents.group}). */
export interface GroupEvent {
  groupId: string
  change: 'created' | 'joined' | 'changed' | 'removed'
  revision: number
}

/**
 * Group conversations: up to 256 accounts with all their devices. Messages are encrypted once
 * under each sending device's sender key and delivered to every member device (a direct link,
 * or its own mailbox), so offline members read groups as they read 1:1 chats.
 */
export interface GroupManager {
  /** Makes a group this account owns, with these contacts as members. */
  create(name: string, members?: ContactId[]): Promise<GroupInfo>
  list(): Promise<GroupInfo[]>
  info(groupId: string): Promise<GroupInfo>
  /** Owner or admin: adds contacts as members. Throws `NotAllowedError` beyond this account's role. */
  add(groupId: string, members: ContactId[]): Promise<GroupInfo>
  /** Owner or admin: removes members; they decrypt nothing sent afterwards. */
  remove(groupId: string, members: ContactId[]): Promise<GroupInfo>
  /** Leaves the group (an owner names another owner first). */
  leave(groupId: string): Promise<GroupInfo>
  /** Owner: makes a member an admin. */
  promote(groupId: string, member: ContactId): Promise<GroupInfo>
  /** Owner: makes an admin a member. */
  demote(groupId: string, member: ContactId): Promise<GroupInfo>
  rename(groupId: string, name: string): Promise<GroupInfo>
  /** Sends a text to every member device; its state is the best over them. */
  send(groupId: string, text: string, options?: SendOptions): Promise<ChatMessage>
}

/** The devices of this client's account, and linking, revoking and renaming them. */
export interface DeviceManager {
  /** The devices of this account, or of a contact's (by its text ID). */
  list(account?: ContactId): Promise<DeviceInfo[]>
  /**
   * On a new device (a client opened with `link: true`): makes a link request to show as a
   * QR code. Throws `AlreadyExistsError` when this device is already linked.
   */
  requestLink(options?: { name?: string }): Promise<LinkRequest>
  /**
   * On device 1: links the device whose `passage-link:` URI this is, once the user saw the
   * same code on both screens. Publishes the new list, provisions the device (over a direct
   * link, else its mailbox), sends it the contacts, and with `history` the messages (direct
   * link only). Throws `NotAccountDeviceError` on another device.
   */
  approveLink(
    uri: string,
    options?: { name?: string; history?: boolean } & SignalOptions,
  ): Promise<DeviceInfo>
  /** On device 1: revokes a device and tells every contact at once. */
  revoke(deviceId: number, options?: SignalOptions): Promise<DeviceInfo>
  /** On device 1: renames a device (its name is in the signed list). */
  rename(deviceId: number, name: string, options?: SignalOptions): Promise<DeviceInfo>
  /**
   * On device 1: the recovery code (the account's private key, `pr1…`). Whoever holds it
   * holds the account: show it once, to be written down.
   */
  recoveryCode(): string
}

/** Where LAN beacons go (see `LanDiscovery`). */
export interface LanOptions {
  /** IPv4 multicast group; default `239.255.77.77`. */
  group?: string
  /** UDP port; default 7477. */
  port?: number
  /** Local interface to join on and send from; default: the OS's choice. */
  interface?: string
  /** Time between beacons; default 5 s. */
  intervalMs?: number
}

/** Options of `createClient` (the core, on ports) and `createNodeClient` (`@passage/sdk/node`). */
export interface ClientOptions {
  /**
   * Bytes of attachment chunks this client puts in the DHT in any 7 days, at most (default
   * 48 MiB: a replica keeps 64 MiB per sender address, the rest stays for texts).
   */
  attachmentBudgetBytes?: number
  /**
   * When the home has no identity yet: `true` creates one (with {@link name}); `false`
   * (the default) throws `NoIdentityError`.
   */
  createIdentity?: boolean
  /**
   * When the home has no identity yet: make it a new device of an existing account, waiting
   * to be linked (see {@link DeviceManager.requestLink}).
   */
  link?: boolean
  /**
   * When the home has no identity yet: restore device 1 of an account from its recovery code
   * (`pr1…`); the client then publishes the account's device list anew, and every contact
   * starts new sessions with it.
   */
  recover?: string
  /** A display name for a new identity. */
  name?: string
  /**
   * Super-node URLs. Remembered in the home; when omitted, the remembered ones are used.
   * The client announces itself to them, asks them for peers and addresses, and joins the
   * DHT through the endpoint they report.
   */
  servers?: string[]
  /** DHT nodes to join through, in addition to the super-nodes' and remembered ones. */
  dhtBootstrap?: NodeAddress[]
  /**
   * A DHT node to use instead of starting one (tests, or an app that runs its own). The
   * client does not destroy a node it was given.
   */
  dht?: DhtNode
  /**
   * The UDP endpoint of the client's own DHT node (default every interface, `0.0.0.0`, port
   * 0): a node bound to `127.0.0.1` reaches DHT nodes on this machine only.
   */
  dhtBind?: { host?: string; port?: number }
  /**
   * The TCP endpoint for direct links (port 0 by default); `false`: no listener (messages then
   * travel only through mailboxes and links this client dials). The default host is where
   * peers are sent: every interface (`0.0.0.0`) with LAN discovery on, the interface given in
   * `lan.interface`; with discovery off, every interface when a super-node is on another
   * machine (it is announced as "the address the super-node sees"), else `127.0.0.1`.
   */
  listen?: { host?: string; port?: number } | false
  /**
   * LAN discovery by signed multicast beacons (needs the direct-link listener): `true` (the
   * default) uses the default group and port on the OS's interface, `false` turns it off.
   * Tests pass `{ interface: '127.0.0.1', port }` to stay on the loopback interface.
   */
  lan?: boolean | LanOptions
  /**
   * Relay through super-nodes (default `true`): register at every super-node that runs a relay
   * (`/v1/info`), so peers that cannot dial this client reach it there, and dial peers through
   * it when neither LAN nor direct addresses work. The relay sees only the link's end-to-end
   * encrypted frames. `false`: LAN, direct and mailbox only.
   */
  relay?: boolean
  /** How often the mailbox is fetched while running (default 30 s). */
  fetchIntervalMs?: number
  /**
   * Periodic work in the background: a mailbox fetch at start and every `fetchIntervalMs`,
   * outbox retries, bundle republishing, announces. Default `true`. One-shot tools
   * (`passage send`, `passage inbox`) pass `false` and call `fetchInbox()` / `flushOutbox()`
   * themselves, so the messages `fetchInbox()` returns are all the new ones.
   */
  background?: boolean
  /**
   * `false`: open the home only, start no network (contacts, history, marking read work;
   * `send` only queues). Default `true`.
   */
  network?: boolean
}

/**
 * The contacts of a client.
 */
export interface ContactBook {
  /**
   * Adds a contact from its text ID (`p1…`) or a `passage:` URI (which carries the public
   * key and may carry a name). A text ID alone is a hash: the public key is then looked up
   * through the DHT and the super-nodes, so `add` waits on the network. Adding an existing
   * contact updates its name. Throws `MalformedError` for an invalid ID or URI,
   * `NotFoundError` when the key of a bare text ID cannot be found.
   */
  add(textIdOrUri: string, options?: { name?: string } & SignalOptions): Promise<ChatContact>
  /** All contacts, by name then text ID. */
  list(): Promise<ChatContact[]>
  /** A contact by text ID, or by name when exactly one contact has it; `undefined` otherwise. */
  get(textIdOrName: string): Promise<ChatContact | undefined>
  /** Renames a contact. Throws `NotFoundError` for an unknown one. */
  rename(contactId: ContactId, name: string): Promise<ChatContact>
  /**
   * Removes a contact; its history stays. A blocked one stays blocked. Throws `NotFoundError`
   * when it is neither a contact nor a request.
   */
  remove(contactId: ContactId): Promise<void>
  /** Clears the {@link ChatContact.flagged} mark after the user looked at it. */
  clearFlag(contactId: ContactId): Promise<void>
  /**
   * Blocks an account (a contact, a request, a group member): from now on everything its
   * devices send is dropped unread and counted, 1:1 and group messages alike, and it gets no
   * receipts. A contact leaves the contact list while blocked; the block survives restarts and
   * reaches this account's other devices. Throws `NotFoundError` when its key is not known.
   */
  block(contactId: ContactId): Promise<void>
  /** Lifts a block: a contact is a contact again, a stranger a request. */
  unblock(contactId: ContactId): Promise<void>
  /** The blocked accounts, with how many of their messages were dropped. */
  blocked(): Promise<BlockedAccount[]>
}

/**
 * An account that wrote first and is not a contact (yet): its texts are kept, its name is
 * only what it claims.
 */
export interface ChatRequest {
  /** Its text ID. */
  id: ContactId
  textId: string
  /** Its identity key (33 bytes). */
  publicKey: Bytes
  /**
   * The name it gave itself (an `intro`), cleaned of controls and invisible characters. A
   * claim, not an identity: anyone can call themselves by a contact's name. Show it marked
   * as a claim, never as a contact's name.
   */
  claimedName?: string
  /** When its first message came, ms since the epoch. */
  firstSeenAt: number
  /** When its last message came. */
  lastSeenAt?: number
  /** Its messages not marked read. */
  unread: number
  /** Its newest message. */
  lastMessage?: ChatMessage
}

/** A blocked account (see {@link ContactBook.block}). */
export interface BlockedAccount {
  id: ContactId
  textId: string
  publicKey: Bytes
  /** The name the user gave it, when it was a contact. */
  name?: string
  /** The name it claims for itself. */
  claimedName?: string
  /** True when it is a contact (it comes back as one when unblocked). */
  contact: boolean
  /**
   * Envelopes dropped since it was blocked, counted before decrypting: each payload its devices
   * sent (a first text and the intro before it count as two).
   */
  dropped: number
}

/** Contact requests: strangers' first messages wait here until accepted, declined or blocked. */
export interface RequestBook {
  /** Every open request, the newest first. */
  list(): Promise<ChatRequest[]>
  /** A request by its text ID; `undefined` when there is none. */
  get(id: ContactId): Promise<ChatRequest | undefined>
  /**
   * Makes a request a contact, named `name` when given (else unnamed: its claimed name is not
   * taken silently); its history stays. Throws `NotFoundError` when there is no such request.
   */
  accept(id: ContactId, name?: string): Promise<ChatContact>
  /** Deletes a request and its messages (a new message makes a new request). */
  decline(id: ContactId): Promise<void>
  /** Blocks the account of a request (as {@link ContactBook.block}). */
  block(id: ContactId): Promise<void>
}

/**
 * A Passage client: one identity, its home folder, its network presence. Bots and the
 * terminal client use only this.
 *
 * @example
 * const client = await createNodeClient({ home: './bot-home', createIdentity: true,
 *   servers: ['http://127.0.0.1:8080'] })
 * console.log('talk to me:', client.textId)
 * for await (const message of client.messages()) {
 *   await client.send(message.contactId, `echo: ${message.text}`)
 * }
 */
export interface PassageClient {
  /**
   * This device's identity (its secret key stays in the home). On device 1 it is the account
   * key; on a linked device, the device's own key.
   */
  readonly identity: Identity
  /** The account's text ID, `p1…`: what others add as a contact (the same on every device). */
  readonly textId: string
  /** The account's `passage:` URI (text ID, public key, name): the best way to be added. */
  readonly contactUri: string
  /** The account's key (33 bytes); on device 1 the identity's. */
  readonly accountKey: Bytes
  /** This device's ID: 1 holds the account key; 0 while a new device waits to be linked. */
  readonly deviceId: number
  /** This account's devices: list, link, revoke, rename. */
  readonly devices: DeviceManager
  /** Group conversations: create, change, send. */
  readonly groups: GroupManager
  /** The home folder. */
  readonly home: string

  readonly contacts: ContactBook
  /** Contact requests: messages from accounts that are not contacts wait here. */
  readonly requests: RequestBook

  /** Conversations, the most recent first. */
  conversations(): Promise<Conversation[]>

  /**
   * The messages with a contact, oldest first: the newest `limit` (default 50) messages,
   * or those before `before`.
   */
  history(contactId: ContactId, options?: HistoryOptions): Promise<ChatMessage[]>

  /**
   * Sends a text to a contact (or to a group: its ID `g1…`, as `groups.send`). The message is first saved in the outbox (it survives a crash
   * and goes out after a restart), then Signal-encrypted and delivered: over a direct link
   * when the contact is reachable (LAN first), else sealed into its DHT mailbox. Resolves
   * with the message and its state after the first attempt (`sent`, `stored`, or `pending`
   * when nothing could take it yet: it is retried). Throws `NotFoundError` for an unknown
   * contact, `MalformedError` for an empty or too long text (at most 4000 UTF-8 bytes).
   */
  send(contactId: ContactId, text: string, options?: SendOptions): Promise<ChatMessage>

  /**
   * Sends a file (a GIF, an image, any file up to 8 MiB) to a contact or a group (`g1…`):
   * encrypted once; its chunks go in the DHT for 7 days unless every recipient device is
   * linked right now (then they pull it over the link), one upload for a whole group; then
   * its pointer goes like a text. Throws `TooLargeError` over 8 MiB (before any work),
   * `QuotaExceededError` past the upload budget (48 MiB a week) or a replica's quota.
   */
  sendAttachment(to: ContactId, input: AttachmentInput, options?: SendOptions): Promise<ChatMessage>

  /** Fetching attachments, and asking for expired ones again. */
  readonly attachments: AttachmentManager

  /**
   * Marks incoming messages of a contact read (all of them, or those listed) and sends the
   * contact a read receipt. Resolves with how many were newly marked.
   */
  markRead(contactId: ContactId, messageIds?: MessageId[]): Promise<number>

  /**
   * Fetches the DHT mailbox now, stores and emits new messages, deletes what was stored.
   * Resolves with the new messages (oldest first), including any that an earlier run stored
   * but died before showing. With `background: true`, a concurrent background fetch may have
   * taken some (they were emitted as `message` events). The client also does this at start and
   * every `fetchIntervalMs`.
   */
  fetchInbox(options?: SignalOptions): Promise<ChatMessage[]>

  /**
   * Retries the outbox now (it is also retried periodically). Resolves with how many went out.
   * Entries waiting out their retry delay are skipped unless `all`: a one-shot command (such
   * as `passage inbox`) that just came online passes `all: true` so that everything queued
   * goes out on this run.
   */
  flushOutbox(options?: FlushOptions): Promise<number>

  /** The current network status. */
  status(): ClientStatus

  /** Peers seen on the LAN recently. */
  lanPeers(): LanPeer[]

  /**
   * Subscribes to an event; returns a function that unsubscribes. Handlers must not throw
   * (a throwing handler is reported as an `error` event and otherwise ignored).
   */
  on<E extends keyof ClientEvents>(
    event: E,
    handler: (payload: ClientEvents[E]) => void,
  ): () => void
  /** Removes a handler added with {@link on}. */
  off<E extends keyof ClientEvents>(event: E, handler: (payload: ClientEvents[E]) => void): void

  /**
   * The incoming messages from now on, as an async iterator: ends when `signal` aborts or
   * the client closes. Messages arriving while the consumer is busy are buffered.
   */
  messages(options?: SignalOptions): AsyncIterableIterator<ChatMessage>

  /**
   * Stops everything (timers, links, listener, DHT node, LAN discovery) and closes the
   * database. Pending outbox entries stay for the next start. Idempotent.
   */
  close(): Promise<void>
}
