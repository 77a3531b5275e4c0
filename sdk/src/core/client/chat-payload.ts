import { MalformedError } from '../errors.js'
import { GROUP_ID_BYTES } from '../groups/group-id.js'
import { GROUP_MAILBOX_SEED_BYTES } from '../groups/group-mailbox.js'
import { NODE_ID_BYTES, PUBLIC_KEY_BYTES } from '../identity/node-id.js'
import { checkDeviceId } from '../signal/signal-address.js'
import { BinaryReader, BinaryWriter } from '../wire/binary.js'
import { fromUtf8, utf8, type Bytes } from '../wire/bytes.js'

/** Version byte of the chat payload (docs/PROTOCOL.md, "Chat messages"). */
export const CHAT_PAYLOAD_VERSION = 1
/** Version byte of the payload with device-list seqs in its header (docs/PROTOCOL.md, "Devices"). */
export const CHAT_PAYLOAD_VERSION_DEVICES = 2
/** A message ID: 16 random bytes, shown as 32 hex characters. */
export const MESSAGE_ID_BYTES = 16
/** Largest text: 4000 UTF-8 bytes (a long chat message; the envelope stays far below 64 KiB). */
export const MAX_TEXT_BYTES = 4000
/** Most message IDs one receipt acknowledges (16 B each: 3.2 kB, one bucket). */
export const MAX_RECEIPT_IDS = 200
/** Most contacts one `sync-contacts` payload carries. */
export const MAX_SYNC_CONTACTS = 64
/** Longest contact name a `sync-contacts` entry carries, in UTF-8 bytes. */
export const MAX_CONTACT_NAME_BYTES = 255
/** Longest display name an `intro` carries, in UTF-8 bytes (a name, not a biography). */
export const MAX_INTRO_NAME_BYTES = 64
/** Most group states one `group-states` payload carries (a catch-up asks again for more). */
export const MAX_GROUP_STATES = 16
/**
 * Padded sizes: a plaintext is padded with zeros to the smallest bucket that holds it, so a
 * storage node or an observer of a link learns the size class, not the length of the text.
 */
export const PADDING_BUCKETS = [64, 128, 256, 512, 1024, 2048, 4096] as const

/** Payload kinds. New kinds take new numbers (GIFs later); 3 and up need version 2. */
export const ChatPayloadKind = {
  text: 1,
  receipt: 2,
  deviceList: 3,
  syncSent: 4,
  syncRead: 5,
  syncContacts: 6,
  syncIn: 7,
  groupState: 8,
  groupKey: 9,
  groupSyncRequest: 10,
  groupStates: 11,
  groupText: 12,
  attachment: 13,
  groupAttachment: 14,
  attachmentRequest: 15,
  attachmentRenewed: 16,
  intro: 17,
} as const
export type ChatPayloadKind = (typeof ChatPayloadKind)[keyof typeof ChatPayloadKind]

/** True for the kinds of a group (8 to 12, 14): states, keys, catch-up, texts, attachments. */
export function isGroupPayloadKind(kind: number | undefined): boolean {
  return (
    kind !== undefined &&
    ((kind >= ChatPayloadKind.groupState && kind <= ChatPayloadKind.groupText) ||
      kind === ChatPayloadKind.groupAttachment)
  )
}

/** What a receipt says about the messages it lists. */
export const ReceiptKind = {
  delivered: 1,
  read: 2,
} as const
export type ReceiptKind = (typeof ReceiptKind)[keyof typeof ReceiptKind]

/** A contact as a `sync-contacts` payload carries it between the devices of one account. */
export interface SyncedContact {
  /** The contact's account key (33 bytes). */
  publicKey: Bytes
  /** Its name on the device that sent this; absent: no name. */
  name?: string
  /** True: the account is not a contact (removed, or a declined request). */
  removed?: boolean
  /** True: the account is blocked (its messages are dropped). */
  blocked?: boolean
}

/** `sync-contacts` entry flags (docs/PROTOCOL.md, "Payload v2"). */
/** A group-key payload's flag: the chain's group mailbox seed follows. */
const GROUP_KEY_SEED = 0x01
const SYNC_REMOVED = 0x01
const SYNC_BLOCKED = 0x02

/**
 * The device-list seqs a version-2 payload carries: the newest list of the sender's account
 * the sender knows, and the list of the recipient's account the sender addressed it by (0:
 * none). A receiver that holds a newer list of its own account than `recipient` pushes it.
 */
export interface PayloadLists {
  sender: number
  recipient: number
}

interface Head {
  id: Bytes
  sentAt: number
  /** Present: a version-2 payload (required by the kinds beyond receipts). */
  lists?: PayloadLists
}

/** The decoded plaintext inside a Signal message between two clients. */
export type ChatPayload = Head &
  (
    | { kind: 'text'; text: string }
    | { kind: 'receipt'; receipt: 'delivered' | 'read'; ids: Bytes[] }
    /** The sender's account's device list (a signed record, type 3). */
    | { kind: 'device-list'; record: Bytes }
    /** To the sender's own devices: it sent `text` to the account `to` (ID and time are the message's). */
    | { kind: 'sync-sent'; to: Bytes; text: string }
    /** To the sender's own devices: the messages `ids` from `peer` were read. */
    | { kind: 'sync-read'; peer: Bytes; ids: Bytes[] }
    /** To the sender's own devices: contacts added, renamed or removed. */
    | { kind: 'sync-contacts'; contacts: SyncedContact[] }
    /** To the sender's own devices: `from`'s device `device` sent `text` to this account, addressed by an older list. */
    | { kind: 'sync-in'; from: Bytes; device: number; text: string }
    /** To every member device: the group's new state (a signed group state). */
    | { kind: 'group-state'; state: Bytes }
    /** To every member device: the sender device's sender key for the group (a SenderKeyDistributionMessage). */
    | {
        kind: 'group-key'
        group: Bytes
        distribution: Bytes
        /** The chain's group mailbox seed (docs/PROTOCOL.md, "Group mailboxes"), 32 bytes. */
        seed?: Bytes
      }
    /** To a member: "I hold revision `have` of the group; send me the states after it". */
    | { kind: 'group-sync-request'; group: Bytes; have: number }
    /** The answer: consecutive signed states of the group, oldest first. */
    | { kind: 'group-states'; group: Bytes; states: Bytes[] }
    /** A text to the group, sent under the group's state `revision` (inside a sender-key message). */
    | { kind: 'group-text'; group: Bytes; revision: number; text: string }
    /** An attachment's pointer (docs/PROTOCOL.md, "Attachments"), to a contact's devices. */
    | { kind: 'attachment'; pointer: Bytes }
    /** An attachment's pointer to the group (inside a sender-key message). */
    | { kind: 'group-attachment'; group: Bytes; revision: number; pointer: Bytes }
    /** To the sender of the attachment message `message`: "put its chunks in the DHT again". */
    | { kind: 'attachment-request'; message: Bytes }
    /** The answer: the chunks of `message` are in the DHT again until `expiresAt`. */
    | { kind: 'attachment-renewed'; message: Bytes; expiresAt: number }
    /** The sender's display name, to an account that may not know it (a claim, not an identity). */
    | { kind: 'intro'; name: string }
  )

const KIND_CODES: Record<ChatPayload['kind'], ChatPayloadKind> = {
  text: ChatPayloadKind.text,
  receipt: ChatPayloadKind.receipt,
  'device-list': ChatPayloadKind.deviceList,
  'sync-sent': ChatPayloadKind.syncSent,
  'sync-read': ChatPayloadKind.syncRead,
  'sync-contacts': ChatPayloadKind.syncContacts,
  'sync-in': ChatPayloadKind.syncIn,
  'group-state': ChatPayloadKind.groupState,
  'group-key': ChatPayloadKind.groupKey,
  'group-sync-request': ChatPayloadKind.groupSyncRequest,
  'group-states': ChatPayloadKind.groupStates,
  'group-text': ChatPayloadKind.groupText,
  attachment: ChatPayloadKind.attachment,
  'group-attachment': ChatPayloadKind.groupAttachment,
  'attachment-request': ChatPayloadKind.attachmentRequest,
  'attachment-renewed': ChatPayloadKind.attachmentRenewed,
  intro: ChatPayloadKind.intro,
}

/**
 * Encodes a chat payload, padded to a {@link PADDING_BUCKETS} size (beyond 4096 bytes: the
 * next multiple of 4096):
 *
 * ```
 * version 1: u8 version (1) | u8 kind | 16 id | u64 sentAt
 * version 2: u8 version (2) | u8 kind | 16 id | u64 sentAt | u64 senderListSeq | u64 recipientListSeq
 * kind 1 text:          u16 length | UTF-8 text
 * kind 2 receipt:       u8 receiptKind (1 delivered, 2 read) | u16 count | count × 16 id
 * kind 3 device-list:   bytes16 signed record
 * kind 4 sync-sent:     20 recipient account ID | u16 length | UTF-8 text
 * kind 5 sync-read:     20 peer account ID | u16 count | count × 16 id
 * kind 6 sync-contacts: u8 count | count × { u8 flags (1 removed, 2 blocked) | key33 | bytes8 name }
 * kind 7 sync-in:       20 sender account ID | u8 sender device | u16 length | UTF-8 text
 * kind 8 group-state:   bytes16 signed group state
 * kind 9 group-key:     16 group ID | bytes16 SenderKeyDistributionMessage
 *                       [| u8 flags (1: seed follows) | 32 mailbox seed]
 * kind 10 group-sync-request: 16 group ID | u32 revision held
 * kind 11 group-states: 16 group ID | u8 count (1–16) | count × bytes16 signed group state
 * kind 12 group-text:   16 group ID | u32 revision | u16 length | UTF-8 text
 * kind 13 attachment:   bytes16 pointer
 * kind 14 group-attachment: 16 group ID | u32 revision | bytes16 pointer
 * kind 15 attachment-request: 16 message ID
 * kind 16 attachment-renewed: 16 message ID | u64 expiresAt
 * kind 17 intro:        bytes8 UTF-8 name (1 to 64 bytes)
 * zeros to the bucket size
 * ```
 */
export function encodeChatPayload(payload: ChatPayload): Bytes {
  const kind = KIND_CODES[payload.kind]
  const lists = payload.lists
  if (!lists && kind > ChatPayloadKind.receipt) {
    throw new MalformedError(`a ${payload.kind} payload needs version 2 (device-list seqs)`)
  }
  const w = new BinaryWriter()
    .u8(lists ? CHAT_PAYLOAD_VERSION_DEVICES : CHAT_PAYLOAD_VERSION)
    .u8(kind)
    .fixed(payload.id, MESSAGE_ID_BYTES, 'id')
    .u64(payload.sentAt)
  if (lists) w.u64(lists.sender).u64(lists.recipient)
  switch (payload.kind) {
    case 'text':
      writeText(w, payload.text)
      break
    case 'receipt':
      w.u8(payload.receipt === 'delivered' ? ReceiptKind.delivered : ReceiptKind.read)
      writeIds(w, payload.ids)
      break
    case 'device-list':
      w.bytes16(payload.record, 'device list')
      break
    case 'sync-sent':
      w.fixed(payload.to, NODE_ID_BYTES, 'recipient')
      writeText(w, payload.text)
      break
    case 'sync-read':
      w.fixed(payload.peer, NODE_ID_BYTES, 'peer')
      writeIds(w, payload.ids)
      break
    case 'sync-contacts':
      if (payload.contacts.length === 0 || payload.contacts.length > MAX_SYNC_CONTACTS) {
        throw new MalformedError(
          `a sync-contacts payload carries 1 to ${MAX_SYNC_CONTACTS} contacts`,
        )
      }
      w.u8(payload.contacts.length)
      for (const c of payload.contacts) {
        const name = utf8(c.name ?? '')
        if (name.byteLength > MAX_CONTACT_NAME_BYTES)
          throw new MalformedError('a contact name is too long')
        w.u8((c.removed ? SYNC_REMOVED : 0) | (c.blocked ? SYNC_BLOCKED : 0))
          .fixed(c.publicKey, PUBLIC_KEY_BYTES, 'contact key')
          .bytes8(name)
      }
      break
    case 'sync-in':
      checkDeviceId(payload.device)
      w.fixed(payload.from, NODE_ID_BYTES, 'sender').u8(payload.device)
      writeText(w, payload.text)
      break
    case 'group-state':
      w.bytes16(payload.state, 'group state')
      break
    case 'group-key':
      w.fixed(payload.group, GROUP_ID_BYTES, 'group ID').bytes16(payload.distribution, 'sender key')
      if (payload.seed) w.u8(GROUP_KEY_SEED).fixed(payload.seed, GROUP_MAILBOX_SEED_BYTES, 'seed')
      break
    case 'group-sync-request':
      w.fixed(payload.group, GROUP_ID_BYTES, 'group ID').u32(payload.have)
      break
    case 'group-states':
      if (payload.states.length === 0 || payload.states.length > MAX_GROUP_STATES) {
        throw new MalformedError(`a group-states payload carries 1 to ${MAX_GROUP_STATES} states`)
      }
      w.fixed(payload.group, GROUP_ID_BYTES, 'group ID').u8(payload.states.length)
      for (const state of payload.states) w.bytes16(state, 'group state')
      break
    case 'group-text':
      w.fixed(payload.group, GROUP_ID_BYTES, 'group ID').u32(payload.revision)
      writeText(w, payload.text)
      break
    case 'attachment':
      w.bytes16(payload.pointer, 'pointer')
      break
    case 'group-attachment':
      w.fixed(payload.group, GROUP_ID_BYTES, 'group ID').u32(payload.revision)
      w.bytes16(payload.pointer, 'pointer')
      break
    case 'attachment-request':
      w.fixed(payload.message, MESSAGE_ID_BYTES, 'message ID')
      break
    case 'attachment-renewed':
      w.fixed(payload.message, MESSAGE_ID_BYTES, 'message ID').u64(payload.expiresAt)
      break
    case 'intro': {
      const name = utf8(payload.name)
      if (name.byteLength === 0 || name.byteLength > MAX_INTRO_NAME_BYTES) {
        throw new MalformedError(`an intro name is 1 to ${MAX_INTRO_NAME_BYTES} UTF-8 bytes`)
      }
      w.bytes8(name)
      break
    }
  }
  const body = w.finish()
  const out = new Uint8Array(paddedSize(body.byteLength)) as Bytes
  out.set(body)
  return out
}

function writeText(w: BinaryWriter, text: string): void {
  const bytes = utf8(text)
  if (bytes.byteLength === 0) throw new MalformedError('a message needs some text')
  if (bytes.byteLength > MAX_TEXT_BYTES) {
    throw new MalformedError(`a message is at most ${MAX_TEXT_BYTES} UTF-8 bytes`)
  }
  w.bytes16(bytes, 'text')
}

function writeIds(w: BinaryWriter, ids: Bytes[]): void {
  if (ids.length === 0 || ids.length > MAX_RECEIPT_IDS) {
    throw new MalformedError(`a receipt lists 1 to ${MAX_RECEIPT_IDS} message IDs`)
  }
  w.u16(ids.length)
  for (const id of ids) w.fixed(id, MESSAGE_ID_BYTES, 'receipt id')
}

/** The bucket size a body of `length` bytes is padded to. */
export function paddedSize(length: number): number {
  for (const bucket of PADDING_BUCKETS) if (length <= bucket) return bucket
  return Math.ceil(length / 4096) * 4096
}

/**
 * Decodes a chat payload. Throws {@link MalformedError} for an unknown version or kind (or a
 * kind beyond receipts in version 1), a truncated body, invalid UTF-8, non-zero padding or a
 * size that is not a bucket size.
 */
export function decodeChatPayload(bytes: Uint8Array): ChatPayload {
  if (paddedSize(bytes.byteLength) !== bytes.byteLength) {
    throw new MalformedError('a chat payload is padded to a bucket size')
  }
  const r = new BinaryReader(bytes)
  const version = r.u8('version')
  if (version !== CHAT_PAYLOAD_VERSION && version !== CHAT_PAYLOAD_VERSION_DEVICES) {
    throw new MalformedError(`unknown chat payload version ${version}`)
  }
  const kind = r.u8('kind')
  const id = r.fixed(MESSAGE_ID_BYTES, 'id')
  const sentAt = r.u64('sentAt')
  const head: Head =
    version === CHAT_PAYLOAD_VERSION_DEVICES
      ? {
          id,
          sentAt,
          lists: { sender: r.u64('senderListSeq'), recipient: r.u64('recipientListSeq') },
        }
      : { id, sentAt }
  if (!head.lists && kind > ChatPayloadKind.receipt) {
    throw new MalformedError(`chat payload kind ${kind} needs version 2`)
  }
  let payload: ChatPayload
  switch (kind) {
    case ChatPayloadKind.text:
      payload = { ...head, kind: 'text', text: readText(r) }
      break
    case ChatPayloadKind.receipt: {
      const receiptKind = r.u8('receiptKind')
      if (receiptKind !== ReceiptKind.delivered && receiptKind !== ReceiptKind.read) {
        throw new MalformedError(`unknown receipt kind ${receiptKind}`)
      }
      const receipt = receiptKind === ReceiptKind.delivered ? 'delivered' : 'read'
      payload = { ...head, kind: 'receipt', receipt, ids: readIds(r) }
      break
    }
    case ChatPayloadKind.deviceList:
      payload = { ...head, kind: 'device-list', record: r.bytes16('device list') }
      break
    case ChatPayloadKind.syncSent: {
      const to = r.fixed(NODE_ID_BYTES, 'recipient')
      payload = { ...head, kind: 'sync-sent', to, text: readText(r) }
      break
    }
    case ChatPayloadKind.syncRead: {
      const peer = r.fixed(NODE_ID_BYTES, 'peer')
      payload = { ...head, kind: 'sync-read', peer, ids: readIds(r) }
      break
    }
    case ChatPayloadKind.syncContacts: {
      const count = r.u8('count')
      if (count === 0 || count > MAX_SYNC_CONTACTS)
        throw new MalformedError('contact count out of range')
      const contacts: SyncedContact[] = []
      for (let i = 0; i < count; i++) {
        const flags = r.u8('flags')
        if ((flags & ~(SYNC_REMOVED | SYNC_BLOCKED)) !== 0) {
          throw new MalformedError(`unknown contact flags ${flags}`)
        }
        const publicKey = r.fixed(PUBLIC_KEY_BYTES, 'contact key')
        if (publicKey[0] !== 0x05) throw new MalformedError('a contact key must start with 0x05')
        const name = fromUtf8(r.bytes8('name'), 'name')
        contacts.push({
          publicKey,
          ...(name ? { name } : {}),
          ...(flags & SYNC_REMOVED ? { removed: true } : {}),
          ...(flags & SYNC_BLOCKED ? { blocked: true } : {}),
        })
      }
      payload = { ...head, kind: 'sync-contacts', contacts }
      break
    }
    case ChatPayloadKind.syncIn: {
      const from = r.fixed(NODE_ID_BYTES, 'sender')
      const device = r.u8('sender device')
      checkDeviceId(device)
      payload = { ...head, kind: 'sync-in', from, device, text: readText(r) }
      break
    }
    case ChatPayloadKind.groupState:
      payload = { ...head, kind: 'group-state', state: r.bytes16('group state') }
      break
    case ChatPayloadKind.groupKey: {
      const group = r.fixed(GROUP_ID_BYTES, 'group ID')
      const distribution = r.bytes16('sender key')
      // No flags byte (an older sender): its padding zeros read as flags 0, no seed.
      const flags = r.remaining > 0 ? r.u8('flags') : 0
      if ((flags & ~GROUP_KEY_SEED) !== 0) throw new MalformedError('unknown group-key flags')
      const seed = flags & GROUP_KEY_SEED ? r.fixed(GROUP_MAILBOX_SEED_BYTES, 'seed') : undefined
      payload = { ...head, kind: 'group-key', group, distribution, ...(seed ? { seed } : {}) }
      break
    }
    case ChatPayloadKind.groupSyncRequest: {
      const group = r.fixed(GROUP_ID_BYTES, 'group ID')
      payload = { ...head, kind: 'group-sync-request', group, have: r.u32('revision') }
      break
    }
    case ChatPayloadKind.groupStates: {
      const group = r.fixed(GROUP_ID_BYTES, 'group ID')
      const count = r.u8('count')
      if (count === 0 || count > MAX_GROUP_STATES) {
        throw new MalformedError('group state count out of range')
      }
      const states: Bytes[] = []
      for (let i = 0; i < count; i++) states.push(r.bytes16('group state'))
      payload = { ...head, kind: 'group-states', group, states }
      break
    }
    case ChatPayloadKind.groupText: {
      const group = r.fixed(GROUP_ID_BYTES, 'group ID')
      const revision = r.u32('revision')
      payload = { ...head, kind: 'group-text', group, revision, text: readText(r) }
      break
    }
    case ChatPayloadKind.attachment:
      payload = { ...head, kind: 'attachment', pointer: r.bytes16('pointer') }
      break
    case ChatPayloadKind.groupAttachment: {
      const group = r.fixed(GROUP_ID_BYTES, 'group ID')
      const revision = r.u32('revision')
      payload = {
        ...head,
        kind: 'group-attachment',
        group,
        revision,
        pointer: r.bytes16('pointer'),
      }
      break
    }
    case ChatPayloadKind.attachmentRequest:
      payload = {
        ...head,
        kind: 'attachment-request',
        message: r.fixed(MESSAGE_ID_BYTES, 'message ID'),
      }
      break
    case ChatPayloadKind.attachmentRenewed: {
      const message = r.fixed(MESSAGE_ID_BYTES, 'message ID')
      payload = { ...head, kind: 'attachment-renewed', message, expiresAt: r.u64('expiresAt') }
      break
    }
    case ChatPayloadKind.intro: {
      const name = r.bytes8('name')
      if (name.byteLength === 0 || name.byteLength > MAX_INTRO_NAME_BYTES) {
        throw new MalformedError('intro name length out of range')
      }
      payload = { ...head, kind: 'intro', name: fromUtf8(name, 'name') }
      break
    }
    default:
      throw new MalformedError(`unknown chat payload kind ${kind}`)
  }
  const padding = r.fixed(r.remaining, 'padding')
  if (padding.some((b) => b !== 0)) throw new MalformedError('padding must be zeros')
  return payload
}

function readText(r: BinaryReader): string {
  const raw = r.bytes16('text')
  if (raw.byteLength === 0 || raw.byteLength > MAX_TEXT_BYTES) {
    throw new MalformedError('text length out of range')
  }
  return fromUtf8(raw, 'text')
}

function readIds(r: BinaryReader): Bytes[] {
  const count = r.u16('count')
  if (count === 0 || count > MAX_RECEIPT_IDS) throw new MalformedError('receipt count out of range')
  const ids: Bytes[] = []
  for (let i = 0; i < count; i++) ids.push(r.fixed(MESSAGE_ID_BYTES, 'receipt id'))
  return ids
}
