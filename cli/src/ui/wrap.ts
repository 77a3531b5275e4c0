// Text fitting for the chat screen. Widths are terminal columns as Ink measures them
// (`string-width`: CJK and emoji take two, combining marks and joiners none), and text is
// cut only between grapheme clusters, so a joined emoji or an accented letter stays whole.
import stringWidth from 'string-width'

const graphemeSegmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' })

/** The grapheme clusters of `text` (what a person sees as one character). */
export function graphemes(text: string): string[] {
  return Array.from(graphemeSegmenter.segment(text), (s) => s.segment)
}

/** The width of `text` in terminal columns. */
export function width(text: string): number {
  return stringWidth(text)
}

/** `text` cut to at most `columns` columns, ending in `…` (or `~` in ASCII) when cut. */
export function truncate(text: string, columns: number, ellipsis = '…'): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ')
  if (stringWidth(flat) <= columns) return flat
  if (columns <= 0) return ''
  const room = columns - stringWidth(ellipsis)
  let out = ''
  let used = 0
  for (const g of graphemes(flat)) {
    const w = stringWidth(g)
    if (used + w > room) break
    out += g
    used += w
  }
  return out + ellipsis
}

/**
 * Splits `text` into lines of at most `first` columns for the first line and `rest` for the
 * others, at spaces where possible (the space broken at is dropped; a word longer than a line
 * is cut between grapheme clusters). Newlines (`\n`, `\r\n` or a lone `\r`) start new lines.
 * A single cluster wider than the line (a wide character on a 1-column line) gets a line of
 * its own rather than being lost.
 */
export function wrap(text: string, first: number, rest: number = first): string[] {
  const lines: string[] = []
  const limit = () => Math.max(1, lines.length === 0 ? first : rest)
  for (const paragraph of text.replace(/\t/g, ' ').split(/\r\n|\r|\n/)) {
    let row: string[] = []
    let used = 0
    for (const g of graphemes(paragraph)) {
      const w = stringWidth(g)
      if (used + w > limit() && row.length > 0) {
        if (g === ' ') {
          // The break falls on a space: it is the one dropped.
          lines.push(row.join('').trimEnd())
          row = []
          used = 0
          continue
        }
        const space = row.lastIndexOf(' ')
        if (space > 0) {
          lines.push(row.slice(0, space).join('').trimEnd())
          row = row.slice(space + 1)
          used = stringWidth(row.join(''))
        } else {
          lines.push(row.join(''))
          row = []
          used = 0
        }
        // What was carried over may still not fit a narrower next line.
        while (used + w > limit() && row.length > 0) {
          const [head, tail] = cut(row, limit())
          lines.push(head.join(''))
          row = tail
          used = stringWidth(row.join(''))
        }
      }
      row.push(g)
      used += w
    }
    lines.push(row.join('').trimEnd())
  }
  return lines
}

/** The longest prefix of `row` within `columns` (at least one cluster), and the rest. */
function cut(row: string[], columns: number): [string[], string[]] {
  let used = 0
  let at = 0
  while (at < row.length && used + stringWidth(row[at]!) <= columns) used += stringWidth(row[at++]!)
  at = Math.max(1, at)
  return [row.slice(0, at), row.slice(at)]
}
