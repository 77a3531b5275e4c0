// Over 500 lines: one account's devices as the client sees them (its own list, contacts'
// lists, publishing, refresh, revocation) share one cache and its invariants; linking a new
// device is apart (device-linking.ts). A split by own/contacts' lists is the next step.
import {
  activeDevices,
  changeDeviceList,
  deviceEntry,
  deviceStatus,
  firstDeviceList,
  implicitDeviceList,
  signDeviceList,
  verifyDeviceList,
  type DeviceList,
  type DeviceListChange,
} from '../devices/device-list.js'
import { encodeRecoveryCode } from '../devices/recovery-code.js'
import {
  NotAccountDeviceError,
  NotFoundError,
  NotLinkedError,
  PassageError,
  UnavailableError,
} from '../errors.js'
import { nodeIdFromPublicKey } from '../identity/node-id.js'
import { encodeTextId } from '../identity/text-id.js'
import {
  decodeSignedRecord,
  encodeSignedRecord,
  RecordType,
  type SignedRecord,
} from '../records/signed-record.js'
import { signalAddressOfKey, type SignalAddress } from '../signal/signal-address.js'
import type { IdentityKeyPolicy } from '../signal/signal-state.js'
import { BoundedMap } from '../util/bounded-map.js'
import { equalBytes, type Bytes } from '../wire/bytes.js'
import type { ClientContext } from './context.js'
import type { Target } from './ports.js'
import type { ContactId, DeviceEvent, DeviceInfo, DeviceManager, SignalOptions } from './types.js'

/** Contacts' lists are fetched from the DHT again after this long. */
const REFRESH_LIST_MS = 3_600_000 // 1 h: pushes carry changes at once; this catches missed ones
/** A failed fetch of a list is not retried sooner than this. */
const RETRY_LIST_MS = 60_000
/** Own list republished this often by device 1 (DHT records expire). */
const REPUBLISH_LIST_MS = 3_600_000
/** Lists refreshed per periodic tick at most (a lookup each). */
const REFRESHES_PER_TICK = 8
/** Texts resent to a device a contact linked: sent since it was linked, this many at most… */
const MAX_RESENT = 200
/** …and no older than this. */
const RESEND_WINDOW_MS = 7 * 24 * 3600_000
/** Accounts whose last probe time is kept (older clients looked for, hourly at most). */
const MAX_PROBED = 4096
/** Clocks of two accounts may differ this much: a resend starts this early. */
const RESEND_SKEW_MS = 300_000

/** A verified list and when it was last fetched or confirmed. */
interface Known {
  list: DeviceList
  record: SignedRecord | undefined
  checkedAt: number
}

/**
 * The device lists of this account and of its contacts: the trust rule of docs/PROTOCOL.md
 * "Devices" (a key is an address's only when the newest verified list names it active), the
 * fan-out targets, and what follows when a list changes (sessions dropped for revoked or
 * recovered devices, resends to linked ones, events). On device 1 it also signs and
 * publishes this account's list.
 */
export class DeviceDirectory implements Omit<DeviceManager, 'requestLink' | 'approveLink'> {
  private readonly lists = new Map<ContactId, Known>()
  private readonly refreshing = new Map<ContactId, Promise<boolean>>()
  private readonly refreshFailedAt = new Map<ContactId, number>()
  /** When an account with no list known was last looked for (see `probe`). */
  private readonly probedAt = new BoundedMap<ContactId, number>(MAX_PROBED)
  /** The own list seq last pushed to each contact (pushes are not repeated for one seq). */
  private readonly pushed = new Map<ContactId, number>()
  private ownPublishedAt = 0
  private ownPublishSeq = -1

  constructor(private readonly ctx: ClientContext) {}

  /** Loads the stored lists (at start). */
  async load(): Promise<void> {
    for (const stored of await this.ctx.repository.deviceLists()) {
      try {
        const record = decodeSignedRecord(stored.record)
        const list = verifyDeviceList(record, this.ctx.keys)
        this.lists.set(stored.account, { list, record, checkedAt: stored.checkedAt })
      } catch {
        // A damaged row: the next fetch replaces it.
      }
    }
  }

  // ------------------------------------------------------------------ queries

  /** The newest verified list of `account` (its implicit one when it published none). */
  listOf(account: ContactId, accountKey?: Bytes): DeviceList | undefined {
    const known = this.lists.get(account)?.list
    if (known) return known
    const key =
      accountKey ?? (account === this.ctx.account.textId ? this.ctx.account.publicKey : undefined)
    return key ? implicitDeviceList(key) : undefined
  }

  /** This account's list. */
  own(): DeviceList {
    return this.listOf(this.ctx.account.textId)!
  }

  /** This account's signed list, once it has one. */
  ownRecord(): SignedRecord | undefined {
    return this.lists.get(this.ctx.account.textId)?.record
  }

  /** True when `account` published a list: it speaks version 2 (devices). */
  published(account: ContactId): boolean {
    return (this.lists.get(account)?.list.seq ?? 0) > 0
  }

  /** The seq of the newest list known of `account` (0: none). */
  seqOf(account: ContactId): number {
    return this.lists.get(account)?.list.seq ?? 0
  }

  /**
   * The trust rule as libsignal's identity policy: `publicKey` may be `address`'s identity
   * key only when the account's newest list names it active for that device (no list: device
   * 1 and the key whose hash is the account ID).
   */
  readonly policy: IdentityKeyPolicy = (address, publicKey) => {
    const known = this.lists.get(address.name)?.list
    if (!known) {
      return address.deviceId === 1 && signalAddressOfKey(publicKey).name === address.name
    }
    return deviceStatus(known, address.deviceId, publicKey) === 'active'
  }

  /** The key of an active device, or `undefined` (revoked, unknown). */
  keyOf(account: ContactId, deviceId: number, accountKey?: Bytes): Bytes | undefined {
    const entry =
      this.listOf(account, accountKey) && deviceEntry(this.listOf(account, accountKey)!, deviceId)
    return entry?.state === 'active' ? entry.publicKey : undefined
  }

  /** What the lists say of a device claiming (`account`, `deviceId`, `deviceKey`). */
  status(
    account: ContactId,
    accountKey: Bytes,
    deviceId: number,
    deviceKey: Bytes,
  ): 'active' | 'revoked' | 'mismatch' | 'unknown' {
    return deviceStatus(this.listOf(account, accountKey)!, deviceId, deviceKey)
  }

  /**
   * {@link status}, fetching the account's list from the DHT first when the device is
   * unknown. `fetched` says whether a fetch answered (an unknown device after a fetch is no
   * device of the account).
   */
  async ensure(
    accountKey: Bytes,
    deviceId: number,
    deviceKey: Bytes,
  ): Promise<{ status: 'active' | 'revoked' | 'mismatch' | 'unknown'; fetched: boolean }> {
    const account = encodeTextId(nodeIdFromPublicKey(accountKey))
    let status = this.status(account, accountKey, deviceId, deviceKey)
    if (status !== 'unknown') return { status, fetched: false }
    const fetched = await this.refresh(account, accountKey, true)
    status = this.status(account, accountKey, deviceId, deviceKey)
    return { status, fetched }
  }

  /** The active devices a payload to `account` goes to (for this account: the others). */
  targets(account: ContactId, accountKey?: Bytes): Target[] {
    const list = this.listOf(account, accountKey)
    if (!list) return [{ account, deviceId: 1 }]
    const own = account === this.ctx.account.textId
    return activeDevices(list)
      .filter((d) => !own || d.deviceId !== this.ctx.account.deviceId)
      .map((d) => ({ account, deviceId: d.deviceId }))
  }

  /** This account's other active devices. */
  siblings(): Target[] {
    if (this.ctx.account.deviceId === 0) return []
    return this.targets(this.ctx.account.textId)
  }

  async list(account?: ContactId): Promise<DeviceInfo[]> {
    const id = account ?? this.ctx.account.textId
    let key: Bytes | undefined
    if (id !== this.ctx.account.textId) {
      key = await this.ctx.contacts.key(id)
      if (!key) throw new NotFoundError(`${id} is not a contact`)
    }
    const list = this.listOf(id, key)!
    return list.devices.map((d) => this.info(id, d.deviceId, list))
  }

  private info(account: ContactId, deviceId: number, list: DeviceList): DeviceInfo {
    const d = deviceEntry(list, deviceId)!
    return {
      account,
      deviceId,
      ...(d.name ? { name: d.name } : {}),
      state: d.state,
      publicKey: d.publicKey,
      textId: encodeTextId(nodeIdFromPublicKey(d.publicKey)),
      changedAt: d.changedAt,
      current: account === this.ctx.account.textId && deviceId === this.ctx.account.deviceId,
    }
  }

  /** Info on one device of this account. */
  ownDevice(deviceId: number): DeviceInfo {
    return this.info(this.ctx.account.textId, deviceId, this.own())
  }

  // ------------------------------------------------------------------ changes by device 1

  /** True when this device holds the account key (device 1, or restored by recovery code). */
  get holdsAccountKey(): boolean {
    return (
      this.ctx.account.deviceId === 1 &&
      equalBytes(this.ctx.identity.publicKey, this.ctx.account.publicKey)
    )
  }

  /** Throws unless this device holds the account key (`NotLinkedError`, `NotAccountDeviceError`). */
  requireAccountKey(what: string): void {
    if (this.ctx.account.deviceId === 0) throw new NotLinkedError()
    if (!this.holdsAccountKey) {
      throw new NotAccountDeviceError(
        `only device 1, which holds the account key, can ${what}; this is device ${this.ctx.account.deviceId}`,
      )
    }
  }

  /**
   * Signs this account's list after `change`, stores it (applying what follows), pushes it to
   * every contact that speaks devices and to the other devices, and publishes it.
   */
  async change(change: DeviceListChange, options: SignalOptions = {}): Promise<DeviceList> {
    this.requireAccountKey('change the device list')
    const next = changeDeviceList(this.own(), change, this.ctx.clock.now())
    const record = signDeviceList(this.ctx.identity, next)
    await this.accept(record, 'own')
    // A device just linked gets the list in its provisioning message.
    await this.pushOwn('everyone', change.kind === 'add' ? [next.lastDeviceId] : [])
    options.signal?.throwIfAborted()
    await this.ctx.guard('publishing the device list', () => this.publishOwn(true))
    return verifyDeviceList(record, this.ctx.keys)
  }

  async revoke(deviceId: number, options: SignalOptions = {}): Promise<DeviceInfo> {
    await this.change({ kind: 'revoke', deviceId }, options)
    return this.ownDevice(deviceId)
  }

  async rename(deviceId: number, name: string, options: SignalOptions = {}): Promise<DeviceInfo> {
    await this.change({ kind: 'rename', deviceId, name }, options)
    return this.ownDevice(deviceId)
  }

  recoveryCode(): string {
    this.requireAccountKey('show the recovery code')
    return encodeRecoveryCode(this.ctx.identity.secretKey.exportPrivateKey())
  }

  /**
   * Publishes this account's list: device 1 makes the first one (when there is none) and
   * publishes at start, hourly and at once after a change (`force`); the other devices
   * republish the signed list they hold hourly too, so it outlives a lost device 1 (a
   * recovery starts from it). Resolves true when a replica stored it (or nothing was due).
   */
  async publishOwn(force = false): Promise<boolean> {
    const { ctx } = this
    if (ctx.account.deviceId === 0) return true
    if (this.holdsAccountKey && !this.lists.has(ctx.account.textId)) {
      const now = ctx.clock.now()
      const first = firstDeviceList(ctx.account.publicKey, now, undefined, ctx.faults.features)
      await this.accept(signDeviceList(ctx.identity, first), 'own')
      force = true
    }
    const known = this.lists.get(ctx.account.textId)
    const dht = ctx.network.dht
    if (!known?.record || !dht || !ctx.network.dhtJoined) return false
    const now = ctx.clock.now()
    if (
      !force &&
      known.list.seq === this.ownPublishSeq &&
      now - this.ownPublishedAt < REPUBLISH_LIST_MS
    ) {
      return true
    }
    const { stored } = await dht.putRecord(known.record)
    if (stored > 0) {
      this.ownPublishedAt = now
      this.ownPublishSeq = known.list.seq
    }
    return stored > 0
  }

  /**
   * Device 1 restored from its recovery code: the newest list from the DHT, then list seq+1
   * with device 1 marked recovered (every client drops its sessions with the lost device 1).
   */
  async recover(): Promise<void> {
    const { ctx } = this
    // The list must come from the DHT first: a list made without it would drop the devices.
    if (!(await this.refresh(ctx.account.textId, ctx.account.publicKey, true))) {
      throw new UnavailableError(
        'the DHT could not be reached to read the account’s device list; the recovery is finished at the next start with the network',
      )
    }
    const current = this.lists.get(ctx.account.textId)?.list
    const now = ctx.clock.now()
    const base = current ?? firstDeviceList(ctx.account.publicKey, now)
    const next = changeDeviceList(base, { kind: 'recover' }, now)
    await this.accept(signDeviceList(ctx.identity, next), 'own')
    await this.pushOwn('siblings')
    if (!(await this.publishOwn(true))) {
      throw new UnavailableError(
        'no DHT node stored the account’s new device list; it is retried at the next start',
      )
    }
  }

  // ------------------------------------------------------------------ lists from others

  /**
   * Fetches `account`'s list from the DHT and accepts it when newer. Resolves true when the
   * DHT answered (with or without a list). Concurrent calls share one fetch; failures are not
   * retried for a minute unless `force`.
   */
  refresh(account: ContactId, accountKey: Bytes, force = false): Promise<boolean> {
    const running = this.refreshing.get(account)
    if (running) return running
    const dht = this.ctx.network.dht
    if (!dht || !this.ctx.network.dhtJoined) return Promise.resolve(false)
    const failed = this.refreshFailedAt.get(account)
    if (!force && failed !== undefined && this.ctx.clock.now() - failed < RETRY_LIST_MS) {
      return Promise.resolve(false)
    }
    const run = (async () => {
      try {
        const record = await dht.getRecord(accountKey, RecordType.deviceList)
        const now = this.ctx.clock.now()
        if (record && !(await this.accept(record, 'dht'))) {
          if (this.lists.has(account)) {
            await this.ctx.repository.transaction((w) => w.touchDeviceList(account, now))
            this.lists.get(account)!.checkedAt = now
          }
        }
        this.refreshFailedAt.delete(account)
        return true
      } catch (error) {
        this.refreshFailedAt.set(account, this.ctx.clock.now())
        if (error instanceof PassageError) return false
        throw error
      } finally {
        this.refreshing.delete(account)
      }
    })()
    this.refreshing.set(account, run)
    return run
  }

  /** A payload's header says the sender's account has a newer list: fetch it soon. */
  hint(account: ContactId, accountKey: Bytes, seq: number): void {
    if (seq > this.seqOf(account)) {
      void this.ctx.guard('fetching a device list', () => this.refresh(account, accountKey))
    }
  }

  /**
   * A version 1 payload from an account with no list known: it may be an older client, or a
   * new one whose list we never fetched. Asks the DHT, at most hourly per account.
   */
  probe(account: ContactId, accountKey: Bytes): void {
    const now = this.ctx.clock.now()
    const asked = this.probedAt.get(account)
    if (this.published(account) || (asked !== undefined && now - asked < REFRESH_LIST_MS)) return
    this.probedAt.set(account, now)
    void this.ctx.guard('fetching a device list', () => this.refresh(account, accountKey))
  }

  /** Periodic: publish our list (device 1), refresh contacts' lists not checked for an hour. */
  /**
   * At start: device 1 publishes the account's list; another device first reads the newest
   * from the DHT (so a device revoked while it was off learns it now, before it sends), then
   * republishes it.
   */
  async startOwn(): Promise<void> {
    const { ctx } = this
    if (ctx.account.deviceId !== 0 && !this.holdsAccountKey) {
      await this.refresh(ctx.account.textId, ctx.account.publicKey, true)
    }
    await this.publishOwn()
  }

  async maintain(): Promise<void> {
    await this.publishOwn()
    if (this.ctx.account.deviceId === 0) return
    const now = this.ctx.clock.now()
    let budget = REFRESHES_PER_TICK
    const accounts = [
      this.ctx.account.textId,
      ...(await this.ctx.repository.contacts()).map((c) => c.id),
    ]
    for (const account of accounts) {
      if (budget === 0 || this.ctx.closed) break
      if (account === this.ctx.account.textId && this.holdsAccountKey) continue
      const checkedAt = this.lists.get(account)?.checkedAt ?? 0
      if (now - checkedAt < REFRESH_LIST_MS) continue
      const key =
        account === this.ctx.account.textId
          ? this.ctx.account.publicKey
          : await this.ctx.contacts.key(account)
      if (!key) continue
      budget--
      await this.refresh(account, key)
    }
  }

  /**
   * Takes a list (from the DHT, a push, a provisioning message, or signed here) when it
   * verifies and is newer than the one held; stores it and applies what changed. Resolves
   * true when it was taken. A list that does not verify throws.
   */
  async accept(
    record: SignedRecord,
    source: 'dht' | 'push' | 'provisioning' | 'own',
  ): Promise<boolean> {
    const list = verifyDeviceList(record, this.ctx.keys)
    const account = encodeTextId(nodeIdFromPublicKey(list.account))
    const old = this.lists.get(account)
    if (old && old.list.seq >= list.seq) return false // rollback, or nothing new
    const now = this.ctx.clock.now()
    await this.ctx.repository.transaction((w) =>
      w.saveDeviceList({
        account,
        seq: list.seq,
        record: encodeSignedRecord(record),
        checkedAt: now,
      }),
    )
    this.lists.set(account, { list, record, checkedAt: now })
    await this.applyChange(account, old?.list ?? implicitDeviceList(list.account), list, source)
    return true
  }

  /** What follows from `account`'s list going from `before` to `after`. */
  private async applyChange(
    account: ContactId,
    before: DeviceList,
    after: DeviceList,
    source: 'dht' | 'push' | 'provisioning' | 'own',
  ): Promise<void> {
    const { ctx } = this
    const own = account === ctx.account.textId
    const events: DeviceEvent[] = []
    const linked: number[] = []
    for (const d of after.devices) {
      const was = deviceEntry(before, d.deviceId)
      const current = own && d.deviceId === ctx.account.deviceId
      const base = {
        account,
        deviceId: d.deviceId,
        own,
        current,
        ...(d.name ? { name: d.name } : {}),
      }
      const address: SignalAddress = { name: account, deviceId: d.deviceId }
      if (d.state === 'revoked' && was?.state === 'active') {
        events.push({ ...base, change: 'revoked' })
        await this.forget(address)
        if (current) ctx.account.revoked = true
      } else if (d.state === 'active' && (!was || !equalBytes(was.publicKey, d.publicKey))) {
        events.push({ ...base, change: 'linked' })
        linked.push(d.deviceId)
        if (was) await this.forget(address)
      } else if (d.deviceId === 1 && was && was.changedAt !== d.changedAt && before.seq > 0) {
        events.push({ ...base, change: 'recovered' })
        if (!current) await this.forget(address)
      } else if (was && was.name !== d.name && d.state === 'active') {
        events.push({ ...base, change: 'renamed' })
      }
    }
    // Entries the list no longer holds were revoked ones (dropped to make room): nothing to do.
    if (linked.length > 0 && source !== 'provisioning' && ctx.account.deviceId !== 0) {
      await ctx.guard('resending to a new device', () =>
        own ? this.copyTo(after, linked) : this.resendTo(account, after, linked),
      )
    }
    if (own && events.some((e) => e.change === 'recovered') && !this.holdsAccountKey) {
      // Device 1 was restored from its recovery code and lost its contacts: send them, and
      // tell our contacts, whose sessions with the lost device 1 are void.
      await ctx.guard('sending contacts to device 1', () =>
        ctx.contacts.syncAll({ account, deviceId: 1 }),
      )
      await ctx.guard('pushing the device list', () => this.pushOwn('contacts'))
    }
    for (const event of events) ctx.events.emit('device', event)
  }

  /** Drops a device's session, trusted key and pending outbox entries. */
  private async forget(address: SignalAddress): Promise<void> {
    const { ctx } = this
    if (ctx.account.deviceId === 0 || !ctx.session) return
    let dropped = 0
    await ctx.session.forget(address, async (tx) => {
      dropped = await ctx.repository.writer(tx).dropOutboxTo(address.name, address.deviceId)
    })
    ctx.outbox.removed(dropped)
  }

  /** Resends recent texts to a contact to the devices it linked since (IDs make them duplicates elsewhere). */
  private async resendTo(account: ContactId, list: DeviceList, deviceIds: number[]): Promise<void> {
    const { ctx } = this
    if (ctx.account.deviceId === 0) return
    const now = ctx.clock.now()
    for (const deviceId of deviceIds) {
      const entry = deviceEntry(list, deviceId)
      if (!entry || entry.changedAt === 0) continue
      const since = Math.max(entry.changedAt - RESEND_SKEW_MS, now - RESEND_WINDOW_MS)
      const messages = await ctx.repository.outgoingSince(account, since, MAX_RESENT)
      if (messages.length > 0) await ctx.outbox.resend(messages, { account, deviceId })
    }
  }

  /**
   * Copies the texts this device sent since our new devices were linked to them (`sync-sent`):
   * a device sends copies only to the devices its list knew at the time.
   */
  private async copyTo(list: DeviceList, deviceIds: number[]): Promise<void> {
    const { ctx } = this
    const now = ctx.clock.now()
    for (const deviceId of deviceIds) {
      const entry = deviceEntry(list, deviceId)
      if (!entry || deviceId === ctx.account.deviceId) continue
      const since = Math.max(entry.changedAt - RESEND_SKEW_MS, now - RESEND_WINDOW_MS)
      for (const contact of await ctx.repository.contacts()) {
        const sent = (await ctx.repository.outgoingSince(contact.id, since, MAX_RESENT)).filter(
          (m) => m.sender.deviceId === ctx.account.deviceId,
        )
        if (sent.length > 0)
          await ctx.outbox.copy(sent, contact.publicKey, { account: ctx.account.textId, deviceId })
      }
    }
  }

  /**
   * Pushes this account's list: to every contact that speaks devices and every other device
   * of ours (`everyone`), only to the contacts, only to our devices, or to the given accounts.
   * Devices in `except` (just linked: provisioning carries it) are skipped.
   */
  async pushOwn(
    to: 'everyone' | 'contacts' | 'siblings' | ContactId[],
    except: number[] = [],
  ): Promise<void> {
    const { ctx } = this
    const known = this.lists.get(ctx.account.textId)
    if (!known?.record || ctx.account.deviceId === 0) return
    const accounts: ContactId[] = []
    if (Array.isArray(to)) accounts.push(...to)
    else if (to !== 'siblings') {
      // Contacts, and the members of our groups (who need not be contacts): a revoked device
      // must leave every group's recipients at once too.
      const ids = new Set((await ctx.repository.contacts()).map((c) => c.id))
      for (const account of ctx.groups.memberAccounts()) ids.add(account)
      ids.delete(ctx.account.textId)
      for (const id of ids) if (this.published(id)) accounts.push(id)
    }
    const targets: Target[] = []
    for (const account of accounts) {
      if (this.pushed.get(account) === known.list.seq) continue
      this.pushed.set(account, known.list.seq)
      targets.push(...this.targets(account))
    }
    if (to === 'everyone' || to === 'siblings') {
      targets.push(...this.siblings().filter((t) => !except.includes(t.deviceId)))
    }
    if (targets.length === 0) return
    await ctx.outbox.enqueueControl(
      { kind: 'device-list', record: encodeSignedRecord(known.record) },
      targets,
    )
  }

  /**
   * A payload from `account` addressed us by list `recipientSeq`: when ours is newer, push it
   * to that contact (once per seq), if it speaks devices (it sent a version 2 payload, or
   * published a list).
   */
  async answerStale(
    account: ContactId,
    recipientSeq: number,
    speaksDevices: boolean,
  ): Promise<void> {
    const own = this.own()
    if (own.seq > recipientSeq && (speaksDevices || this.published(account))) {
      await this.pushOwn([account])
    }
  }
}
