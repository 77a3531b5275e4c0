import { randomBytes } from 'node:crypto'
import {
  close,
  closeSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  open,
  openSync,
  readdir,
  readFileSync,
  renameSync,
  rm,
  rmSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import type { Bytes } from '../../core/wire/bytes.js'

/** The folder of a home that holds attachments' ciphertexts, one file per message. */
export const ATTACHMENTS_DIR = 'attachments'

/** A message ID that can name a file as it is (hex, as every message ID this SDK makes). */
const FILE_NAME = /^[0-9a-f]{1,64}$/
/** Files being written, or made ahead for the next write: never a message's ciphertext. */
const SPARE_PREFIX = '.spare-'

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
  /**
   * An empty file made ahead, off the event loop, for the next write: creating a file waits on
   * the file system's journal (milliseconds when a commit of the database or of another file
   * is under way), which a fetch would otherwise wait for before it says `downloaded`.
   */
  private spare: { fd: number; path: string } | undefined
  private preparing = false
  private closed = false

  constructor(homeDir: string) {
    this.dir = join(homeDir, ATTACHMENTS_DIR)
  }

  /** Removes the spare file (the home closes). */
  close(): void {
    this.closed = true
    const spare = this.spare
    this.spare = undefined
    if (spare) {
      closeSync(spare.fd)
      rmSync(spare.path, { force: true })
    }
  }

  private makeDir(): void {
    if (this.made) return
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    this.made = true
    // Spares and writes a stopped process left behind.
    readdir(this.dir, (error, names) => {
      if (error) return
      for (const name of names)
        if (name.startsWith(SPARE_PREFIX)) rm(join(this.dir, name), { force: true }, () => {})
    })
  }

  /** Makes the next spare file in the background (a failure leaves none: writes open their own). */
  private prepare(): void {
    if (this.spare || this.preparing || this.closed) return
    this.preparing = true
    const path = join(this.dir, `${SPARE_PREFIX}${randomBytes(8).toString('hex')}`)
    open(path, 'wx', 0o600, (error, fd) => {
      this.preparing = false
      if (error) return
      if (this.closed) {
        close(fd, () => rm(path, { force: true }, () => {}))
        return
      }
      this.spare = { fd, path }
    })
  }

  /** Whether a message's ciphertext goes to a file (else it stays in the row, as before files). */
  static holds(messageId: string): boolean {
    return FILE_NAME.test(messageId)
  }

  /** Writes a ciphertext whole; `durable` flushes it (and its name) to the disk first. */
  write(messageId: string, ciphertext: Uint8Array, durable: boolean): void {
    this.makeDir()
    const path = join(this.dir, messageId)
    let spare = this.spare
    this.spare = undefined
    if (!spare) {
      const name = join(this.dir, `${SPARE_PREFIX}${randomBytes(8).toString('hex')}`)
      spare = { path: name, fd: openSync(name, 'wx', 0o600) }
    }
    const { fd, path: part } = spare
    try {
      try {
        for (let at = 0; at < ciphertext.byteLength;)
          at += writeSync(fd, ciphertext, at, ciphertext.byteLength - at)
        if (durable) fdatasyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(part, path)
    } catch (error) {
      rmSync(part, { force: true })
      throw error
    }
    this.prepare()
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
