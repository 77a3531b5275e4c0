import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import type { Bytes } from '../../core/wire/bytes.js'

/** The folder of a home that holds attachments' ciphertexts, one file per message. */
export const ATTACHMENTS_DIR = 'attachments'

/** A message ID that can name a file as it is (hex, as every message ID this SDK makes). */
const FILE_NAME = /^[0-9a-f]{1,64}$/

/**
 * Attachments' ciphertexts at rest as files, `<home>/attachments/<messageId>` (docs/PROTOCOL.md,
 * "Attachments at rest"): written once, whole, under a temporary name and renamed, so a file
 * under its final name is always a whole write; the database row holds only the metadata.
 *
 * Durability: a ciphertext this device sent is the only copy its recipients can fetch, so it is
 * flushed (`fdatasync`, then the folder) before its row commits. A fetched one is a copy of bytes
 * the pointer binds (every chunk ID, the digest, the MAC) and that can be fetched again: it is
 * not flushed. A crash of the process loses nothing (the OS has the bytes); a crash of the OS
 * within its write-back delay may leave the row without its file, or a file shorter than its
 * ciphertext, which the next fetch sees (no file, or chunk IDs that do not match) and fetches
 * again.
 */
export class AttachmentFiles {
  private readonly dir: string
  private made = false

  constructor(homeDir: string) {
    this.dir = join(homeDir, ATTACHMENTS_DIR)
  }

  /** Whether a message's ciphertext goes to a file (else it stays in the row, as before files). */
  static holds(messageId: string): boolean {
    return FILE_NAME.test(messageId)
  }

  /** Writes a ciphertext whole; `durable` flushes it (and its name) to the disk first. */
  write(messageId: string, ciphertext: Uint8Array, durable: boolean): void {
    if (!this.made) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 })
      this.made = true
    }
    const path = join(this.dir, messageId)
    const part = `${path}.part`
    const fd = openSync(part, 'w', 0o600)
    try {
      for (let at = 0; at < ciphertext.byteLength;)
        at += writeSync(fd, ciphertext, at, ciphertext.byteLength - at)
      if (durable) fdatasyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(part, path)
    if (durable) {
      const dir = openSync(this.dir, 'r')
      try {
        fsyncSync(dir)
      } finally {
        closeSync(dir)
      }
    }
  }

  /** A message's ciphertext, or undefined when no file holds it. */
  read(messageId: string): Bytes | undefined {
    try {
      // Its own allocation (never a pooled slice): a view of it, not a copy.
      const file = readFileSync(join(this.dir, messageId))
      return new Uint8Array(file.buffer as ArrayBuffer, file.byteOffset, file.byteLength)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }

  /** Forgets a message's ciphertext (none held: nothing to do). */
  remove(messageId: string): void {
    rmSync(join(this.dir, messageId), { force: true })
  }
}
