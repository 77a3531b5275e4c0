// The input box's text layout: a draft (grapheme clusters) in rows of at most `columns`
// columns, broken after a space where possible, with each row's cluster range so that the
// cursor can be placed. Pure: no Ink, no React.
import { width } from './wrap.js'

/** One row of the draft: clusters `start` (inclusive) to `end` (exclusive). */
export interface InputRow {
  start: number
  end: number
}

/**
 * The rows of `clusters` at most `columns` wide. A `\n` cluster ends its row (it is not in
 * any row's range); a row ends after its last space when the next word does not fit, else
 * mid-word.
 */
export function layoutInput(clusters: string[], columns: number): InputRow[] {
  const max = Math.max(1, columns)
  const rows: InputRow[] = []
  let start = 0
  let used = 0
  let lastSpace = -1
  clusters.forEach((g, i) => {
    if (g === '\n') {
      rows.push({ start, end: i })
      start = i + 1
      used = 0
      lastSpace = -1
      return
    }
    const w = width(g)
    if (used + w > max && i > start) {
      if (lastSpace >= start && lastSpace + 1 < i) {
        rows.push({ start, end: lastSpace + 1 })
        start = lastSpace + 1
        used = width(clusters.slice(start, i).join(''))
      } else {
        rows.push({ start, end: i })
        start = i
        used = 0
      }
      lastSpace = -1
      if (used + w > max && i > start) {
        rows.push({ start, end: i })
        start = i
        used = 0
      }
    }
    if (g === ' ') lastSpace = i
    used += w
  })
  rows.push({ start, end: clusters.length })
  return rows
}

/** The row the cursor (a cluster index, 0 to length) is drawn on. */
export function cursorRow(rows: InputRow[], cursor: number): number {
  for (let r = 0; r < rows.length; r++) {
    const { start, end } = rows[r]!
    if (cursor < start) continue
    // At a soft break the cursor goes to the start of the next row.
    if (cursor < end || (cursor === end && rows[r + 1]?.start !== cursor)) return r
  }
  return rows.length - 1
}

/** UTF-8 bytes of `text`: what the SDK's message limit counts. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8')
}
