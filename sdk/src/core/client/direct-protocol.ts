import { LinkClosedError, NotFoundError, PassageError } from '../errors.js'
import { encodeTextId } from '../identity/text-id.js'
import type { LinkPeer } from '../link/link-protocol.js'
import type { AbortSignalLike } from '../runtime/host.js'
import type { TimerHandle } from '../runtime/timers.js'
import {
  decodePreKeyBundle,
  encodePreKeyBundle,
  type PreKeyBundle,
} from '../signal/pre-key-bundle.js'
import type { SignalAddress } from '../signal/signal-address.js'
import { toHex, type Bytes } from '../wire/bytes.js'
import type { ClientContext } from './context.js'
import { decodeDirectFrame, directMessageId, encodeDirectFrame } from './direct-frame.js'

/** How long a direct send waits for the recipient's "stored" answer before using the mailbox. */
export const DIRECT_ACK_TIMEOUT_MS = 5_000 // 5 s: a persisted SQLite write on a slow phone

/**
 * Sends of one frame at most, each on a link that closed before the answer came (within
 * {@link DIRECT_ACK_TIMEOUT_MS} in all): two links dialed at once lose one (docs/PROTOCOL.md).
 */
export const MAX_DIRECT_SENDS = 3 // the race leaves one link; a third closed link means the peer left

/**
 * The client's protocol over direct links (docs/PROTOCOL.md, "Direct frames"): messages and
 * their "stored" answers, and pre-key bundles asked of a linked peer.
 */
export class DirectProtocol {
  private readonly awaitingAck = new Map<string, () => void>()
  private readonly awaitingBundle = new Map<string, (bundle: PreKeyBundle | undefined) => void>()

  constructor(private readonly ctx: ClientContext) {}

  /**
   * Whether a direct link may take a frame for `publicKey` now (there are links, and no dial
   * to it failed lately): when not, {@link sendAwaitingStored} answers false at once, so the
   * frame need not be built.
   */
  mayReach(publicKey: Bytes): boolean {
    const links = this.ctx.network.links
    return links !== undefined && links.reachable(this.ctx.contacts.nodeIdOf(publicKey))
  }

  /**
   * Sends a frame over a direct link and waits for the "stored" answer naming `ackId`; false
   * when no link takes it or no answer comes in time (the mailbox takes it then).
   */
  async sendAwaitingStored(
    publicKey: Bytes,
    frame: Bytes,
    ackId: Bytes,
    signal: AbortSignalLike | undefined,
  ): Promise<boolean> {
    const links = this.ctx.network.links
    if (!links) return false
    const peerId = this.ctx.contacts.nodeIdOf(publicKey)
    // Backing off from a peer that could not be dialed: no timer, no error to build.
    if (!links.reachable(peerId)) return false
    // By peer and ID: a group message is the same bytes (so the same ID) to every member device.
    const key = `${toHex(peerId)}/${toHex(ackId)}`
    let timer: TimerHandle | undefined
    const acked = new Promise<boolean>((resolve) => {
      this.awaitingAck.set(key, () => resolve(true))
      timer = this.ctx.timers.setTimeout(() => resolve(false), DIRECT_ACK_TIMEOUT_MS)
      signal?.addEventListener('abort', () => resolve(false), { once: true })
    })
    try {
      for (let sends = 1; ; sends++) {
        const link = await links.connect(peerId, signal)
        let onClose!: () => void
        const closed = new Promise<'closed'>((resolve) => {
          onClose = () => resolve('closed')
          link.on('close', onClose)
        })
        try {
          await link.send(frame)
          const outcome = await Promise.race([acked, closed])
          if (outcome !== 'closed') return outcome
        } catch (error) {
          if (!(error instanceof LinkClosedError)) throw error
        } finally {
          link.off('close', onClose)
        }
        // The link closed before the answer came: the peer may have dropped it as the second
        // of two links dialed at once (the frame lost with it). Again on the link it keeps; a
        // copy it already stored is a duplicate, answered again.
        if (sends >= MAX_DIRECT_SENDS || signal?.aborted) return false
      }
    } catch (error) {
      // Unreachable, closed, timed out, refused: the mailbox takes it.
      if (error instanceof PassageError) return false
      throw error
    } finally {
      this.awaitingAck.delete(key)
      if (timer !== undefined) this.ctx.timers.clearTimeout(timer)
    }
  }

  /**
   * The pre-key bundle of a device of a contact (or of this account): over a direct link when
   * one is at hand, else from the DHT. Only for a device its account's list names active.
   */
  async fetchBundle(address: SignalAddress): Promise<PreKeyBundle | undefined> {
    const { ctx } = this
    const accountKey =
      address.name === ctx.account.textId
        ? ctx.account.publicKey
        : await ctx.contacts.key(address.name)
    if (!accountKey) return undefined
    const publicKey = ctx.devices.keyOf(address.name, address.deviceId, accountKey)
    if (!publicKey) return undefined
    const peerId = ctx.contacts.nodeIdOf(publicKey)
    const links = ctx.network.links
    if (links && (ctx.addresses.isOnLan(encodeTextId(peerId)) || links.link(peerId))) {
      const bundle = await this.requestBundle(peerId).catch(() => undefined)
      if (bundle) return bundle
    }
    const directory = ctx.network.directory
    if (!directory || !ctx.network.dhtJoined) return undefined
    try {
      return await directory.fetch(publicKey, address.deviceId)
    } catch (error) {
      if (error instanceof NotFoundError) return undefined
      throw error
    }
  }

  private async requestBundle(peerId: Bytes): Promise<PreKeyBundle | undefined> {
    const links = this.ctx.network.links
    if (!links) return undefined
    const key = toHex(peerId)
    let timer: TimerHandle | undefined
    const answer = new Promise<PreKeyBundle | undefined>((resolve) => {
      this.awaitingBundle.set(key, resolve)
      timer = this.ctx.timers.setTimeout(() => resolve(undefined), DIRECT_ACK_TIMEOUT_MS)
    })
    try {
      await links.send(peerId, encodeDirectFrame({ type: 'bundle-request' }))
      return await answer
    } finally {
      this.awaitingBundle.delete(key)
      if (timer !== undefined) this.ctx.timers.clearTimeout(timer)
    }
  }

  /** One frame from a link peer. Never throws: failures are `error` events. */
  async onFrame(payload: Bytes, peer: LinkPeer): Promise<void> {
    const { ctx } = this
    try {
      const frame = decodeDirectFrame(payload)
      switch (frame.type) {
        case 'stored':
          this.awaitingAck.get(`${toHex(peer.id)}/${toHex(frame.envelopeId)}`)?.()
          return
        case 'bundle-request': {
          if (ctx.account.deviceId === 0) return
          const bundle = await ctx.session.createPreKeyBundle()
          ctx.presence.markBundleStale() // its one-time keys may be used: publish fresh ones
          await ctx.network.links
            ?.link(peer.id)
            ?.send(encodeDirectFrame({ type: 'bundle', bundle: encodePreKeyBundle(bundle) }))
          return
        }
        case 'bundle':
          this.awaitingBundle.get(toHex(peer.id))?.(decodePreKeyBundle(frame.bundle))
          return
        case 'provision':
          // Answered once handled (stored, or not for us: the sender must not wait for it).
          await ctx.linking.receive(frame.provisioning, 'direct')
          await this.answerStored(peer, directMessageId(frame.provisioning))
          ctx.linking.afterAnswer()
          return
        case 'chunk-request':
          await ctx.attachments.serveChunk(frame.message, frame.index, peer)
          return
        case 'chunk':
        case 'chunk-missing':
          ctx.attachments.onChunkFrame(frame, peer)
          return
        default: {
          const { id, outcome } = await ctx.inbox.receiveDirect(frame, peer)
          if (outcome.status === 'refused') {
            ctx.events.emit('refused', outcome.event)
            return
          }
          // Not stored: no answer, so the sender puts it in the mailbox.
          if (outcome.status === 'deferred') return
          void this.answerStored(peer, id)
          ctx.inbox.announce(outcome)
        }
      }
    } catch (error) {
      if (!ctx.closed) ctx.events.error(error, 'a direct message')
    }
  }

  /** Tells a link peer its message is stored (it is durable: its transaction committed). */
  private async answerStored(peer: LinkPeer, id: Bytes): Promise<void> {
    try {
      this.ctx.faults.beforeDirectAck?.()
      await this.ctx.network.links
        ?.link(peer.id)
        ?.send(encodeDirectFrame({ type: 'stored', envelopeId: id }))
    } catch {
      // The link went down: the sender falls back to the mailbox, where the Signal message
      // is recognised as a duplicate.
    }
  }

  /** Ends every wait (the client is closing). */
  close(): void {
    for (const resolve of this.awaitingAck.values()) resolve()
    for (const resolve of this.awaitingBundle.values()) resolve(undefined)
  }
}
