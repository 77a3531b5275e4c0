import { MalformedError, NotFoundError } from '../errors.js'
import { parseContactUri } from '../identity/contact-uri.js'
import { nodeIdFromPublicKey } from '../identity/node-id.js'
import { encodeTextId, isTextId, parseTextId } from '../identity/text-id.js'
import { signalAddressOfKey } from '../signal/signal-address.js'
import { BoundedMap } from '../util/bounded-map.js'
import { equalBytes, toHex, type Bytes } from '../wire/bytes.js'
import type { ClientContext } from './context.js'
import { byContactName, contactView, isListedContact } from './contact-view.js'
import { MAX_SYNC_CONTACTS, type SyncedContact } from './chat-payload.js'
import type { ClientWriter, ContactRecord, Target } from './ports.js'
import type {
  BlockedAccount,
  ChatContact,
  ContactBook,
  ContactId,
  ContactRoute,
  RefusalReason,
  SignalOptions,
} from './types.js'

/** Peers whose link ID or last-seen time is kept in memory at most. */
const MAX_REMEMBERED_PEERS = 4096 // a few hundred kB at most
/** How stale a contact row's last_seen_at may get while direct messages keep arriving. */
const LAST_SEEN_WRITE_MS = 1_000 // 1 s: what a crash may lose of "last seen"; the running client is exact

/** Routes from best to worst: a contact shows the best of its devices'. */
const ROUTE_ORDER: ContactRoute[] = ['lan', 'direct', 'relay']

/**
 * The contact book, and what the client keeps of contacts in memory: their identity keys (in
 * step with the table: a send reads no row), when a direct message last came from each, and
 * their link IDs.
 */
export class ContactDirectory implements ContactBook {
  /** Identity keys by contact ID, in step with the table. */
  private readonly keys = new Map<ContactId, Bytes>()
  /** When a direct message last came (`at`) and the last_seen_at the row holds (`storedAt`). */
  private readonly lastSeen = new BoundedMap<ContactId, { at: number; storedAt: number }>(
    MAX_REMEMBERED_PEERS,
  )
  /** Link peer IDs by identity key (hex), computed once: sending hashes nothing per message. */
  private readonly nodeIds = new BoundedMap<string, Bytes>(MAX_REMEMBERED_PEERS)
  /** Blocked accounts, in step with the table: checked before decrypting anything. */
  private readonly blockedIds = new Set<ContactId>()
  private readonly keysById = new BoundedMap<string, Bytes>(MAX_REMEMBERED_PEERS)

  constructor(private readonly ctx: ClientContext) {}

  /** Loads the contacts' keys and the blocked accounts (at start). */
  async load(): Promise<void> {
    for (const c of await this.ctx.repository.contacts()) {
      this.remember(c.id, c.publicKey)
      if (c.blocked) this.blockedIds.add(c.id)
    }
  }

  /** A contact or a request (an account with a row that is not blocked). */
  isContact(id: ContactId): boolean {
    return this.keys.has(id) && !this.blockedIds.has(id)
  }

  /** True when the account is blocked: its messages are dropped unread. */
  isBlocked(id: ContactId): boolean {
    return this.blockedIds.has(id)
  }

  /** True when any account is blocked (else no message needs checking). */
  hasBlocked(): boolean {
    return this.blockedIds.size > 0
  }

  /** Forgets what memory holds of an account whose row is gone. */
  forget(id: ContactId): void {
    this.keys.delete(id)
    this.lastSeen.delete(id)
  }

  /** A contact's key from memory only (safe inside a transaction). */
  knownKey(id: ContactId): Bytes | undefined {
    return this.keys.get(id)
  }

  remember(id: ContactId, publicKey: Bytes): void {
    if (!this.keys.has(id)) this.keys.set(id, publicKey)
  }

  /**
   * A contact's identity key, from memory (else the table), or a group member's (members need
   * not be contacts); `undefined` for a stranger.
   */
  async key(id: ContactId): Promise<Bytes | undefined> {
    const known = this.keys.get(id)
    if (known) return known
    const row = await this.ctx.repository.contact(id)
    if (!row) return this.ctx.groups.keyOf(id)
    this.remember(row.id, row.publicKey)
    return row.publicKey
  }

  /** The link peer ID of an identity key. */
  nodeIdOf(publicKey: Bytes): Bytes {
    return this.nodeIds.getOrSet(toHex(publicKey), () => {
      const id = nodeIdFromPublicKey(publicKey)
      this.keysById.set(toHex(id), publicKey)
      return id
    })
  }

  /** The public key of a node ID this client computed from a key (a contact's device). */
  keyOfNodeId(nodeId: Uint8Array): Bytes | undefined {
    return this.keysById.get(toHex(nodeId))
  }

  /**
   * Whether a direct message from `id` at `now` should write its row's last_seen_at: at most
   * once per {@link LAST_SEEN_WRITE_MS} per sender (one more row write per message otherwise);
   * contacts read the exact time from memory while running. Returns the time the row holds
   * after this message's transaction.
   */
  lastSeenToStore(id: ContactId, now: number): { write: boolean; storedAt: number } {
    const stored = this.lastSeen.get(id)?.storedAt
    if (stored === undefined || now - stored >= LAST_SEEN_WRITE_MS)
      return { write: true, storedAt: now }
    return { write: false, storedAt: stored }
  }

  /** True when a direct message from `id` came while this client runs. */
  heardFrom(id: ContactId): boolean {
    return this.lastSeen.get(id) !== undefined
  }

  /** A direct message from `id` committed at `at`, its row holding `storedAt`. */
  seen(id: ContactId, at: number, storedAt: number): void {
    this.lastSeen.set(id, { at, storedAt })
  }

  async add(
    idOrUri: string,
    options: { name?: string } & SignalOptions = {},
  ): Promise<ChatContact> {
    const input = idOrUri.trim()
    let publicKey: Bytes
    let name = options.name
    if (input.toLowerCase().startsWith('passage:')) {
      const card = parseContactUri(input)
      publicKey = card.publicKey
      name ??= card.name
    } else {
      const id = parseTextId(input)
      const known = await this.ctx.repository.contact(input)
      if (known) {
        publicKey = known.publicKey
      } else {
        const found = await this.ctx.addresses.lookupPublicKey(input, options.signal)
        if (!found || !equalBytes(nodeIdFromPublicKey(found), id)) {
          throw new NotFoundError(
            `the key of ${input} could not be found (it is not online on the super-nodes); add it with its passage: URI instead`,
          )
        }
        publicKey = found
      }
    }
    if (equalBytes(publicKey, this.ctx.account.publicKey)) {
      throw new MalformedError('that is this client’s own ID')
    }
    this.ctx.requireLinked()
    const textId = signalAddressOfKey(publicKey).name
    const addedAt = this.ctx.clock.now()
    await this.ctx.repository.transaction((w) =>
      w.saveContact({ id: textId, publicKey, addedAt, ...(name !== undefined ? { name } : {}) }),
    )
    this.remember(textId, publicKey)
    // Its devices, so the first message reaches all of them; a failure is healed later.
    await this.ctx.guard('fetching a device list', () =>
      this.ctx.devices.refresh(textId, publicKey, true),
    )
    await this.syncToSiblings([{ publicKey, ...(name !== undefined ? { name } : {}) }])
    return (await this.byId(textId))!
  }

  /** Tells our other devices about contacts added, renamed, removed, blocked or unblocked here. */
  async syncToSiblings(contacts: SyncedContact[]): Promise<void> {
    const targets = this.ctx.devices.siblings()
    if (targets.length === 0) return
    for (let i = 0; i < contacts.length; i += MAX_SYNC_CONTACTS) {
      await this.ctx.outbox.enqueueControl(
        { kind: 'sync-contacts', contacts: contacts.slice(i, i + MAX_SYNC_CONTACTS) },
        targets,
        this.ctx.account.textId,
      )
    }
  }

  /** Sends every contact to one of our devices (newly linked, or device 1 after a recovery). */
  async syncAll(to: Target): Promise<void> {
    // Contacts and blocked accounts; open requests come to each device by themselves.
    const rows = (await this.ctx.repository.contacts()).filter((r) => !r.request || r.blocked)
    const contacts = rows.map((r) => syncEntry(r))
    for (let i = 0; i < contacts.length; i += MAX_SYNC_CONTACTS) {
      await this.ctx.outbox.enqueueControl(
        { kind: 'sync-contacts', contacts: contacts.slice(i, i + MAX_SYNC_CONTACTS) },
        [to],
        this.ctx.account.textId,
      )
    }
  }

  /**
   * Applies contacts synced by another device of ours; inside the decrypting transaction.
   * Returns what to remember once it committed.
   */
  async applySync(w: ClientWriter, contacts: SyncedContact[], now: number): Promise<() => void> {
    const done: Array<() => void> = []
    for (const c of contacts) {
      const id = signalAddressOfKey(c.publicKey).name
      if (id === this.ctx.account.textId) continue
      // Each entry is the whole state: blocked or not, a contact or not. Removed while the row
      // is still blocked, it stays (as a request): so lifting a stranger's block keeps its
      // request, and removing a contact that was not blocked deletes it.
      if (c.blocked) await w.setBlocked(id, c.publicKey, true, now)
      const wasBlocked = this.blockedIds.has(id)
      if (c.removed) await w.removeContact(id)
      if (!c.blocked) await w.setBlocked(id, c.publicKey, false, now)
      done.push(() => {
        if (c.blocked) this.blockedIds.add(id)
        else this.blockedIds.delete(id)
        if (c.removed && !c.blocked && !wasBlocked) this.forget(id)
      })
      if (c.removed) continue
      await w.saveContact({
        id,
        publicKey: c.publicKey,
        addedAt: now,
        ...(c.name ? { name: c.name } : {}),
      })
      if (c.name) await w.renameContact(id, c.name)
      done.push(() => {
        this.remember(id, c.publicKey)
        void this.ctx.guard('fetching a device list', () =>
          this.ctx.devices.refresh(id, c.publicKey),
        )
      })
    }
    return () => done.forEach((f) => f())
  }

  async list(): Promise<ChatContact[]> {
    const rows = (await this.ctx.repository.contacts()).filter(isListedContact)
    const unread = await this.ctx.repository.unreadCounts()
    return rows.map((r) => this.toContact(r, unread.get(r.id) ?? 0)).sort(byContactName)
  }

  async get(idOrName: string): Promise<ChatContact | undefined> {
    const input = idOrName.trim()
    const ids = isTextId(input) ? [input] : await this.ctx.repository.contactIdsByName(input)
    if (ids.length !== 1) return undefined
    const row = await this.ctx.repository.contact(ids[0]!)
    return row && !row.request && !row.blocked ? this.byId(row.id) : undefined
  }

  async rename(id: ContactId, name: string): Promise<ChatContact> {
    const row = await this.ctx.repository.contact(id)
    if (!row || row.request) {
      throw new NotFoundError(
        row
          ? `${id} is a contact request; accept it to name it`
          : `${id} is not a contact; add it first`,
      )
    }
    await this.ctx.repository.transaction((w) => w.renameContact(id, name))
    const contact = (await this.byId(id))!
    await this.syncToSiblings([{ publicKey: contact.publicKey, name }])
    return contact
  }

  async remove(id: ContactId): Promise<void> {
    const row = await this.ctx.repository.contact(id)
    if (!row || (row.request && !row.blocked)) {
      throw new NotFoundError(
        row
          ? `${id} is a contact request, not a contact; decline it instead`
          : `${id} is not a contact`,
      )
    }
    await this.ctx.repository.transaction((w) => w.removeContact(id))
    if (!row.blocked) this.forget(id)
    await this.syncToSiblings([{ ...syncEntry(row), removed: true }])
  }

  async block(id: ContactId): Promise<void> {
    const input = id.trim()
    if (input === this.ctx.account.textId) throw new MalformedError('that is this client’s own ID')
    const publicKey = await this.key(input)
    if (!publicKey) {
      throw new NotFoundError(
        `the key of ${input} is not known here (not a contact, request or group member)`,
      )
    }
    await this.ctx.repository.transaction((w) =>
      w.setBlocked(input, publicKey, true, this.ctx.clock.now()),
    )
    this.remember(input, publicKey)
    this.blockedIds.add(input)
    const row = (await this.ctx.repository.contact(input))!
    await this.syncToSiblings([syncEntry(row)])
  }

  async unblock(id: ContactId): Promise<void> {
    const input = id.trim()
    const row = await this.ctx.repository.contact(input)
    if (!row?.blocked) throw new NotFoundError(`${input} is not blocked`)
    await this.ctx.repository.transaction((w) =>
      w.setBlocked(input, row.publicKey, false, this.ctx.clock.now()),
    )
    this.blockedIds.delete(input)
    await this.syncToSiblings([syncEntry({ ...row, blocked: undefined })])
  }

  async blocked(): Promise<BlockedAccount[]> {
    return (await this.ctx.repository.contacts())
      .filter((r) => r.blocked)
      .map((r) => ({
        id: r.id,
        textId: r.id,
        publicKey: r.publicKey,
        ...(r.name !== undefined ? { name: r.name } : {}),
        ...(r.claimedName !== undefined ? { claimedName: r.claimedName } : {}),
        contact: !r.request,
        dropped: r.dropped ?? 0,
      }))
      .sort((a, b) => a.id.localeCompare(b.id))
  }

  async clearFlag(id: ContactId): Promise<void> {
    await this.flag(id, undefined)
  }

  /** Marks a contact after something claiming to be it was refused. */
  async flag(id: ContactId, reason: RefusalReason | undefined): Promise<void> {
    await this.ctx.repository.transaction((w) => w.setContactFlag(id, reason))
  }

  /** A contact with its unread count and live status. */
  async byId(id: ContactId): Promise<ChatContact | undefined> {
    const row = await this.ctx.repository.contact(id)
    if (!row) return undefined
    return this.toContact(row, (await this.ctx.repository.unreadCounts()).get(id) ?? 0)
  }

  /** When a message last came from a row's account: the row, or memory when later. */
  lastSeenAt(row: ContactRecord): number | undefined {
    const seen = this.lastSeen.get(row.id)?.at
    if (row.lastSeenAt === undefined) return seen
    return seen === undefined ? row.lastSeenAt : Math.max(seen, row.lastSeenAt)
  }

  private toContact(row: ContactRecord, unread: number): ChatContact {
    const lastSeenAt = this.lastSeenAt(row)
    const routes = this.ctx.devices.targets(row.id, row.publicKey).map((t): ContactRoute => {
      const key = this.ctx.devices.keyOf(row.id, t.deviceId, row.publicKey)
      if (!key) return 'mailbox'
      const nodeId = this.nodeIdOf(key)
      const links = this.ctx.network.links
      const onLan = this.ctx.addresses.isOnLan(encodeTextId(nodeId))
      // Online means reachable: a link is open, or its beacons are heard on the LAN and no
      // dial to it failed since (a peer heard but not dialable is not shown online).
      const link = links?.link(nodeId)
      if (link) return link.route === 'relay' ? 'relay' : onLan ? 'lan' : 'direct'
      return onLan && !links?.backoffOf(nodeId) ? 'lan' : 'mailbox'
    })
    const route = ROUTE_ORDER.find((r) => routes.includes(r)) ?? 'mailbox'
    return contactView(row, unread, route, lastSeenAt)
  }
}

/** A row as a `sync-contacts` entry: the whole state (contact or not, blocked or not). */
function syncEntry(row: ContactRecord): SyncedContact {
  return {
    publicKey: row.publicKey,
    ...(row.name !== undefined && !row.request ? { name: row.name } : {}),
    ...(row.request ? { removed: true } : {}),
    ...(row.blocked ? { blocked: true } : {}),
  }
}
