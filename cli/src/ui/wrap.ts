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
    let line: string[] = []
    let lastSpace = -1
    for (const char of paragraph) {
      if (line.length >= limit()) {
        if (char === ' ') {
          lines.push(line.join(''))
          line = []
          lastSpace = -1
          continue
        }
        if (lastSpace > 0) {
          lines.push(line.slice(0, lastSpace).join(''))
          line = line.slice(lastSpace + 1)
        } else {
          lines.push(line.join(''))
          line = []
        }
        lastSpace = -1
        for (let i = line.length - 1; i >= 0; i--) {
          if (line[i] === ' ') {
            lastSpace = i
            break
          }
        }
      }
      if (char === ' ') lastSpace = line.length
      line.push(char)
    }
    lines.push(line.join('').trimEnd())
  }
  return lines
}
