import omggif from 'omggif'
import { GifError } from './gif-error.js'
import { scanGif } from './gif-header.js'
import { DEFAULT_FRAME_MS, GIF_LIMITS, type GifLimits } from './gif-limits.js'
import { decodeLzw } from './lzw.js'
import { fitWithin, scaleRgba } from './scale-rgba.js'

/** One composited frame, scaled to fit `keepSidePx`: RGBA, row by row. */
export interface GifFrame {
  rgba: Uint8Array
  delayMs: number
}

/** A decoded GIF: its declared size, and its frames at `frameWidth`×`frameHeight`. */
export interface DecodedGif {
  width: number
  height: number
  frameWidth: number
  frameHeight: number
  frames: GifFrame[]
  durationMs: number
}

export interface DecodeOptions {
  limits?: Partial<GifLimits>
  /** Milliseconds, for the time cap (tests hand in a clock they move). */
  now?: () => number
}

/**
 * Decodes a GIF (omggif reads its blocks, `decodeLzw` its pixels) and composites its frames as a browser does: each frame drawn over
 * the previous picture, transparent pixels left through, then disposed (1 keep, 2 clear its
 * rectangle, 3 restore what was under it). Bounded: the declared size is checked before
 * decoding (`readGifHeader`), the frame count and every frame's rectangle before the first
 * pixel, the time cap between frames; whatever goes wrong is a `GifError`, never another
 * exception. Synchronous: run it in `decodeGifIsolated` where a GIF can come from anyone.
 */
export function decodeGif(bytes: Uint8Array, options: DecodeOptions = {}): DecodedGif {
  const limits = { ...GIF_LIMITS, ...options.limits }
  const now = options.now ?? (() => performance.now())
  const deadline = now() + limits.timeCapMs
  // Size, frame count and every frame's rectangle are checked here, before any decoding.
  const header = scanGif(bytes, limits)
  return typedErrors(() => {
    const reader = read(bytes)
    if (reader.numFrames() !== header.frames.length) {
      throw new GifError('malformed', 'the GIF is damaged (its blocks do not add up)')
    }
    const { width, height } = header
    const kept = fitWithin(width, height, limits.keepSidePx)
    const canvas = new Uint8Array(width * height * 4)
    const frames: GifFrame[] = []
    let durationMs = 0
    for (let i = 0; i < header.frames.length; i++) {
      if (now() > deadline) {
        throw new GifError(
          'too-slow',
          `the GIF took over ${limits.timeCapMs} ms to decode (${i} of ${header.frames.length} frames)`,
        )
      }
      const f = reader.frameInfo(i)
      const under = f.disposal === 3 ? canvas.slice() : undefined
      blit(bytes, f, canvas, width, height)
      const delayMs = f.delay <= 1 ? DEFAULT_FRAME_MS : f.delay * 10
      frames.push({ rgba: scaleRgba(canvas, width, height, kept.width, kept.height), delayMs })
      durationMs += delayMs
      if (f.disposal === 2) clearRect(canvas, width, height, f)
      else if (under) canvas.set(under)
    }
    return { width, height, frameWidth: kept.width, frameHeight: kept.height, frames, durationMs }
  })
}

/**
 * Draws one frame over the canvas: its LZW data decoded (`decodeLzw`), interlaced rows put
 * in place, its palette (local or global) applied, transparent pixels skipped, everything
 * outside the logical screen cut off.
 */
function blit(
  bytes: Uint8Array,
  f: omggif.Frame,
  canvas: Uint8Array,
  width: number,
  height: number,
): void {
  const indexes = decodeLzw(bytes, f.data_offset, f.width * f.height)
  const rows = f.interlaced ? interlacedRows(f.height) : undefined
  const palette = f.palette_offset ?? -1
  const colors = f.palette_size ?? 0
  for (let r = 0; r < f.height; r++) {
    const y = f.y + (rows ? rows[r]! : r)
    if (y >= height) continue
    for (let c = 0; c < f.width; c++) {
      const x = f.x + c
      if (x >= width) break
      const index = indexes[r * f.width + c]!
      if (index === f.transparent_index) continue
      const o = (y * width + x) * 4
      if (palette < 0 || index >= colors) {
        canvas[o] = canvas[o + 1] = canvas[o + 2] = 0 // no such colour: black, as browsers
      } else {
        const at = palette + index * 3
        canvas[o] = bytes[at] ?? 0
        canvas[o + 1] = bytes[at + 1] ?? 0
        canvas[o + 2] = bytes[at + 2] ?? 0
      }
      canvas[o + 3] = 255
    }
  }
}

/** Where each stored row of an interlaced image goes: rows 0, 8, 16…, then 4, 12…, 2, 6…, 1, 3… */
function interlacedRows(height: number): Uint32Array {
  const rows = new Uint32Array(height)
  let i = 0
  for (const [start, step] of [
    [0, 8],
    [4, 8],
    [2, 4],
    [1, 2],
  ] as const) {
    for (let y = start; y < height; y += step) rows[i++] = y
  }
  return rows
}

function read(bytes: Uint8Array): omggif.GifReader {
  try {
    return new omggif.GifReader(bytes)
  } catch (error) {
    throw malformed(error)
  }
}

function malformed(error: unknown): GifError {
  if (error instanceof GifError) return error
  const why = error instanceof Error ? error.message : String(error)
  return new GifError('malformed', `the GIF is damaged (${why})`)
}

/** Disposal 2: the frame's rectangle (within the screen) back to transparent. */
function clearRect(canvas: Uint8Array, width: number, height: number, f: omggif.Frame): void {
  const right = Math.min(width, f.x + f.width)
  for (let y = f.y; y < Math.min(height, f.y + f.height); y++) {
    if (right > f.x) canvas.fill(0, (y * width + f.x) * 4, (y * width + right) * 4)
  }
}

/** Anything thrown while reading a GIF is a `GifError`. */
function typedErrors<T>(fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    throw malformed(error)
  }
}
