import { compareBytes } from '../identity/node-id.js'
import { toHex, type Bytes } from '../wire/bytes.js'
import {
  TOMBSTONE_TTL_MS,
  type EnvelopeSummary,
  type MailboxQuota,
  type MailboxStore,
  type PutOutcome,
  type StoredEnvelope,
} from './mailbox-store.js'

/** A {@link MailboxStore} in memory: for clients, tests and the testnet. Not durable. */
export class MemoryMailboxStore implements MailboxStore {
  /** mailbox hex → envelope id hex → envelope */
  private readonly boxes = new Map<string, Map<string, StoredEnvelope>>()
  /** `${mailbox}/${id}` → tombstone expiry */
  private readonly tombstones = new Map<string, number>()

  async put(envelope: StoredEnvelope, quota: MailboxQuota, now: number): Promise<PutOutcome> {
    const box = toHex(envelope.mailboxKey)
    const id = toHex(envelope.id)
    const tomb = this.tombstones.get(`${box}/${id}`)
    if (tomb !== undefined && tomb > now) return 'deleted'
    const entries = this.boxes.get(box)
    const existing = entries?.get(id)
    if (existing && existing.expiresAt > now) return 'duplicate'
    let count = 0
    let bytes = 0
    for (const e of entries?.values() ?? []) {
      if (e.expiresAt <= now) continue
      count++
      bytes += e.data.byteLength
    }
    if (count + 1 > quota.maxCount || bytes + envelope.data.byteLength > quota.maxBytes) {
      return 'mailbox-full'
    }
    let sourceBytes = 0
    for (const b of this.boxes.values()) {
      for (const e of b.values()) {
        if (e.source === envelope.source && e.expiresAt > now) sourceBytes += e.data.byteLength
      }
    }
    if (sourceBytes + envelope.data.byteLength > quota.maxSourceBytes) return 'source-full'
    const stored = { ...envelope }
    if (entries) entries.set(id, stored)
    else this.boxes.set(box, new Map([[id, stored]]))
    return 'stored'
  }

  async has(mailboxKey: Bytes, id: Bytes, now: number): Promise<boolean> {
    return (await this.get(mailboxKey, id, now)) !== undefined
  }

  async list(
    mailboxKey: Bytes,
    now: number,
    limit: number,
    after?: Bytes,
  ): Promise<EnvelopeSummary[]> {
    const entries = [...(this.boxes.get(toHex(mailboxKey))?.values() ?? [])]
      .filter((e) => e.expiresAt > now && (!after || compareBytes(e.id, after) > 0))
      .sort((a, b) => compareBytes(a.id, b.id))
    return entries
      .slice(0, limit)
      .map((e) => ({ id: e.id, size: e.data.byteLength, expiresAt: e.expiresAt }))
  }

  async get(mailboxKey: Bytes, id: Bytes, now: number): Promise<StoredEnvelope | undefined> {
    const e = this.boxes.get(toHex(mailboxKey))?.get(toHex(id))
    return e && e.expiresAt > now ? { ...e } : undefined
  }

  async delete(mailboxKey: Bytes, ids: Bytes[], now: number): Promise<number> {
    const box = toHex(mailboxKey)
    const entries = this.boxes.get(box)
    let n = 0
    for (const idBytes of ids) {
      const id = toHex(idBytes)
      const e = entries?.get(id)
      if (e) {
        entries!.delete(id)
        if (e.expiresAt > now) n++
      }
      this.tombstones.set(`${box}/${id}`, now + TOMBSTONE_TTL_MS)
    }
    if (entries && entries.size === 0) this.boxes.delete(box)
    return n
  }

  async expire(now: number): Promise<number> {
    let n = 0
    for (const [box, entries] of this.boxes) {
      for (const [id, e] of entries) {
        if (e.expiresAt <= now) {
          entries.delete(id)
          n++
        }
      }
      if (entries.size === 0) this.boxes.delete(box)
    }
    for (const [key, until] of this.tombstones) if (until <= now) this.tombstones.delete(key)
    return n
  }

  async mailboxes(now: number, limit: number): Promise<Bytes[]> {
    const out: Bytes[] = []
    for (const entries of this.boxes.values()) {
      if (out.length >= limit) break
      const live = [...entries.values()].find((e) => e.expiresAt > now)
      if (live) out.push(live.mailboxKey)
    }
    return out
  }

  async stats(now: number): Promise<{ envelopes: number; bytes: number }> {
    let envelopes = 0
    let bytes = 0
    for (const entries of this.boxes.values()) {
      for (const e of entries.values()) {
        if (e.expiresAt <= now) continue
        envelopes++
        bytes += e.data.byteLength
      }
    }
    return { envelopes, bytes }
  }
}
