import { useCallback, useEffect, useState } from 'react'
import type { PassageError, PassageClient } from '@passage/sdk'

/** How long a notice stays in the status bar. */
const NOTICE_MS = 8_000 // 8 s: long enough to read a sentence

/**
 * One line of news for the status bar: background failures of the client (`error` events),
 * refused messages (`refused` events) and errors of the screen's own calls (`report`).
 */
export function useNotice(client: PassageClient): {
  notice: string | undefined
  report: (error: unknown) => void
} {
  const [notice, setNotice] = useState<string | undefined>()
  const report = useCallback((error: unknown) => {
    setNotice(error instanceof Error ? error.message : String(error))
  }, [])
  useEffect(() => {
    const offs = [
      client.on('error', (error: PassageError) => setNotice(error.message)),
      client.on('refused', (event) =>
        setNotice(
          `refused a message${event.claimedSender ? ` claiming to be ${event.claimedSender}` : ''}: ${event.reason}`,
        ),
      ),
    ]
    return () => offs.forEach((off) => off())
  }, [client])
  useEffect(() => {
    if (notice === undefined) return
    const timer = setTimeout(() => setNotice(undefined), NOTICE_MS)
    timer.unref?.()
    return () => clearTimeout(timer)
  }, [notice])
  return { notice, report }
}
