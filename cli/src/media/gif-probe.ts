import omggif from 'omggif'
import { decodeGifIsolated, type GifDecoder } from './decode-isolated.js'
import type { DecodedGif } from './gif-decode.js'
import { fitWithin, scaleRgba } from './scale-rgba.js'

/** The preview's longest side: a still the recipient shows before (or without) the file. */
export const PREVIEW_SIDE_PX = 32 // 32×32 pixels is 16 rows of half blocks; ~1.5 KB as a GIF

/** What is sent along with a GIF: its size, frames, length and a small still. */
export interface GifProbe {
  width: number
  height: number
  frames: number
  durationMs: number
  /** The first frame, at most 32 pixels a side, as a one-frame GIF (any GIF reader shows it). */
  preview: Uint8Array
}

/**
 * Decodes a GIF (bounded, in a worker: `decoder`'s, else one of its own) and reads what
 * `sendAttachment` carries about it.
 */
export async function probeGif(bytes: Uint8Array, decoder?: GifDecoder): Promise<GifProbe> {
  return probeDecoded(await (decoder ? decoder.decode(bytes) : decodeGifIsolated(bytes)))
}

export function probeDecoded(gif: DecodedGif): GifProbe {
  return {
    width: gif.width,
    height: gif.height,
    frames: gif.frames.length,
    durationMs: gif.durationMs,
    preview: encodePreview(gif.frames[0]!.rgba, gif.frameWidth, gif.frameHeight),
  }
}

const TRANSPARENT = 216 // the index after the 6×6×6 colour cube
const LEVELS = [0, 51, 102, 153, 204, 255]

/** An RGBA picture as a one-frame GIF of at most 32 pixels a side, on a 216-colour cube. */
export function encodePreview(rgba: Uint8Array, width: number, height: number): Uint8Array {
  const size = fitWithin(width, height, PREVIEW_SIDE_PX)
  const px = scaleRgba(rgba, width, height, size.width, size.height)
  const palette: number[] = []
  for (const r of LEVELS)
    for (const g of LEVELS) for (const b of LEVELS) palette.push((r << 16) | (g << 8) | b)
  while (palette.length < 256) palette.push(0)
  const indexes: number[] = []
  const level = (v: number) => Math.round(v / 51)
  for (let i = 0; i < size.width * size.height; i++) {
    const at = i * 4
    indexes.push(
      px[at + 3]! < 128
        ? TRANSPARENT
        : 36 * level(px[at]!) + 6 * level(px[at + 1]!) + level(px[at + 2]!),
    )
  }
  const out = new Uint8Array(2048 + size.width * size.height * 2)
  const writer = new omggif.GifWriter(out, size.width, size.height, { palette })
  writer.addFrame(0, 0, size.width, size.height, indexes, { transparent: TRANSPARENT })
  return out.slice(0, writer.end())
}
