import { GifError } from './gif-error.js'

const MAX_CODES = 4096 // GIF codes are at most 12 bits

/**
 * Decodes one GIF image's LZW data (its code size byte, then its sub-blocks, from `at`) into
 * `pixels` palette indexes. Bounded by construction: every step reads at least one code or
 * writes at least one pixel, no table walk is longer than 4096, nothing is allocated per code.
 * A code that is not yet in the table is a `malformed` error (omggif's decoder loops forever
 * on some of those: found by the fuzz test); data that ends early leaves the rest at 0, as
 * browsers show a GIF cut short.
 */
export function decodeLzw(bytes: Uint8Array, at: number, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels)
  const minSize = bytes[at] ?? 0
  if (minSize < 1 || minSize > 8) {
    throw new GifError('malformed', `the GIF is damaged (LZW code size ${minSize})`)
  }
  const clear = 1 << minSize
  const end = clear + 1
  const prefix = new Uint16Array(MAX_CODES)
  const suffix = new Uint8Array(MAX_CODES)
  const first = new Uint8Array(MAX_CODES)
  const length = new Uint16Array(MAX_CODES)
  for (let c = 0; c < clear; c++) {
    suffix[c] = c
    first[c] = c
    length[c] = 1
  }
  let next = end + 1
  let size = minSize + 1
  let previous = -1
  let op = 0

  // The sub-blocks as one bit stream, least significant bit first.
  let p = at + 1
  let left = 0 // bytes left in the current sub-block
  let bits = 0
  let held = 0
  const more = (): boolean => {
    if (left === 0) {
      left = p < bytes.length ? bytes[p++]! : 0
      if (left === 0) return false
    }
    if (p >= bytes.length) return false
    bits |= bytes[p++]! << held
    held += 8
    left--
    return true
  }

  while (op < pixels) {
    while (held < size) if (!more()) return out
    const code = bits & ((1 << size) - 1)
    bits >>>= size
    held -= size
    if (code === clear) {
      next = end + 1
      size = minSize + 1
      previous = -1
      continue
    }
    if (code === end) break
    let k: number
    if (previous === -1) {
      if (code >= clear) throw badCode(code)
      out[op++] = code
      previous = code
      continue
    }
    if (code < next && code !== clear && code !== end) {
      k = first[code]!
      op = emit(code, op)
    } else if (code === next) {
      k = first[previous]!
      op = emit(previous, op)
      if (op < pixels) out[op++] = k
    } else {
      throw badCode(code)
    }
    if (next < MAX_CODES) {
      prefix[next] = previous
      suffix[next] = k
      first[next] = first[previous]!
      length[next] = length[previous]! + 1
      next++
      if (next === 1 << size && size < 12) size++
    }
    previous = code
  }
  return out

  /** Writes the string of `code` at `op` (what fits), returns the position after it. */
  function emit(code: number, op: number): number {
    const n = length[code]!
    let c = code
    for (let i = n - 1; i >= 0; i--) {
      if (op + i < pixels) out[op + i] = suffix[c]!
      c = prefix[c]!
    }
    return Math.min(pixels, op + n)
  }

  function badCode(code: number): GifError {
    return new GifError('malformed', `the GIF is damaged (LZW code ${code} before it is defined)`)
  }
}
