// Over 500 lines: an attachment's whole life on one device (send and upload, receive, fetch
// over a link or from the DHT with resume, check at rest and at view, resend) in one place,
// so the states and their order read together. The pull from the DHT and the resend requests
// (pullFromDht, requestResend, onRequest, renew) are the next split, into attachment-dht.ts.
import {
  attachmentCiphertextSize,
  checkAttachmentSize,
  decryptAttachment,
  encryptAttachment,
} from '../attachments/attachment-cipher.js'
import { chunkIdsOf } from '../attachments/attachment-chunks.js'
import {
  ATTACHMENT_CHUNK_BYTES,
  chunkCountOf,
  decodeAttachmentPointer,
  encodeAttachmentPointer,
  type AttachmentPointer,
} from '../attachments/attachment-pointer.js'
import type { MediaCrypto } from '../crypto/media-crypto.js'
import { mailboxKeyFor } from '../dht/keys.js'
import {
  ExpiredError,
  NotFoundError,
  TamperedError,
  UnreachableError,
  UnsupportedError,
} from '../errors.js'
import { isGroupId } from '../groups/group-id.js'
import { Identity } from '../identity/identity.js'
import type { LinkPeer } from '../link/link-protocol.js'
import type { AbortSignalLike } from '../runtime/host.js'
import { concatBytes, equalBytes, fromHex, toHex, type Bytes } from '../wire/bytes.js'
import { AttachmentLink } from './attachment-link.js'
import { AttachmentUpload } from './attachment-upload.js'
import type { ClientContext } from './context.js'
import type { DirectFrame } from './direct-frame.js'
import { WriteBatch } from './write-batch.js'
import type { Sender } from './inbox.js'
import type { ClientWriter, StoredAttachment, StoredMessage } from './ports.js'
import type {
  AttachmentInfo,
  AttachmentInput,
  AttachmentState,
  ChatMessage,
  ContactId,
  MessageId,
  SendOptions,
} from './types.js'

/**
 * Attachments (docs/PROTOCOL.md, "Attachments"): encrypted once, chunks put in a capability
 * mailbox of the DHT (unless every recipient device is linked), pulled over a direct link
 * when the sender is reachable, checked chunk by chunk, kept as ciphertext in the home and
 * decrypted on view; resends after expiry.
 */
export class Attachments {
  private readonly fetching = new Map<string, Promise<Uint8Array>>()
  private readonly uploads: AttachmentUpload
  private linkPart: AttachmentLink | undefined

  private readonly chunkWrites: WriteBatch<
    { messageId: string; index: number; chunk: Bytes },
    undefined
  >

  constructor(private readonly ctx: ClientContext) {
    this.uploads = new AttachmentUpload(ctx)
    this.chunkWrites = new WriteBatch(
      () => ctx.repository,
      async (w, items) => {
        for (const c of items) await w.saveAttachmentChunk(c.messageId, c.index, c.chunk)
        return items.map(() => undefined)
      },
    )
  }

  close(): void {
    this.linkPart?.close()
  }

  private get link(): AttachmentLink {
    return (this.linkPart ??= new AttachmentLink(this.ctx, this.media()))
  }

  /** A `chunk` or `chunk-missing` frame from a link peer. */
  onChunkFrame(
    frame: Extract<DirectFrame, { type: 'chunk' | 'chunk-missing' }>,
    peer: LinkPeer,
  ): void {
    this.linkPart?.onChunkFrame(frame, peer)
  }

  /** A link peer asks for a chunk of an attachment this device sent. */
  serveChunk(message: Bytes, index: number, peer: LinkPeer): Promise<void> {
    return this.link.serveChunk(message, index, peer)
  }

  private media(): MediaCrypto {
    const media = this.ctx.ports.media
    if (!media) {
      throw new UnsupportedError(
        'this client has no media crypto port: attachments need one (createNodeClient gives it)',
      )
    }
    return media
  }

  // ------------------------------------------------------------------ showing

  /** The caption a pointer carries (the message's text); throws `MalformedError` for a bad pointer. */
  caption(pointer: Bytes): string {
    return decodeAttachmentPointer(pointer).caption ?? ''
  }

  info(row: StoredAttachment): AttachmentInfo {
    const p = decodeAttachmentPointer(row.pointer)
    let state: AttachmentState = row.state
    // A fetch running now (the row is written when it ends, not at each step).
    if (state === 'available' && this.fetching.has(row.messageId)) state = 'downloading'
    if (
      state === 'available' &&
      p.inDht &&
      !row.ciphertext &&
      this.ctx.clock.now() >= p.expiresAt
    ) {
      state = 'expired'
    }
    return {
      id: toHex(p.digest.subarray(0, 16)),
      contentType: p.contentType,
      ...(p.fileName !== undefined ? { fileName: p.fileName } : {}),
      size: p.size,
      ...(p.caption !== undefined ? { caption: p.caption } : {}),
      ...(p.width !== undefined ? { width: p.width } : {}),
      ...(p.height !== undefined ? { height: p.height } : {}),
      ...(p.frames !== undefined ? { frames: p.frames } : {}),
      ...(p.durationMs !== undefined ? { durationMs: p.durationMs } : {}),
      ...(p.preview !== undefined ? { preview: p.preview } : {}),
      state,
      expiresAt: p.expiresAt,
    }
  }

  decorate(message: ChatMessage, row: StoredAttachment | undefined): ChatMessage {
    return row ? { ...message, attachment: this.info(row) } : message
  }

  /** Messages with their attachments (one read for the page). */
  async decorateAll(messages: ChatMessage[]): Promise<ChatMessage[]> {
    if (messages.length === 0) return messages
    const rows = await this.ctx.repository.attachmentsOf(messages.map((m) => m.id))
    if (rows.length === 0) return messages
    const byId = new Map(rows.map((r) => [r.messageId, r]))
    return messages.map((m) => this.decorate(m, byId.get(m.id)))
  }

  // ------------------------------------------------------------------ sending

  async send(
    to: ContactId,
    input: AttachmentInput,
    options: SendOptions = {},
  ): Promise<ChatMessage> {
    const { ctx } = this
    // Every check before any work: size, then the pointer's own limits (caption, preview, type).
    checkAttachmentSize(input.bytes.byteLength)
    options.signal?.throwIfAborted()
    ctx.requireLinked()
    const template: AttachmentPointer = {
      inDht: false,
      size: input.bytes.byteLength,
      contentType: input.contentType,
      ...(input.fileName ? { fileName: input.fileName } : {}),
      keys: new Uint8Array(64),
      digest: new Uint8Array(32),
      capability: new Uint8Array(32),
      expiresAt: 0,
      ...(input.width ? { width: input.width } : {}),
      ...(input.height ? { height: input.height } : {}),
      ...(input.frames ? { frames: input.frames } : {}),
      ...(input.durationMs ? { durationMs: input.durationMs } : {}),
      chunkIds: Array.from(
        { length: chunkCountOf(input.bytes.byteLength) },
        () => new Uint8Array(16),
      ),
      ...(input.preview?.byteLength ? { preview: Uint8Array.from(input.preview) } : {}),
      ...(input.caption ? { caption: input.caption } : {}),
    }
    encodeAttachmentPointer(template)
    const group = isGroupId(to)
    let linked = false
    if (group) {
      ctx.groups.info(to) // throws NotFoundError for a group not held
    } else {
      const accountKey = await ctx.contacts.key(to)
      if (!accountKey) throw new NotFoundError(`${to} is not a contact; add it first`)
      linked = this.linkedToAll(to, accountKey)
    }
    const media = this.media()
    const keys = ctx.random(64)
    const { ciphertext, digest } = await encryptAttachment(media, input.bytes, keys, ctx.random(16))
    const capability = Identity.generate(ctx.keys)
    const chunkIds = await chunkIdsOf(media, mailboxKeyFor(capability.publicKey), ciphertext)
    let pointer: AttachmentPointer = {
      ...template,
      keys,
      digest,
      capability: capability.secretKey.exportPrivateKey(),
      chunkIds,
    }
    const id = ctx.outbox.newMessageId()
    // A group always gets the DHT copy (one upload for every member); a contact whose every
    // device is linked pulls the chunks over the link instead.
    const inDht = group || !linked
    const row: StoredAttachment = {
      messageId: toHex(id),
      contactId: to,
      direction: 'out',
      sender: `${ctx.account.textId}.${ctx.account.deviceId}`,
      pointer: encodeAttachmentPointer(pointer),
      state: inDht ? 'uploading' : 'available',
      ciphertext,
      updatedAt: ctx.clock.now(),
    }
    await this.save(row)
    // Served over links from memory while the recipients pull it.
    if (!inDht) this.link.remember(row.messageId, pointer, ciphertext)
    if (inDht) {
      try {
        const expiresAt = await this.uploads.upload(row.messageId, capability, ciphertext)
        pointer = { ...pointer, inDht: true, expiresAt }
        // The ciphertext is held already: the row alone is written (not the file again).
        const { ciphertext: _held, ...meta } = row
        await this.save({ ...meta, pointer: encodeAttachmentPointer(pointer), state: 'available' })
      } catch (error) {
        const { ciphertext: _held, ...meta } = row
        await this.save({ ...meta, state: 'failed' })
        throw error
      }
    }
    const [done] = await this.ctx.repository.attachmentsOf([row.messageId]) // not its ciphertext
    const content = { id, pointer: encodeAttachmentPointer(pointer) }
    const caption = input.caption ?? ''
    const message = group
      ? await ctx.groups.send(to, caption, options, content)
      : await ctx.outbox.send(to, caption, options, content)
    return this.decorate(message, done)
  }

  /** True when every device of the contact has an open link now. */
  private linkedToAll(contactId: ContactId, accountKey: Bytes): boolean {
    const { ctx } = this
    const links = ctx.network.links
    if (!links) return false
    const targets = ctx.devices.targets(contactId, accountKey)
    return (
      targets.length > 0 &&
      targets.every((t) => {
        const key = ctx.devices.keyOf(t.account, t.deviceId, accountKey)
        return key !== undefined && links.link(ctx.contacts.nodeIdOf(key)) !== undefined
      })
    )
  }

  private async save(row: StoredAttachment): Promise<void> {
    const { ctx } = this
    await ctx.repository.transaction((w) =>
      w.saveAttachment({ ...row, updatedAt: ctx.clock.now() }),
    )
  }

  // ------------------------------------------------------------------ receiving

  /** Keeps an incoming attachment's row, in the transaction of its message. */
  async receive(
    w: ClientWriter,
    message: StoredMessage,
    pointer: Bytes,
  ): Promise<StoredAttachment> {
    const row: StoredAttachment = {
      messageId: message.id,
      contactId: message.contactId,
      direction: message.direction,
      sender: `${message.sender.account}.${message.sender.deviceId}`,
      pointer,
      state: 'available',
      updatedAt: this.ctx.clock.now(),
    }
    await w.saveAttachment(row)
    return row
  }

  async fetch(messageId: MessageId, opts: { signal?: AbortSignalLike } = {}): Promise<Uint8Array> {
    const running = this.fetching.get(messageId)
    if (running) return running
    const job = this.fetchOnce(messageId, opts.signal).finally(() =>
      this.fetching.delete(messageId),
    )
    this.fetching.set(messageId, job)
    return job
  }

  private async fetchOnce(
    messageId: MessageId,
    signal: AbortSignalLike | undefined,
  ): Promise<Uint8Array> {
    const { ctx } = this
    let row = await ctx.repository.attachment(messageId)
    if (!row) throw new NotFoundError(`message ${messageId} has no attachment here`)
    const media = this.media()
    const p = decodeAttachmentPointer(row.pointer)
    const total = attachmentCiphertextSize(p.size)
    // Sent from here, or fetched: the ciphertext at rest, checked (digest, MAC) and decrypted
    // at each view.
    if (row.ciphertext) {
      const held = await this.view(row, p, row.ciphertext)
      if (held) return held
      row = { ...row, ciphertext: undefined, state: 'available' } // damaged at rest: fetched again
    }
    const kept = await ctx.repository.attachmentChunks(messageId)
    if (row.state === 'downloaded' && kept.size === p.chunkIds.length) {
      // Fetched before the ciphertext went into the row: its chunks are the file at rest.
      return decryptAttachment(media, assemble(kept, total), p.keys, p.digest, p.size)
    }
    // (`downloaded` without its ciphertext: lost at rest by a crash of the OS, fetched again.)
    // The chunks as they came (views of what the link or the DHT handed over, not copied), and
    // written as they come into a draft of the file at rest when the store gives one (off the
    // event loop, while the next ones are on their way). Chunks from the DHT are also kept in
    // the home as they come; chunks from a link are kept there only if the pull stops before
    // the end (at most the 8 MiB cap in memory meanwhile).
    const chunks: (Bytes | undefined)[] = new Array<Bytes | undefined>(p.chunkIds.length)
    const draft = ctx.repository.attachmentDraft?.(messageId)
    const unsaved = new Set<number>()
    let done = 0
    const progress = (state: AttachmentState) =>
      ctx.events.emit('attachment', { messageId, direction: 'down', done, total, state })
    const start = row
    const setState = async (state: AttachmentState) => {
      await this.save({ ...start, state })
      progress(state)
    }
    let open = true // takes after the pull stopped are dropped (not kept, not counted)
    const hold = (index: number, chunk: Bytes): boolean => {
      if (!open || chunks[index]) return false
      chunks[index] = chunk
      draft?.write(index * ATTACHMENT_CHUNK_BYTES, chunk)
      done += chunk.byteLength
      return true
    }
    for (const [index, chunk] of kept) hold(index, chunk)
    const fromLink = async (index: number, chunk: Bytes) => {
      if (!hold(index, chunk)) return
      unsaved.add(index)
      progress('downloading')
    }
    // DHT chunks are written as they come, many per transaction; the transfer does not wait.
    const writes: Promise<undefined>[] = []
    const fromDht = async (index: number, chunk: Bytes) => {
      if (!hold(index, chunk)) return
      writes.push(this.chunkWrites.add({ messageId, index, chunk }))
      progress('downloading')
    }
    /** Keeps the chunks pulled over a link so far, for the next fetch to resume from. */
    const spill = async () => {
      open = false
      await Promise.allSettled([...writes, draft?.discard()])
      if (unsaved.size === 0) return
      const indexes = [...unsaved]
      unsaved.clear()
      await ctx.repository.transaction(async (w) => {
        for (const i of indexes) await w.saveAttachmentChunk(messageId, i, chunks[i]!)
      })
    }
    const missing = () => p.chunkIds.map((_, i) => i).filter((i) => !chunks[i])
    // `downloading` is an event, not a write: the row says it while this fetch runs (`info`).
    progress('downloading')
    try {
      if (missing().length > 0) await this.link.pull(start, p, missing(), fromLink, signal)
      if (missing().length > 0 && p.inDht) await this.pullFromDht(p, missing(), fromDht, signal)
    } catch (error) {
      await spill()
      if (error instanceof ExpiredError) await setState('expired')
      else if (error instanceof TamperedError) await setState('tampered')
      else await setState('available')
      throw error
    }
    if (missing().length > 0) {
      await spill()
      await setState('available')
      throw new UnreachableError(
        'the sender is not reachable over a direct link and the file is not in the DHT: try again when the sender is online, or ask for a resend (attachments.requestResend)',
      )
    }
    open = false
    const held = chunks as Bytes[]
    const whole = draft ? undefined : concatBytes(...held) // a store without drafts keeps it whole
    try {
      await Promise.all([...writes, draft?.complete()])
    } catch (error) {
      await draft?.discard()
      throw error
    }
    // Downloaded: every chunk matched its ID, and the IDs (in the end-to-end pointer) bind every
    // byte, so the ciphertext is the sender's; it is kept at rest (the draft, or one write: a
    // file of the home), its chunks go. Its digest and MAC are checked when it is decrypted,
    // below and at every view (docs/PROTOCOL.md, "Attachments at rest"): a sender that listed
    // the chunks of another file gets its attachment refused there, before any byte is shown.
    try {
      await ctx.repository.transaction(async (w) => {
        const downloaded = { ...start, state: 'downloaded' as const, updatedAt: ctx.clock.now() }
        if (draft) await w.saveAttachment(downloaded, draft)
        else await w.saveAttachment({ ...downloaded, ciphertext: whole })
        await w.dropAttachmentChunks(messageId)
      })
    } catch (error) {
      await draft?.discard()
      throw error
    }
    progress('downloaded')
    try {
      const ciphertext = whole ?? concatBytes(...held)
      return await decryptAttachment(media, ciphertext, p.keys, p.digest, p.size)
    } catch (error) {
      if (error instanceof TamperedError) await this.refuse(start, done, total)
      throw error
    }
  }

  /**
   * Checks and decrypts a ciphertext held at rest. A fetched one that fails is told apart: the
   * sender's (every chunk matches its ID: refused as tampered, and thrown) or damaged at rest (a
   * crash of the OS before its write-back: forgotten, undefined, to fetch it again).
   */
  private async view(
    row: StoredAttachment,
    p: AttachmentPointer,
    ciphertext: Bytes,
  ): Promise<Uint8Array | undefined> {
    const media = this.media()
    try {
      return await decryptAttachment(media, ciphertext, p.keys, p.digest, p.size)
    } catch (error) {
      if (!(error instanceof TamperedError) || row.direction === 'out') throw error
      const total = attachmentCiphertextSize(p.size)
      if (ciphertext.byteLength === total) {
        const box = mailboxKeyFor(Identity.fromPrivateKey(this.ctx.keys, p.capability).publicKey)
        const ids = await chunkIdsOf(media, box, ciphertext)
        if (ids.every((id, i) => equalBytes(id, p.chunkIds[i]!))) {
          await this.refuse(row, total, total)
          throw error
        }
      }
      await this.ctx.repository.transaction(async (w) => {
        await w.dropAttachmentCiphertext(row.messageId)
        await w.saveAttachment({ ...row, ciphertext: undefined, state: 'available' })
      })
      return undefined
    }
  }

  /** The sender's ciphertext does not match its digest or MAC: not kept, shown as tampered. */
  private async refuse(row: StoredAttachment, done: number, total: number): Promise<void> {
    const { ctx } = this
    await ctx.repository.transaction(async (w) => {
      await w.dropAttachmentChunks(row.messageId)
      await w.dropAttachmentCiphertext(row.messageId)
      await w.saveAttachment({ ...row, ciphertext: undefined, state: 'tampered' })
    })
    ctx.events.emit('attachment', {
      messageId: row.messageId,
      direction: 'down',
      done,
      total,
      state: 'tampered',
    })
  }

  /** Reads missing chunks from the capability mailbox; throws `ExpiredError` or `TamperedError`. */
  private async pullFromDht(
    p: AttachmentPointer,
    indexes: number[],
    take: (index: number, chunk: Bytes) => Promise<void>,
    signal: AbortSignalLike | undefined,
  ): Promise<void> {
    const { ctx } = this
    if (ctx.clock.now() >= p.expiresAt) throw new ExpiredError()
    const dht = ctx.network.dht
    if (!dht || !ctx.network.dhtJoined) return
    const owner = Identity.fromPrivateKey(ctx.keys, p.capability)
    const byId = new Map(indexes.map((i) => [toHex(p.chunkIds[i]!), i]))
    const ids = indexes.map((i) => p.chunkIds[i]!)
    const { missing, tampered } = await dht.readEnvelopes(
      owner,
      ids,
      (id, data) => take(byId.get(toHex(id))!, data),
      signal,
    )
    if (tampered.length > 0) {
      throw new TamperedError(
        `every DHT replica holding ${tampered.length} of its chunks served them altered: the attachment cannot be trusted; ask for a resend`,
      )
    }
    if (missing.length === ids.length && ids.length > 0) throw new ExpiredError()
  }

  // ------------------------------------------------------------------ expiry and resend

  async requestResend(messageId: MessageId): Promise<void> {
    const { ctx } = this
    ctx.requireLinked()
    const row = await ctx.repository.attachment(messageId)
    if (!row) throw new NotFoundError(`message ${messageId} has no attachment here`)
    if (row.ciphertext || row.state === 'downloaded') return // held: nothing to ask
    const dot = row.sender.lastIndexOf('.')
    const to = { account: row.sender.slice(0, dot), deviceId: Number(row.sender.slice(dot + 1)) }
    await ctx.outbox.enqueueControl(
      { kind: 'attachment-request', message: fromHex(messageId) },
      [to],
      undefined,
      true,
    )
  }

  /** A recipient asks for an attachment this device sent: put its chunks again, say until when. */
  async onRequest(messageId: MessageId, sender: Sender): Promise<void> {
    const { ctx } = this
    const row = await ctx.repository.attachment(messageId)
    if (!row?.ciphertext || row.direction !== 'out') return
    const allowed = isGroupId(row.contactId)
      ? ctx.groups.hasMember(row.contactId, sender.account)
      : row.contactId === sender.account
    if (!allowed) return
    const p = decodeAttachmentPointer(row.pointer)
    const capability = Identity.fromPrivateKey(ctx.keys, p.capability)
    const expiresAt = await this.uploads.upload(messageId, capability, row.ciphertext)
    const renewed = encodeAttachmentPointer({ ...p, inDht: true, expiresAt })
    const { ciphertext: _held, ...meta } = row // held already: the row alone is written
    await this.save({ ...meta, pointer: renewed, state: 'available' })
    this.linkPart?.forget(messageId)
    await ctx.outbox.enqueueControl(
      { kind: 'attachment-renewed', message: fromHex(messageId), expiresAt },
      [{ account: sender.account, deviceId: sender.deviceId }],
      undefined,
      true,
    )
  }

  /** The sender put an attachment's chunks in the DHT again (after commit: reads the row). */
  onRenewed(messageId: MessageId, expiresAt: number, sender: Sender): Promise<void> {
    return this.renew(messageId, expiresAt, sender)
  }

  private async renew(messageId: MessageId, expiresAt: number, sender: Sender): Promise<void> {
    const row = await this.ctx.repository.attachment(messageId)
    if (!row || row.ciphertext || row.state === 'downloaded') return
    if (row.sender !== `${sender.account}.${sender.deviceId}`) return // only its sender renews it
    const p = decodeAttachmentPointer(row.pointer)
    const pointer = encodeAttachmentPointer({ ...p, inDht: true, expiresAt })
    await this.save({ ...row, pointer, state: 'available' })
    this.ctx.events.emit('attachment', {
      messageId,
      direction: 'down',
      done: 0,
      total: attachmentCiphertextSize(p.size),
      state: 'available',
    })
  }
}

/** The ciphertext of an attachment from its chunks. */
function assemble(chunks: Map<number, Bytes>, total: number): Bytes {
  const ciphertext = new Uint8Array(total)
  for (const [index, chunk] of chunks) ciphertext.set(chunk, index * ATTACHMENT_CHUNK_BYTES)
  return ciphertext
}
