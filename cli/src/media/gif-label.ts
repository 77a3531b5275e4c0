/** What a GIF's placeholder says about it. */
export interface GifFacts {
  width?: number | undefined
  height?: number | undefined
  frames?: number | undefined
  durationMs?: number | undefined
}

/**
 * `[GIF 320×240 · 12 frames · 1.2 s]`: the words shown instead of a picture (`NO_COLOR`,
 * `TERM=dumb`, while it downloads, when it cannot be decoded). ASCII when asked.
 */
export function gifLabel(facts: GifFacts, ascii = false, kind = 'GIF'): string {
  const parts = [kind]
  if (facts.width !== undefined && facts.height !== undefined) {
    parts[0] += ` ${facts.width}${ascii ? 'x' : '×'}${facts.height}`
  }
  if (facts.frames !== undefined && facts.frames > 1) parts.push(`${facts.frames} frames`)
  if (facts.durationMs !== undefined && facts.frames !== undefined && facts.frames > 1) {
    parts.push(`${(facts.durationMs / 1000).toFixed(1)} s`)
  }
  return `[${parts.join(ascii ? ', ' : ' · ')}]`
}
