/**
 * Scales an RGBA picture to `dw`×`dh` by averaging the source pixels under each target pixel
 * (weighted by alpha, so transparent pixels add no colour); upscaling repeats pixels.
 */
export function scaleRgba(
  src: Uint8Array,
  sw: number,
  sh: number,
  dw: number,
  dh: number,
): Uint8Array {
  if (sw === dw && sh === dh) return src.slice()
  const out = new Uint8Array(dw * dh * 4)
  const xs = bounds(sw, dw)
  const ys = bounds(sh, dh)
  for (let dy = 0; dy < dh; dy++) {
    const y0 = ys[dy]!
    const y1 = ys[dh + dy]!
    for (let dx = 0; dx < dw; dx++) {
      const x0 = xs[dx]!
      const x1 = xs[dw + dx]!
      let r = 0
      let g = 0
      let b = 0
      let a = 0
      for (let y = y0; y < y1; y++) {
        let i = (y * sw + x0) * 4
        for (let x = x0; x < x1; x++, i += 4) {
          const alpha = src[i + 3]!
          r += src[i]! * alpha
          g += src[i + 1]! * alpha
          b += src[i + 2]! * alpha
          a += alpha
        }
      }
      const o = (dy * dw + dx) * 4
      if (a > 0) {
        out[o] = Math.round(r / a)
        out[o + 1] = Math.round(g / a)
        out[o + 2] = Math.round(b / a)
        out[o + 3] = Math.round(a / ((y1 - y0) * (x1 - x0)))
      }
    }
  }
  return out
}

/** For each of `d` target pixels, its source span: starts in [0, d), ends in [d, 2d). */
function bounds(s: number, d: number): Int32Array {
  const spans = new Int32Array(2 * d)
  for (let i = 0; i < d; i++) {
    const start = Math.min(s - 1, Math.floor((i * s) / d))
    spans[i] = start
    spans[d + i] = Math.max(start + 1, Math.min(s, Math.floor(((i + 1) * s) / d)))
  }
  return spans
}

/** The largest size within `max`×`max` with the aspect ratio of `w`×`h` (never upscaled). */
export function fitWithin(w: number, h: number, max: number): { width: number; height: number } {
  if (w <= max && h <= max) return { width: w, height: h }
  const scale = max / Math.max(w, h)
  return {
    width: Math.max(1, Math.round(w * scale)),
    height: Math.max(1, Math.round(h * scale)),
  }
}
