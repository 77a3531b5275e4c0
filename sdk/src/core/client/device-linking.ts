import type { SecretKey } from '../crypto/key-provider.js'
import { deviceEntry, verifyDeviceList } from '../devices/device-list.js'
import { encodeLinkUri, linkCode, parseLinkUri } from '../devices/link-request.js'
import {
  MAX_HISTORY_CHUNK_MESSAGES,
  openProvisioning,
  sealProvisioning,
  type HistoryItem,
  type Provisioning,
} from '../devices/provisioning.js'
import { AlreadyExistsError, MalformedError, PassageError, UnreachableError } from '../errors.js'
import { encodeTextId, parseTextId } from '../identity/text-id.js'
import type { TimerHandle } from '../runtime/timers.js'
import { equalBytes, fromHex, toHex, type Bytes } from '../wire/bytes.js'
import type { ClientContext } from './context.js'
import { directMessageId, encodeDirectFrame } from './direct-frame.js'
import type { StoredMessage } from './ports.js'
import type { ChatMessage, DeviceInfo, LinkRequest, MessageRoute, SignalOptions } from './types.js'

/** While waiting to be linked, the mailbox is fetched this often (a provisioning message may be there). */
const LINK_POLL_MS = 2_000
/** A history transfer that goes quiet this long is taken as over. */
const HISTORY_IDLE_MS = 60_000
/** Messages a history transfer carries at most. */
const MAX_HISTORY_MESSAGES = 50_000

interface PendingLink {
  ephemeral: SecretKey
  resolve: (info: DeviceInfo) => void
  reject: (error: unknown) => void
  poll: TimerHandle | undefined
  /** Set once linked when history follows: the transfer's idle timer. */
  history: TimerHandle | undefined
}

/**
 * Linking devices (docs/PROTOCOL.md, "Devices"): on a new device, the link request and the
 * provisioning message that makes it a device of an account; on device 1, approving a
 * request and sending the provisioning message, contacts and (opt-in) history.
 */
export class DeviceLinking {
  private pending: PendingLink | undefined
  /** Provisioning frames being handled whose "stored" answer has not gone out yet. */
  private receiving = 0
  private relink = false

  constructor(private readonly ctx: ClientContext) {}

  /** Makes a link request; see `DeviceManager.requestLink`. */
  async requestLink(options: { name?: string } = {}): Promise<LinkRequest> {
    const { ctx } = this
    if (ctx.account.deviceId !== 0) {
      throw new AlreadyExistsError(
        `this device is already device ${ctx.account.deviceId} of ${ctx.account.textId}`,
      )
    }
    this.cancel(new PassageError('PASSAGE_ERR_CANCELLED', 'a newer link request replaced this one'))
    const ephemeral = ctx.keys.generate()
    const tcp = ctx.network.listener?.address()
    const addresses = tcp && !isWildcard(tcp.host) ? [{ host: tcp.host, port: tcp.port }] : []
    const name = options.name ?? ctx.options.name
    const uri = encodeLinkUri({
      deviceKey: ctx.identity.publicKey,
      ephemeralKey: ephemeral.publicKey,
      addresses,
      ...(name ? { name } : {}),
    })
    const linked = new Promise<DeviceInfo>((resolve, reject) => {
      this.pending = { ephemeral, resolve, reject, poll: undefined, history: undefined }
    })
    linked.catch(() => {}) // a cancelled request nobody awaits is not an unhandled rejection
    this.schedulePoll()
    return {
      uri,
      code: linkCode(ctx.identity.publicKey, ephemeral.publicKey),
      linked,
      cancel: () =>
        this.cancel(new PassageError('PASSAGE_ERR_CANCELLED', 'the link request was cancelled')),
    }
  }

  /** Gives up a pending request (closing, cancelled, replaced). */
  cancel(reason: unknown): void {
    const pending = this.pending
    if (!pending) return
    this.pending = undefined
    if (pending.poll !== undefined) this.ctx.timers.clearTimeout(pending.poll)
    if (pending.history !== undefined) this.ctx.timers.clearTimeout(pending.history)
    pending.reject(reason)
  }

  /** Fetches the mailbox every {@link LINK_POLL_MS} while a request waits and no link came. */
  private schedulePoll(): void {
    const pending = this.pending
    if (!pending || this.ctx.closed) return
    pending.poll = this.ctx.timers.setTimeout(() => {
      pending.poll = undefined
      if (this.pending !== pending || this.ctx.account.deviceId !== 0) return
      void this.ctx
        .guard('fetching the mailbox for the link', () => this.ctx.inbox.fetch())
        .finally(() => this.schedulePoll())
    }, LINK_POLL_MS)
  }

  /**
   * A provisioning message (over a link or from the mailbox). Handled when it opens with the
   * pending request's one-time key and names this device; anything else is dropped.
   */
  async receive(bytes: Uint8Array, route: MessageRoute): Promise<void> {
    if (route !== 'direct') return this.handle(bytes, route)
    this.receiving++
    try {
      await this.handle(bytes, route)
    } finally {
      this.receiving--
    }
  }

  /** The answer to a provisioning frame went out: links made before linking are closed now. */
  afterAnswer(): void {
    if (!this.relink || this.receiving > 0) return
    this.relink = false
    this.ctx.network.links?.closeLinks()
  }

  private async handle(bytes: Uint8Array, route: MessageRoute): Promise<void> {
    const pending = this.pending
    if (!pending) return
    let provisioning: Provisioning
    try {
      provisioning = openProvisioning(pending.ephemeral, this.ctx.identity.publicKey, bytes)
    } catch (error) {
      if (error instanceof PassageError) return // not for this request
      throw error
    }
    if (provisioning.kind === 'link') await this.link(pending, provisioning, route)
    else await this.storeHistory(pending, provisioning.messages)
  }

  private async link(
    pending: PendingLink,
    p: Extract<Provisioning, { kind: 'link' }>,
    route: MessageRoute,
  ): Promise<void> {
    const { ctx } = this
    if (ctx.account.deviceId !== 0) return // linked by an earlier copy
    const list = verifyDeviceList(p.deviceList, ctx.keys)
    const entry = deviceEntry(list, p.deviceId)
    if (
      !entry ||
      entry.state !== 'active' ||
      !equalBytes(entry.publicKey, ctx.identity.publicKey)
    ) {
      throw new MalformedError('the provisioning message does not list this device')
    }
    await ctx.becomeDevice({
      accountKey: list.account,
      deviceId: p.deviceId,
      ...(p.accountName ? { name: p.accountName } : {}),
    })
    await ctx.devices.accept(p.deviceList, 'provisioning')
    if (p.historyFollows && route === 'direct') this.awaitHistory(pending)
    else this.finish(pending)
  }

  private awaitHistory(pending: PendingLink): void {
    if (pending.history !== undefined) this.ctx.timers.clearTimeout(pending.history)
    pending.history = this.ctx.timers.setTimeout(() => this.finish(pending), HISTORY_IDLE_MS)
  }

  private finish(pending: PendingLink): void {
    if (this.pending !== pending) return
    this.pending = undefined
    // Links dialed or accepted before carry the hello of a device with no account: new ones
    // name the account and this device (the link to device 1 included), once the answer to
    // the last provisioning frame went out (see `afterAnswer`).
    this.relink = true
    if (this.receiving === 0) this.afterAnswer()
    if (pending.poll !== undefined) this.ctx.timers.clearTimeout(pending.poll)
    if (pending.history !== undefined) this.ctx.timers.clearTimeout(pending.history)
    pending.resolve(this.ctx.devices.ownDevice(this.ctx.account.deviceId))
  }

  private async storeHistory(pending: PendingLink, items: HistoryItem[]): Promise<void> {
    const { ctx } = this
    if (ctx.account.deviceId === 0) return
    if (items.length === 0) {
      this.finish(pending)
      return
    }
    this.awaitHistory(pending)
    const now = ctx.clock.now()
    await ctx.repository.transaction(async (w) => {
      for (const m of items) {
        const contactId = encodeTextId(m.peer)
        const message: StoredMessage = {
          id: toHex(m.id),
          contactId,
          direction: m.direction,
          sender:
            m.direction === 'in'
              ? { account: contactId, deviceId: m.device }
              : { account: ctx.account.textId, deviceId: m.device },
          text: m.text,
          sentAt: m.sentAt,
          receivedAt: now,
          state: m.state,
          read: m.read,
          notified: true,
        }
        await w.insertMessage(message)
      }
    })
  }

  // ---------------------------------------------------------------- device 1

  /** Approves a link request; see `DeviceManager.approveLink`. */
  async approveLink(
    uri: string,
    options: { name?: string; history?: boolean } & SignalOptions = {},
  ): Promise<DeviceInfo> {
    const { ctx } = this
    ctx.devices.requireAccountKey('link a device')
    const card = parseLinkUri(uri)
    const listed = ctx.devices.own().devices.find((d) => equalBytes(d.publicKey, card.deviceKey))
    if (listed?.state === 'revoked') {
      throw new MalformedError('that device was revoked; make a new link request on it')
    }
    const name = options.name ?? card.name
    // Approving the same request again (a first try did not reach it) reuses its entry.
    const deviceId =
      listed?.deviceId ??
      (
        await ctx.devices.change(
          { kind: 'add', publicKey: card.deviceKey, ...(name ? { name } : {}) },
          options,
        )
      ).lastDeviceId
    const history = options.history === true
    const provisioning = sealProvisioning(ctx.keys, card, {
      kind: 'link',
      deviceId,
      deviceList: ctx.devices.ownRecord()!,
      ...(ctx.account.name ? { accountName: ctx.account.name } : {}),
      ...(history ? { historyFollows: true } : {}),
    })
    if (card.addresses.length > 0) {
      ctx.addresses.addLanPeer({
        textId: encodeTextId(card.deviceId),
        publicKey: card.deviceKey,
        addresses: card.addresses,
        lastSeenAt: ctx.clock.now(),
      })
    }
    const frame = encodeDirectFrame({ type: 'provision', provisioning })
    const direct = await ctx.direct.sendAwaitingStored(
      card.deviceKey,
      frame,
      directMessageId(provisioning),
      options.signal,
    )
    if (!direct) {
      const dht = ctx.network.dht
      const stored =
        dht && ctx.network.dhtJoined
          ? (await dht.putEnvelope(card.deviceKey, provisioning)).stored
          : 0
      if (stored === 0) {
        throw new UnreachableError(
          'the new device could not be reached, directly or through its mailbox; keep it waiting and approve again',
        )
      }
    }
    if (history && direct) await this.sendHistory(card, options)
    // The link was made while the device had no account (its hello said so): the next send
    // dials anew, with the hello of device `deviceId` (the device closes its end too).
    ctx.network.links?.link(card.deviceId)?.close()
    await ctx.contacts.syncAll({ account: ctx.account.textId, deviceId })
    ctx.outbox.flushSoon()
    return ctx.devices.ownDevice(deviceId)
  }

  /** The messages of every conversation, in chunks, over the link to the new device. */
  private async sendHistory(
    card: { deviceKey: Bytes; ephemeralKey: Bytes },
    options: SignalOptions,
  ): Promise<void> {
    const { ctx } = this
    const all: ChatMessage[] = []
    for (const contact of await ctx.repository.contacts()) {
      let before: string | undefined
      for (let page = 0; page < 1000 && all.length < MAX_HISTORY_MESSAGES; page++) {
        const messages = await ctx.repository.messagesBefore(contact.id, 500, before)
        if (!messages || messages.length === 0) break
        all.push(...messages)
        before = messages[messages.length - 1]!.id
      }
    }
    const items: HistoryItem[] = all.map((m) => ({
      peer: parseTextId(m.contactId),
      id: fromHex(m.id),
      direction: m.direction,
      device: m.sender.deviceId,
      sentAt: m.sentAt,
      state: m.state,
      read: m.read,
      text: m.text,
    }))
    const chunks: HistoryItem[][] = []
    for (let i = 0; i < items.length; i += MAX_HISTORY_CHUNK_MESSAGES) {
      chunks.push(items.slice(i, i + MAX_HISTORY_CHUNK_MESSAGES))
    }
    chunks.push([]) // an empty chunk ends the transfer
    for (const messages of chunks) {
      options.signal?.throwIfAborted()
      const chunk = sealProvisioning(ctx.keys, card, { kind: 'history', messages })
      const ok = await ctx.direct.sendAwaitingStored(
        card.deviceKey,
        encodeDirectFrame({ type: 'provision', provisioning: chunk }),
        directMessageId(chunk),
        options.signal,
      )
      if (!ok) {
        throw new UnreachableError('the link to the new device closed during the history transfer')
      }
    }
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === ''
}
