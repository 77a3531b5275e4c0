import { MalformedError, NotFoundError } from '../errors.js'
import { parseContactUri } from '../identity/contact-uri.js'
import { nodeIdFromPublicKey } from '../identity/node-id.js'
import { encodeTextId, isTextId, parseTextId } from '../identity/text-id.js'
import { signalAddressOfKey } from '../signal/signal-address.js'
import { BoundedMap } from '../util/bounded-map.js'
import { equalBytes, toHex, type Bytes } from '../wire/bytes.js'
import type { ClientContext } from './context.js'
import { MAX_SYNC_CONTACTS, type SyncedContact } from './chat-payload.js'
import type { ClientWriter, ContactRecord, Target } from './ports.js'
import type {
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

/**
 * The contact book, and what the client keeps of contacts in memory: their identity keys (in
 * step with the table: a send reads no row), when a direct message last came from each, and
 * their link IDs.
 */
/** Routes from best to worst: a contact shows the best of its devices'. */
const ROUTE_ORDER: ContactRoute[] = ['lan', 'direct', 'relay']

export class ContactDirectory implements ContactBook {
  /** Identity keys by contact ID, in step with the table. */
  private readonly keys = new Map<ContactId, Bytes>()
  /** When a direct message last came (`at`) and the last_seen_at the row holds (`storedAt`). */
  private readonly lastSeen = new BoundedMap<ContactId, { at: number; storedAt: number }>(
    MAX_REMEMBERED_PEERS,
  )
  /** Link peer IDs by identity key (hex), computed once: sending hashes nothing per message. */
  private readonly nodeIds = new BoundedMap<string, Bytes>(MAX_REMEMBERED_PEERS)
  private readonly keysById = new BoundedMap<string, Bytes>(MAX_REMEMBERED_PEERS)

  constructor(private readonly ctx: ClientContext) {}

  /** Loads the contacts' keys (at start). */
  async load(): Promise<void> {
    for (const c of await this.ctx.repository.contacts()) this.remember(c.id, c.publicKey)
  }

  isContact(id: ContactId): boolean {
    return this.keys.has(id)
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

  /** Tells our other devices about contacts added, renamed or removed here. */
  private async syncToSiblings(contacts: SyncedContact[]): Promise<void> {
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
    const rows = await this.ctx.repository.contacts()
    const contacts = rows.map((r) => ({
      publicKey: r.publicKey,
      ...(r.name !== undefined ? { name: r.name } : {}),
    }))
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
      if (c.removed) {
        await w.removeContact(id)
        done.push(() => {
          this.keys.delete(id)
          this.lastSeen.delete(id)
        })
        continue
      }
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
    const rows = await this.ctx.repository.contacts()
    const unread = await this.ctx.repository.unreadCounts()
    return rows
      .map((r) => this.toContact(r, unread.get(r.id) ?? 0))
      .sort(
        (a, b) =>
          (a.name ?? '\uffff').localeCompare(b.name ?? '\uffff') || a.id.localeCompare(b.id),
      )
  }

  async get(idOrName: string): Promise<ChatContact | undefined> {
    const input = idOrName.trim()
    if (isTextId(input)) return this.byId(input)
    const ids = await this.ctx.repository.contactIdsByName(input)
    return ids.length === 1 ? this.byId(ids[0]!) : undefined
  }

  async rename(id: ContactId, name: string): Promise<ChatContact> {
    if (!(await this.ctx.repository.contact(id))) {
      throw new NotFoundError(`${id} is not a contact; add it first`)
    }
    await this.ctx.repository.transaction((w) => w.renameContact(id, name))
    const contact = (await this.byId(id))!
    await this.syncToSiblings([{ publicKey: contact.publicKey, name }])
    return contact
  }

  async remove(id: ContactId): Promise<void> {
    const row = await this.ctx.repository.contact(id)
    await this.ctx.repository.transaction((w) => w.removeContact(id))
    this.keys.delete(id)
    this.lastSeen.delete(id)
    if (row) await this.syncToSiblings([{ publicKey: row.publicKey, removed: true }])
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

  private toContact(row: ContactRecord, unread: number): ChatContact {
    const seen = this.lastSeen.get(row.id)?.at
    const lastSeenAt =
      row.lastSeenAt === undefined
        ? seen
        : seen === undefined
          ? row.lastSeenAt
          : Math.max(seen, row.lastSeenAt)
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
    const online = route !== 'mailbox'
    return {
      id: row.id,
      textId: row.id,
      publicKey: row.publicKey,
      ...(row.name !== undefined ? { name: row.name } : {}),
      addedAt: row.addedAt,
      ...(lastSeenAt !== undefined ? { lastSeenAt } : {}),
      online,
      route,
      unread,
      ...(row.flagged !== undefined ? { flagged: row.flagged } : {}),
    }
  }
}
