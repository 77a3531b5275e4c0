// Text fitting for the chat screen. Widths count code points: the screen's own marks are
// all one column wide; wide characters (CJK, emoji) may overshoot, and the boxes clip them.

/** The width of `text` in columns (code points). */
export function width(text: string): number {
  return [...text].length
}

/** `text` cut to `columns`, ending in `…` (or `~` in ASCII) when cut. */
export function truncate(text: string, columns: number, ellipsis = '…'): string {
  const chars = [...text.replace(/[\r\n\t]+/g, ' ')]
  if (chars.length <= columns) return chars.join('')
  if (columns <= 0) return ''
  return chars.slice(0, columns - 1).join('') + ellipsis
}

/**
 * Splits `text` into lines of at most `first` columns for the first line and `rest` for the
 * others, at spaces where possible (a word longer than a line is cut). Newlines in the text
 * start new lines.
 */
export function wrap(text: string, first: number, rest: number = first): string[] {
  const lines: string[] = []
  const limit = () => Math.max(1, lines.length === 0 ? first : rest)
  for (const paragraph of text.replace(/\t/g, ' ').split(/\r?\n/)) {
    let remaining = [...paragraph]
    while (remaining.length > limit()) {
      const max = limit()
      // Break at the last space that leaves at most `max` characters (that space is dropped);
      // a word longer than the line is cut.
      let cut = -1
      for (let i = max; i > 0; i--) {
        if (remaining[i] === ' ') {
          cut = i
          break
        }
      }
      if (cut > 0) {
        lines.push(remaining.slice(0, cut).join('').trimEnd())
        remaining = remaining.slice(cut + 1)
      } else {
        lines.push(remaining.slice(0, max).join(''))
        remaining = remaining.slice(max)
      }
    }
    lines.push(remaining.join('').trimEnd())
  }
  return lines
}
