// GIFs made in the tests with omggif's encoder: small, exact, with the disposal methods and
// transparency the decoder must composite.
import omggif from 'omggif'

export interface FrameSpec {
  x?: number
  y?: number
  width: number
  height: number
  /** Palette indexes, row by row; a function of (x, y) or one index for all. */
  pixels: number | ((x: number, y: number) => number)
  delayCs?: number
  disposal?: number
  transparent?: number
}

/** Red, green, blue, white, black, then greys: index → 0xRRGGBB. */
export const PALETTE = [
  0xff0000, 0x00ff00, 0x0000ff, 0xffffff, 0x000000, 0x808080, 0x404040, 0xc0c0c0,
]

/** A GIF of `width`×`height` with the given frames on the 8-colour `PALETTE`. */
export function makeGif(width: number, height: number, frames: FrameSpec[]): Uint8Array {
  const out = new Uint8Array(1024 + width * height * 2 * Math.max(1, frames.length))
  const writer = new omggif.GifWriter(out, width, height, { palette: PALETTE, loop: 0 })
  for (const f of frames) {
    const indexes: number[] = []
    for (let y = 0; y < f.height; y++)
      for (let x = 0; x < f.width; x++)
        indexes.push(typeof f.pixels === 'number' ? f.pixels : f.pixels(x, y))
    writer.addFrame(f.x ?? 0, f.y ?? 0, f.width, f.height, indexes, {
      delay: f.delayCs ?? 10,
      ...(f.disposal !== undefined && { disposal: f.disposal }),
      ...(f.transparent !== undefined && { transparent: f.transparent }),
    })
  }
  return out.slice(0, writer.end())
}

/** An animation of `n` frames of `side`×`side`, each a different pattern. */
export function animation(side: number, n: number, delayCs = 10): Uint8Array {
  return makeGif(
    side,
    side,
    Array.from({ length: n }, (_, i) => ({
      width: side,
      height: side,
      pixels: (x: number, y: number) => (x + y + i) % PALETTE.length,
      delayCs,
    })),
  )
}

/** The RGBA of pixel (x, y) in a picture `width` wide. */
export function pixel(rgba: Uint8Array, width: number, x: number, y: number): number[] {
  const at = (y * width + x) * 4
  return Array.from(rgba.subarray(at, at + 4))
}
