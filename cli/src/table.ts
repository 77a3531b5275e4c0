// Only `table` here: string-width (which builds its emoji pattern when loaded, about 30 ms)
// is for `columns` alone, so `passage id` does not load it.
/** Two columns, labels padded: the readable form of a record for a terminal. */
export function table(
  rows: readonly (readonly [string, string])[],
  options: { indent?: string; label?: (text: string) => string } = {},
): string {
  const width = Math.max(0, ...rows.map(([label]) => label.length))
  const decorate = options.label ?? ((text: string) => text)
  return rows
    .map(([label, value]) => `${options.indent ?? ''}${decorate(label.padEnd(width))}  ${value}\n`)
    .join('')
}
