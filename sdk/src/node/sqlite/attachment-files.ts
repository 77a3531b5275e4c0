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
  write,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import type { AttachmentDraft } from '../../core/client/ports.js'
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
  /**
   * The prefix of this instance's temporary files: the clean-up of what a stopped process left
   * behind runs in the background, while this one may already be writing its own.
   */
  private readonly mine = `${SPARE_PREFIX}${randomBytes(4).toString('hex')}-`
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
        if (name.startsWith(SPARE_PREFIX) && !name.startsWith(this.mine))
          rm(join(this.dir, name), { force: true }, () => {})
    })
  }

  /** Makes the next spare file in the background (a failure leaves none: writes open their own). */
  private prepare(): void {
    if (this.spare || this.preparing || this.closed) return
    this.preparing = true
    const path = join(this.dir, `${this.mine}${randomBytes(8).toString('hex')}`)
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

  /** The spare file, or a new one when none is ready: a file for one ciphertext. */
  private takeSpare(): { fd: number; path: string } {
    this.makeDir()
    const spare = this.spare
    this.spare = undefined
    if (spare) return spare
    const path = join(this.dir, `${this.mine}${randomBytes(8).toString('hex')}`)
    return { path, fd: openSync(path, 'wx', 0o600) }
  }

  /**
   * A fetched ciphertext written as its chunks come: each write goes to its place in a file
   * under a temporary name, on libuv's threadpool (off the event loop, while the next chunks
   * are on their way); {@link keep} renames it to the message's name. Not flushed, as a fetched
   * copy written whole.
   */
  draft(): FileDraft {
    const file = this.takeSpare()
    this.prepare()
    return new FileDraft(file.fd, file.path)
  }

  /** Gives a completed draft the message's name: the file now holds its ciphertext. */
  keep(messageId: string, draft: FileDraft): void {
    renameSync(draft.close(), join(this.dir, messageId))
  }

  /** Writes a ciphertext whole; `durable` flushes it (and its name) to the disk first. */
  write(messageId: string, ciphertext: Uint8Array, durable: boolean): void {
    const path = join(this.dir, messageId)
    const { fd, path: part } = this.takeSpare()
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

/** An {@link AttachmentDraft} in a file of the attachments folder (see {@link AttachmentFiles.draft}). */
export class FileDraft implements AttachmentDraft {
  private pending = 0
  private failure: Error | undefined
  private idle: (() => void)[] = []
  private closed = false

  constructor(
    private readonly fd: number,
    private readonly path: string,
  ) {}

  write(offset: number, bytes: Uint8Array): void {
    if (this.closed) throw new Error('the attachment draft is closed')
    this.pending++
    const next = (at: number) =>
      write(this.fd, bytes, at, bytes.byteLength - at, offset + at, (error, written) => {
        if (!error && at + written < bytes.byteLength) return next(at + written) // a short write
        if (error) this.failure ??= error
        if (--this.pending === 0) for (const resolve of this.idle.splice(0)) resolve()
      })
    next(0)
  }

  async complete(): Promise<void> {
    if (this.pending > 0) await new Promise<void>((resolve) => this.idle.push(resolve))
    if (this.failure) throw this.failure
  }

  async discard(): Promise<void> {
    if (this.pending > 0) await new Promise<void>((resolve) => this.idle.push(resolve))
    if (this.closed) return
    this.closed = true
    closeSync(this.fd)
    rmSync(this.path, { force: true })
  }

  /** Closes the file (every write done): its temporary path. */
  close(): string {
    if (this.pending > 0) throw new Error('the attachment draft still has writes in flight')
    if (this.failure) throw this.failure
    if (!this.closed) {
      this.closed = true
      closeSync(this.fd)
    }
    return this.path
  }
}
