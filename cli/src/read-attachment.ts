import { readFile, stat } from 'node:fs/promises'
import { basename, extname } from 'node:path'
import {
  MAX_ATTACHMENT_BYTES,
  MalformedError,
  NotFoundError,
  TooLargeError,
  type AttachmentInput,
} from '@passage/sdk'
import { byteSize } from './attachment-text.js'
import { GifError } from './media/gif-error.js'
import { probeGif } from './media/gif-probe.js'
import type { GifDecoder } from './media/decode-isolated.js'

/** Content types by file extension, for `--file`; anything else is sent as bytes. */
const TYPES: Record<string, string> = {
  '.gif': 'image/gif',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.pdf': 'application/pdf',
  '.txt': 'text/plain',
  '.md': 'text/markdown',
  '.json': 'application/json',
  '.zip': 'application/zip',
}

/**
 * A file read for sending: checked before anything goes out (it exists, is a file, fits in
 * 8 MiB: checked on its size before reading it). As a GIF (`kind` gif) it must decode within
 * the limits every recipient shows (`decodeGif`): its size, frames, length and a still
 * preview travel with it.
 */
export async function readAttachment(
  path: string,
  kind: 'gif' | 'file',
  caption: string | undefined,
  decoder?: GifDecoder,
): Promise<AttachmentInput> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') {
      throw new NotFoundError(`no file at ${path}: check the path; nothing was sent`)
    }
    throw error
  })
  if (!info.isFile()) throw new MalformedError(`${path} is not a file; nothing was sent`)
  if (info.size > MAX_ATTACHMENT_BYTES) {
    throw new TooLargeError(
      `${path} is ${byteSize(info.size)}; an attachment is at most ${byteSize(MAX_ATTACHMENT_BYTES)}: send a smaller rendition; nothing was sent`,
    )
  }
  if (info.size === 0) throw new MalformedError(`${path} is empty; nothing was sent`)
  const bytes = new Uint8Array(await readFile(path))
  const fileName = basename(path)
  const text = caption?.trim() ? { caption } : {}
  if (kind === 'file') {
    const contentType = TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream'
    return { bytes, contentType, fileName, ...text }
  }
  const probe = await probeGif(bytes, decoder).catch((error: unknown) => {
    if (!(error instanceof GifError)) throw error
    const instead =
      error.code === 'not-gif'
        ? 'send it with --file to send it as a file'
        : 'make a smaller rendition, or send it with --file (then it shows as a file)'
    const Refusal = error.code === 'too-large' ? TooLargeError : MalformedError
    throw new Refusal(`${path}: ${error.message}; ${instead}; nothing was sent`)
  })
  return {
    bytes,
    contentType: 'image/gif',
    fileName,
    ...text,
    width: probe.width,
    height: probe.height,
    frames: probe.frames,
    durationMs: probe.durationMs,
    preview: probe.preview,
  }
}
