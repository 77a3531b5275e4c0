import { chunkOf } from '../attachments/attachment-chunks.js'
import { mailboxKeyFor } from '../dht/keys.js'
import { QuotaExceededError, UnavailableError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import type { Bytes } from '../wire/bytes.js'
import type { ClientContext } from './context.js'
import type { AttachmentState, MessageId } from './types.js'

/** How long chunks stay in the DHT: 7 days (a blob lives shorter than texts' 14). */
export const ATTACHMENT_TTL_MS = 7 * 24 * 3600_000
/** Replicas a chunk is put on: fewer than a mailbox's k, each one's per-IP quota counts it. */
export const BLOB_REPLICAS = 5
/** Replicas that must take each chunk for an upload to count. */
const MIN_STORED = 3
/** Default upload budget over any 7 days: 48 of a replica's 64 MiB per address; the rest is for texts. */
export const DEFAULT_ATTACHMENT_BUDGET_BYTES = 48 * 1024 * 1024
/** The setting holding recent uploads, `[expiresAt, bytes][]` (JSON). */
const UPLOADS_SETTING = 'attachment-uploads'
/** Chunks put in the DHT at once. */
const PUT_WINDOW = 4

/**
 * Attachments' chunks into the DHT (docs/PROTOCOL.md, "Chunks and the capability mailbox"):
 * one envelope per chunk in the capability mailbox, within the local upload budget.
 */
export class AttachmentUpload {
  constructor(private readonly ctx: ClientContext) {}

  /**
   * Puts every chunk in the capability mailbox of `capability` (7 days, {@link BLOB_REPLICAS}
   * replicas), within the upload budget; resolves with when they expire.
   */
  async upload(messageId: MessageId, capability: Identity, ciphertext: Bytes): Promise<number> {
    const { ctx } = this
    const dht = ctx.network.dht
    if (!dht || !ctx.network.dhtJoined) {
      throw new UnavailableError(
        'not connected to the DHT: the attachment cannot be stored for offline recipients; try again once online',
      )
    }
    const expiresAt = await this.reserve(ciphertext.byteLength)
    const lookup = await dht.lookup(mailboxKeyFor(capability.publicKey))
    const replicas = { ...lookup, closest: lookup.closest.slice(0, BLOB_REPLICAS) }
    const need = Math.min(MIN_STORED, replicas.closest.length)
    const count = Math.ceil(ciphertext.byteLength / 65_536)
    let done = 0
    let next = 0
    const progress = (state: AttachmentState) =>
      ctx.events.emit('attachment', {
        messageId,
        direction: 'up',
        done,
        total: ciphertext.byteLength,
        state,
      })
    progress('uploading')
    const worker = async () => {
      while (next < count) {
        const chunk = chunkOf(ciphertext, next++)
        const r = await dht.putEnvelope(capability.publicKey, chunk, {
          ttlMs: ATTACHMENT_TTL_MS,
          lookup: replicas,
        })
        if (r.stored < Math.max(1, need)) {
          if (r.errors.some((e) => e instanceof QuotaExceededError)) {
            throw new QuotaExceededError(
              'the DHT refused the attachment: this address stores as much as a replica allows (64 MiB); send it when the recipient is online, or later',
            )
          }
          throw new UnavailableError(
            `only ${r.stored} of ${replicas.closest.length} DHT replicas stored the attachment; try again`,
          )
        }
        done += chunk.byteLength
        progress('uploading')
      }
    }
    await Promise.all(Array.from({ length: Math.min(PUT_WINDOW, count) }, worker))
    progress('available')
    return expiresAt
  }

  /** Counts `bytes` against the upload budget of the last 7 days; throws `QuotaExceededError` past it. */
  private async reserve(bytes: number): Promise<number> {
    const { ctx } = this
    const now = ctx.clock.now()
    const budget = ctx.options.attachmentBudgetBytes ?? DEFAULT_ATTACHMENT_BUDGET_BYTES
    const saved = await ctx.repository.setting(UPLOADS_SETTING)
    const recent = (saved ? (JSON.parse(saved) as [number, number][]) : []).filter(
      ([expiresAt]) => expiresAt > now,
    )
    const used = recent.reduce((sum, [, b]) => sum + b, 0)
    if (used + bytes > budget) {
      const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`
      throw new QuotaExceededError(
        `this client put ${mib(used)} of attachments in the DHT in the last 7 days and may put ${mib(budget)} (a replica keeps 64 MiB per address); send it when the recipient is online (direct link), or after ${new Date(Math.min(...recent.map(([e]) => e))).toISOString()}`,
      )
    }
    const expiresAt = now + ATTACHMENT_TTL_MS
    recent.push([expiresAt, bytes])
    await ctx.repository.transaction((w) => w.setSetting(UPLOADS_SETTING, JSON.stringify(recent)))
    return expiresAt
  }
}
