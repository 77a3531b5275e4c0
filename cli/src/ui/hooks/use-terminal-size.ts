import { useStdout } from 'ink'
import { useEffect, useState } from 'react'

/** The fallback size when the output is not a terminal: the classic 80x24. */
const DEFAULT_COLUMNS = 80
const DEFAULT_ROWS = 24

/** The terminal's size, following resizes; `fixed` overrides it (tests, fixed layouts). */
export function useTerminalSize(fixed?: { columns?: number; rows?: number }): {
  columns: number
  rows: number
} {
  const { stdout } = useStdout()
  const read = () => ({
    columns: fixed?.columns ?? (stdout.columns || DEFAULT_COLUMNS),
    rows: fixed?.rows ?? (stdout.rows || DEFAULT_ROWS),
  })
  const [size, setSize] = useState(read)
  useEffect(() => {
    const onResize = () => setSize(read())
    stdout.on('resize', onResize)
    return () => {
      stdout.off('resize', onResize)
    }
  }, [stdout, fixed?.columns, fixed?.rows])
  return size
}
