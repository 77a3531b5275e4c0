import stringWidth from 'string-width'

/** Left-aligned columns, two spaces apart, by display width (CJK and emoji take two). */
export function columns(rows: string[][], decorate: (text: string, row: number) => string): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => stringWidth(r[c]!))))
  const pad = (cell: string, to: number) => cell + ' '.repeat(Math.max(0, to - stringWidth(cell)))
  return rows
    .map((r, i) =>
      decorate(
        r
          .map((cell, c) => (c === r.length - 1 ? cell : pad(cell, widths[c]!)))
          .join('  ')
          .trimEnd(),
        i,
      ),
    )
    .join('\n')
    .concat('\n')
}
