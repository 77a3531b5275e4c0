import { chunkIdOf, chunkOf } from '../attachments/attachment-chunks.js'
import {
  decodeAttachmentPointer,
  type AttachmentPointer,
} from '../attachments/attachment-pointer.js'
import type { MediaCrypto } from '../crypto/media-crypto.js'
import { mailboxKeyFor } from '../dht/keys.js'
import { Identity } from '../identity/identity.js'
import type { LinkPeer } from '../link/link-protocol.js'
import type { AbortSignalLike } from '../runtime/host.js'
import type { TimerHandle } from '../runtime/timers.js'
import { BoundedMap } from '../util/bounded-map.js'
import { equalBytes, fromHex, toHex, type Bytes } from '../wire/bytes.js'
import type { ClientContext } from './context.js'
import { encodeChunkFrameParts, encodeDirectFrame, type DirectFrame } from './direct-frame.js'
import type { StoredAttachment } from './ports.js'

/** Chunk requests in flight on one link. */
const LINK_WINDOW = 8
/** How long a chunk request over a link waits for its answer. */
const CHUNK_WAIT_MS = 10_000
/** Ciphertexts kept in memory while served over links (a transfer asks for each chunk). */
const SERVED_CACHE = 4

/**
 * Attachments' chunks over direct links (docs/PROTOCOL.md, "Pulling chunks over a link"):
 * pulled from the sending device, a window at a time, each checked against its ID; served
 * to the recipients of what this device sent.
 */
export class AttachmentLink {
  private readonly waiting = new Map<string, (chunk: Bytes | undefined) => void>()
  private readonly served = new BoundedMap<
    string,
    { pointer: AttachmentPointer; ciphertext: Bytes }
  >(SERVED_CACHE)

  constructor(
    private readonly ctx: ClientContext,
    private readonly media: MediaCrypto,
  ) {}

  close(): void {
    for (const resolve of this.waiting.values()) resolve(undefined)
  }

  /** Keeps a ciphertext this device sent in memory, to serve its chunks. */
  remember(messageId: string, pointer: AttachmentPointer, ciphertext: Bytes): void {
    this.served.set(messageId, { pointer, ciphertext })
  }

  /** Forgets a served ciphertext (its row changed). */
  forget(messageId: string): void {
    this.served.delete(messageId)
  }

  /** Pulls missing chunks from the sending device over a direct link, when it is reachable. */
  async pull(
    row: StoredAttachment,
    p: AttachmentPointer,
    indexes: number[],
    take: (index: number, chunk: Bytes) => Promise<void>,
    signal: AbortSignalLike | undefined,
  ): Promise<void> {
    const { ctx } = this
    const links = ctx.network.links
    const peerId = await this.senderPeer(row)
    if (!links || !peerId) return
    try {
      if (!links.link(peerId)) await links.connect(peerId, signal)
    } catch {
      return // not reachable now: the DHT copy, or later
    }
    const media = this.media
    const box = mailboxKeyFor(Identity.fromPrivateKey(ctx.keys, p.capability).publicKey)
    const message = fromHex(row.messageId)
    let next = 0
    let stop = false
    const worker = async () => {
      while (next < indexes.length && !stop) {
        signal?.throwIfAborted()
        const index = indexes[next++]!
        const chunk = await this.requestChunk(peerId, message, index)
        if (!chunk) {
          stop = true // gone, closed or silent: the rest from the DHT
          return
        }
        // A chunk that does not match its ID is dropped: the DHT (or a resend) has it.
        if (equalBytes(await chunkIdOf(media, box, chunk), p.chunkIds[index]!)) {
          await take(index, chunk)
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(LINK_WINDOW, indexes.length) }, worker))
  }

  /** The node ID of the device that sent an attachment (its link peer). */
  private async senderPeer(row: StoredAttachment): Promise<Bytes | undefined> {
    const { ctx } = this
    const dot = row.sender.lastIndexOf('.')
    const account = row.sender.slice(0, dot)
    const deviceId = Number(row.sender.slice(dot + 1))
    const accountKey = (await ctx.contacts.key(account)) ?? ctx.groups.keyOf(account)
    if (!accountKey) return undefined
    const key = ctx.devices.keyOf(account, deviceId, accountKey)
    return key ? ctx.contacts.nodeIdOf(key) : undefined
  }

  private async requestChunk(
    peerId: Bytes,
    message: Bytes,
    index: number,
  ): Promise<Bytes | undefined> {
    const { ctx } = this
    const links = ctx.network.links
    if (!links) return undefined
    const key = `${toHex(peerId)}/${toHex(message)}/${index}`
    let timer: TimerHandle | undefined
    const answer = new Promise<Bytes | undefined>((resolve) => {
      this.waiting.set(key, resolve)
      timer = ctx.timers.setTimeout(() => resolve(undefined), CHUNK_WAIT_MS)
    })
    try {
      await links.send(peerId, encodeDirectFrame({ type: 'chunk-request', message, index }))
      return await answer
    } catch {
      return undefined
    } finally {
      this.waiting.delete(key)
      if (timer !== undefined) ctx.timers.clearTimeout(timer)
    }
  }

  /** A `chunk` or `chunk-missing` frame from a link peer: the answer to one of our requests. */
  onChunkFrame(
    frame: Extract<DirectFrame, { type: 'chunk' | 'chunk-missing' }>,
    peer: LinkPeer,
  ): void {
    const key = `${toHex(peer.id)}/${toHex(frame.message)}/${frame.index}`
    this.waiting.get(key)?.(frame.type === 'chunk' ? frame.chunk : undefined)
  }

  /**
   * A link peer asks for a chunk of an attachment this device sent. The random message ID is
   * the capability (it travels only in end-to-end payloads); the chunk is ciphertext.
   */
  async serveChunk(message: Bytes, index: number, peer: LinkPeer): Promise<void> {
    const { ctx } = this
    const id = toHex(message)
    let held = this.served.get(id)
    if (!held) {
      const row = await ctx.repository.attachment(id)
      if (row?.ciphertext && row.direction === 'out') {
        held = { pointer: decodeAttachmentPointer(row.pointer), ciphertext: row.ciphertext }
        this.served.set(id, held)
      }
    }
    const link = ctx.network.links?.link(peer.id)
    if (!link) return
    if (held && index < held.pointer.chunkIds.length) {
      // The chunk goes from the ciphertext held to the socket, not copied into a frame.
      await link.sendParts(
        ...encodeChunkFrameParts(message, index, chunkOf(held.ciphertext, index)),
      )
    } else {
      await link.send(encodeDirectFrame({ type: 'chunk-missing', message, index }))
    }
  }
}
