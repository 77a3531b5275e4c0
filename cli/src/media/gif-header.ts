import { GifError } from './gif-error.js'
import { GIF_LIMITS, type GifLimits } from './gif-limits.js'

/** The logical screen of a GIF: its declared size, read from its first 10 bytes. */
export interface GifHeader {
  width: number
  height: number
}

const SIGNATURES = ['GIF87a', 'GIF89a']
const HEADER_BYTES = 13 // signature 6 + logical screen descriptor 7

/**
 * Reads the signature and the logical screen descriptor by hand, before any decoder sees
 * the bytes: a GIF that declares more than `maxSidePx` a side, or a file over `maxBytes`,
 * is refused here with `too-large` without allocating anything for it.
 */
export function readGifHeader(
  bytes: Uint8Array,
  limits: Pick<GifLimits, 'maxSidePx' | 'maxBytes'> = GIF_LIMITS,
): GifHeader {
  if (bytes.length < HEADER_BYTES) {
    throw new GifError('not-gif', `not a GIF: ${bytes.length} bytes, a GIF has at least 13`)
  }
  const signature = String.fromCharCode(...bytes.subarray(0, 6))
  if (!SIGNATURES.includes(signature)) {
    throw new GifError('not-gif', 'not a GIF (it does not start with GIF87a or GIF89a)')
  }
  if (bytes.length > limits.maxBytes) {
    throw new GifError(
      'too-large',
      `the GIF is ${mib(bytes.length)}; at most ${mib(limits.maxBytes)} is shown`,
    )
  }
  const width = bytes[6]! | (bytes[7]! << 8)
  const height = bytes[8]! | (bytes[9]! << 8)
  if (width === 0 || height === 0) {
    throw new GifError('malformed', `the GIF declares a size of ${width}×${height} pixels`)
  }
  if (width > limits.maxSidePx || height > limits.maxSidePx) {
    throw new GifError(
      'too-large',
      `the GIF is ${width}×${height} pixels; at most ${limits.maxSidePx}×${limits.maxSidePx} is shown`,
    )
  }
  return { width, height }
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
}

/** What walking a GIF's blocks tells without decoding a pixel. */
export interface GifLayout extends GifHeader {
  /** Each image's rectangle, in order. */
  frames: Array<{ x: number; y: number; width: number; height: number }>
}

/**
 * Walks the blocks of a GIF (extensions, image descriptors, their data sub-blocks) after
 * `readGifHeader`, and refuses before decoding: more than `maxFrames` images
 * (`too-many-frames`), an image reaching past `maxSidePx` (`too-large`), a block that runs
 * past the end or an unknown block (`malformed`). Linear in the bytes, no allocation per byte.
 */
export function scanGif(
  bytes: Uint8Array,
  limits: Pick<GifLimits, 'maxSidePx' | 'maxBytes' | 'maxFrames'> = GIF_LIMITS,
): GifLayout {
  const header = readGifHeader(bytes, limits)
  const frames: GifLayout['frames'] = []
  const u16 = (at: number) => byteAt(bytes, at) | (byteAt(bytes, at + 1) << 8)
  const colorTable = (flags: number) => (flags & 0x80 ? 3 << ((flags & 7) + 1) : 0)
  let p = HEADER_BYTES + colorTable(bytes[10]!)
  const subBlocks = () => {
    for (let size = byteAt(bytes, p++); size !== 0; size = byteAt(bytes, p++)) p += size
  }
  // A missing trailer is forgiven (browsers show such GIFs); a block cut short is not.
  while (p < bytes.length) {
    const block = bytes[p++]!
    if (block === 0x3b) break // trailer
    if (block === 0x21) {
      p++ // label
      subBlocks()
    } else if (block === 0x2c) {
      const frame = { x: u16(p), y: u16(p + 2), width: u16(p + 4), height: u16(p + 6) }
      const flags = byteAt(bytes, p + 8)
      p += 9 + colorTable(flags) + 1 // descriptor, local colour table, LZW code size
      subBlocks()
      if (frames.length === limits.maxFrames) {
        throw new GifError(
          'too-many-frames',
          `the GIF has more than ${limits.maxFrames} frames; at most ${limits.maxFrames} are shown`,
        )
      }
      const right = frame.x + frame.width
      const bottom = frame.y + frame.height
      if (right > limits.maxSidePx || bottom > limits.maxSidePx) {
        throw new GifError(
          'too-large',
          `a frame of the GIF reaches ${right}×${bottom} pixels; at most ${limits.maxSidePx}×${limits.maxSidePx} is shown`,
        )
      }
      frames.push(frame)
    } else {
      throw new GifError(
        'malformed',
        `the GIF is damaged (unknown block 0x${block.toString(16)} at byte ${p - 1})`,
      )
    }
  }
  if (frames.length === 0) throw new GifError('malformed', 'the GIF has no frames')
  return { ...header, frames }
}

/** A byte, or a `malformed` error when `at` is past the end (a block ran over). */
function byteAt(bytes: Uint8Array, at: number): number {
  if (at >= bytes.length) {
    throw new GifError('malformed', 'the GIF is damaged (it ends in the middle of a block)')
  }
  return bytes[at]!
}
