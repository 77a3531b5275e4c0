import type { AttachmentInfo } from '@passage/sdk'
import { gifLabel } from './media/gif-label.js'

/** `1.2 MiB`, `640 KiB`, `312 B`. */
export function byteSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KiB`
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
}

export function isGif(info: Pick<AttachmentInfo, 'contentType'>): boolean {
  return info.contentType.toLowerCase() === 'image/gif'
}

/** What the attachment's state means for the reader, when it is worth saying. */
export const ATTACHMENT_STATE_WORDS: Record<AttachmentInfo['state'], string> = {
  uploading: 'uploading',
  available: '',
  downloading: 'downloading',
  downloaded: '',
  expired: 'expired: ask for it again',
  tampered: 'refused: altered on the way',
  failed: 'failed',
}

/**
 * One line for an attachment: `[GIF 320×240 · 12 frames · 2.4 s · 1.2 MiB]` or
 * `[file 報告.pdf · 120 KiB]`, and its state when it is not plain.
 */
export function attachmentLabel(info: AttachmentInfo, ascii = false): string {
  const dot = ascii ? ', ' : ' · '
  const base = isGif(info)
    ? gifLabel(info, ascii).slice(0, -1) + `${dot}${byteSize(info.size)}]`
    : `[file ${info.fileName ?? info.contentType}${dot}${byteSize(info.size)}]`
  const state = ATTACHMENT_STATE_WORDS[info.state]
  return state ? `${base} ${state}` : base
}

/** An attachment as JSON for scripts (`--json`). */
export function attachmentJson(info: AttachmentInfo) {
  return {
    id: info.id,
    contentType: info.contentType,
    fileName: info.fileName ?? null,
    size: info.size,
    caption: info.caption ?? null,
    width: info.width ?? null,
    height: info.height ?? null,
    frames: info.frames ?? null,
    durationMs: info.durationMs ?? null,
    state: info.state,
    expiresAt: info.expiresAt === 0 ? null : new Date(info.expiresAt).toISOString(),
  }
}
